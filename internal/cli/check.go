package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/target"
)

// defaultLocalDir is where `make up` (cso local up --dir .local) keeps the local target.
const defaultLocalDir = ".local"

// localDirDefault is the local target's directory when no flag names one: $CSO_LOCAL_DIR,
// else .local. Every command that takes --local-dir (local *, check, admin serve) uses it.
func localDirDefault() string {
	if d := os.Getenv("CSO_LOCAL_DIR"); d != "" {
		return d
	}
	return defaultLocalDir
}

// targetFlags choose the environment a command looks at: a target description file, the
// local target's directory, or an environment name.
type targetFlags struct {
	file, localDir, env string
	// With terraform set (cso check), an AWS environment named by --env is described from
	// its Terraform outputs when no description file is found.
	terraform                  bool
	terraformDir, terraformBin string
	pluginDir                  string
}

// ec2TargetFile is the description on the jump server (a variable for tests).
var ec2TargetFile = target.EC2File

func (f *targetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.file, "target", "", "target description file (target.json) of the environment")
	fl.StringVar(&f.localDir, "local-dir", "", "directory of the local target (default $CSO_LOCAL_DIR, else "+defaultLocalDir+"); its target.json is read")
	fl.StringVar(&f.env, "env", "", "environment name: the local target's, the jump server's ("+target.EC2File+"), or else an AWS environment described from its Terraform outputs")
	if f.terraform {
		fl.StringVar(&f.terraformDir, "terraform-dir", "terraform", "with --env: the root Terraform stack whose outputs describe the environment")
		fl.StringVar(&f.terraformBin, "terraform-bin", "", "terraform executable (default $CSO_TERRAFORM, then PATH)")
		fl.StringVar(&f.pluginDir, "plugin-dir", os.Getenv("CSO_TF_PLUGIN_DIR"), "install providers only from this directory ($CSO_TF_PLUGIN_DIR)")
	}
}

// load finds the target description the flags name: --target, --local-dir, else the local
// target's ($CSO_LOCAL_DIR, else .local) or the jump server's description when it is --env's (or no --env was
// given), else, with --env, the Terraform outputs of that workspace.
func (f *targetFlags) load(ctx context.Context, g *Globals) (*target.Target, error) {
	if f.file != "" && f.localDir != "" {
		return nil, Exit(ExitUsage, errors.New("give --target or --local-dir, not both"))
	}
	explicit := f.file
	if f.localDir != "" {
		explicit = filepath.Join(f.localDir, target.FileName)
	}
	if explicit != "" {
		t, err := target.Load(explicit)
		if err != nil {
			return nil, Exit(ExitUsage, err)
		}
		if f.env != "" && t.Env != f.env {
			return nil, Exit(ExitUsage, fmt.Errorf("%s describes environment %q, not %q", explicit, t.Env, f.env))
		}
		return t, nil
	}
	var tried []string
	for _, path := range []string{filepath.Join(localDirDefault(), target.FileName), ec2TargetFile} {
		t, err := target.Load(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			tried = append(tried, path+" (none)")
			continue
		case err != nil:
			return nil, Exit(ExitUsage, err)
		case f.env == "" || t.Env == f.env:
			return t, nil
		}
		tried = append(tried, fmt.Sprintf("%s (environment %s)", path, t.Env))
	}
	if f.env == "" || !f.terraform {
		return nil, Exit(ExitUsage, fmt.Errorf("no target description found (tried %s): pass --target FILE, --local-dir DIR or --env NAME", strings.Join(tried, ", ")))
	}
	return f.fromTerraform(ctx, g)
}

// fromTerraform describes an AWS environment from its workspace's outputs.
func (f *targetFlags) fromTerraform(ctx context.Context, g *Globals) (*target.Target, error) {
	// Reading the outputs of an existing state changes nothing, and a file with placeholders
	// has no deployed estate to describe: placeholders are plan/deploy's concern.
	tf := tfFlags{env: f.env, terraformDir: f.terraformDir, terraformBin: f.terraformBin, pluginDir: f.pluginDir, grace: time.Minute,
		allowPlaceholders: true}
	_, terraform, err := tf.setup(g)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.Stderr, "describing %s from the Terraform outputs of workspace %s ...\n", f.env, f.env)
	t, err := terraform.Target(ctx)
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("environment %s: %w", f.env, err))
	}
	return t, nil
}

func init() {
	register(60, func(g *Globals) *cobra.Command {
		tf := targetFlags{terraform: true}
		var timeout time.Duration
		var printTarget bool
		var warnDays, failDays int
		var mysqlCA string
		var mysqlInsecure bool
		cmd := &cobra.Command{
			Use:   "check",
			Short: "Probe every service and cluster of an environment, in parallel",
			Long: `check probes a running environment: TCP, TLS and HTTP of every service and backend
port, certificates (warn under 30 days to expiry, fail under 7), the Keystone cluster (tokens issued on
each node and validated on every other, identical fernet key sets), the RabbitMQ cluster
(nodes running, partitions, alarms, quorum-critical nodes, size), each MySQL service
user, the shared store and each host's setup status.

Exit code 1 when any probe fails; warnings alone exit 0.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if timeout <= 0 {
					return Exit(ExitUsage, fmt.Errorf("--timeout %s: must be positive", timeout))
				}
				if warnDays <= 0 || failDays <= 0 || failDays > warnDays {
					return Exit(ExitUsage, fmt.Errorf("--warn-days %d, --fail-days %d: both positive, fail-days not above warn-days", warnDays, failDays))
				}
				if mysqlCA != "" {
					// Before any probe: a wrong path (a directory, a FIFO, not PEM) is the
					// operator's to fix, not a red database probe.
					if _, err := check.LoadCABundle(mysqlCA); err != nil {
						return Exit(ExitUsage, fmt.Errorf("--mysql-ca: %w", err))
					}
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
				defer stop()
				t, err := tf.load(ctx, g)
				if err != nil {
					return err
				}
				if mysqlCA != "" {
					t.MySQLCA = mysqlCA
				}
				if printTarget {
					data, err := t.Marshal()
					if err == nil {
						_, err = g.Stdout.Write(data)
					}
					return err
				}
				rep := check.New(t, check.Options{Timeout: timeout, WarnDays: warnDays, FailDays: failDays, MySQLInsecure: mysqlInsecure}).Run(ctx)
				if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return Exit(ExitAborted, errors.New("check interrupted"))
				}
				if g.JSON() {
					err = rep.WriteJSON(g.Stdout)
				} else {
					err = rep.WriteTable(g.Stdout)
				}
				if err != nil {
					return Exit(ExitFailure, err)
				}
				if rep.Failed() {
					return Exit(ExitFailure, fmt.Errorf("environment %s: %d of %d checks failed", t.Env, rep.Summary.Fail, len(rep.Results)))
				}
				return nil
			},
		}
		tf.add(cmd)
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "timeout of each probe (of each request, for a probe that chains several)")
		cmd.Flags().IntVar(&warnDays, "warn-days", 30, "warn when a certificate expires in fewer days")
		cmd.Flags().IntVar(&failDays, "fail-days", 7, "fail when a certificate expires in fewer days")
		cmd.Flags().BoolVar(&printTarget, "print-target", false, "print the target description (what would be probed) and probe nothing")
		cmd.Flags().StringVar(&mysqlCA, "mysql-ca", "", "PEM bundle that signs the database's certificate (the RDS bundle from truststore.pki.rds.amazonaws.com): the MySQL probes verify TLS against it")
		cmd.Flags().BoolVar(&mysqlInsecure, "mysql-insecure", false, "when no CA bundle is known (no --mysql-ca, no mysql_ca in the target), connect to the database over TLS without verifying its certificate; each such result says so and is a warning (without this flag it fails)")
		return cmd
	})
}
