package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/termout"
)

func init() {
	register(20, func(g *Globals) *cobra.Command { return newPlanCmd(g) })
	register(21, func(g *Globals) *cobra.Command { return newApplyCmd(g, deploy.OpDeploy) })
	register(22, func(g *Globals) *cobra.Command { return newApplyCmd(g, deploy.OpReplace) })
	register(23, func(g *Globals) *cobra.Command { return newApplyCmd(g, deploy.OpDestroy) })
}

// tfFlags are the flags every Terraform command shares.
type tfFlags struct {
	env          string
	terraformDir string
	terraformBin string
	pluginDir    string
	grace        time.Duration
	// allowPlaceholders: offline tests with the test provider only (hidden flag).
	allowPlaceholders bool
}

func (f *tfFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.env, "env", "", "environment name (env.NAME.yaml in --env-dir); also the Terraform workspace (required)")
	fl.StringVar(&f.terraformDir, "terraform-dir", "terraform", "the root Terraform stack")
	fl.StringVar(&f.terraformBin, "terraform-bin", "", "terraform executable (default $CSO_TERRAFORM, then PATH)")
	fl.StringVar(&f.pluginDir, "plugin-dir", os.Getenv("CSO_TF_PLUGIN_DIR"), "install providers only from this directory, offline ($CSO_TF_PLUGIN_DIR)")
	fl.DurationVar(&f.grace, "interrupt-grace", 10*time.Minute, "after Ctrl-C, how long Terraform may take to finish in-flight operations and save its state")
	fl.BoolVar(&f.allowPlaceholders, "allow-placeholders", false, "accept an env file that still holds documentation examples (account 111122223333, example ARNs): for offline tests with the test provider only")
	_ = fl.MarkHidden("allow-placeholders")
	_ = cmd.MarkFlagRequired("env")
}

// setup loads the environment and prepares Terraform.
func (f *tfFlags) setup(g *Globals) (*envfile.Env, *deploy.Terraform, error) {
	path := envfile.PathFor(g.EnvDir, f.env)
	if _, err := os.Stat(path); err != nil {
		return nil, nil, Exit(ExitUsage, fmt.Errorf("environment %s: %w; check --env and --env-dir", f.env, err))
	}
	env, ps := loadProblems(path)
	if len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(g.Stderr, p.String())
		}
		return nil, nil, Exit(ExitUsage, fmt.Errorf("%s is invalid: fix it (cso env validate --env %s) before running Terraform", path, f.env))
	}
	// Before anything runs (no terraform init): example values would fail half-way through
	// an apply, or point at somebody else's account.
	if ps := env.Placeholders(); len(ps) > 0 && !f.allowPlaceholders {
		for _, p := range ps {
			fmt.Fprintln(g.Stderr, p.String())
		}
		return nil, nil, Exit(ExitUsage, fmt.Errorf("%s still holds %d example value(s): put the real ones before running Terraform", path, len(ps)))
	}
	// Before Terraform: without credentials it fails after init with the provider's raw
	// error. The offline test provider (--allow-placeholders) never looks at them.
	if !f.allowPlaceholders {
		if err := checkAWSCredentials(context.Background(), env.Name, env.Region); err != nil {
			return nil, nil, err
		}
	}
	bin, err := deploy.FindTerraform(f.terraformBin)
	if err != nil {
		return nil, nil, Exit(ExitUsage, err)
	}
	tf, err := deploy.NewTerraform(env, deploy.TerraformOptions{Bin: bin, Dir: f.terraformDir, PluginDir: f.pluginDir,
		Grace: f.grace, AllowPlaceholders: f.allowPlaceholders, Commands: verboseWriter(g)})
	if err != nil {
		return nil, nil, Exit(ExitUsage, err)
	}
	return env, tf, nil
}

// interruptible returns a context cancelled by Ctrl-C or SIGTERM. Cancelling it makes
// terraform-exec send Terraform SIGINT; Terraform then stops cleanly. Further signals are
// swallowed so that cso keeps waiting for Terraform instead of dying half-way.
func interruptible(g *Globals) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			fmt.Fprintln(g.Stderr, "\ninterrupt: asking Terraform to stop cleanly and save its state; please wait")
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case <-ch:
				fmt.Fprintln(g.Stderr, "still waiting for Terraform to finish its operations in flight and save its state")
			case <-done:
				return
			}
		}
	}()
	return ctx, func() { signal.Stop(ch); close(done); cancel() }
}

// isTerminal reports whether stream (stdin, stderr) is a terminal: progress then redraws
// one line, cut to the terminal's width (internal/termout).
func isTerminal(stream any) bool { return termout.IsTerminal(stream) }

func newPlanCmd(g *Globals) *cobra.Command {
	var (
		f   tfFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "plan --env NAME [--out FILE]",
		Short: "Show what Terraform would change in an environment",
		Long: `Initialise Terraform with the environment's state backend, select (or create) the
workspace named like the environment, and plan with -var env_file=<the env file>.
Prints the changes resource by resource: + create, ~ update, -/+ replace (with the
attributes that force it), - delete, and the attributes that change; sensitive values
are shown as (sensitive value). -o json gives the same as a list.

--out FILE keeps the plan (mode 0600: it holds every value, secrets included) for
cso deploy --plan FILE, which applies exactly that plan.

Exit codes (terraform plan -detailed-exitcode): 0 no changes, 3 changes to apply,
1 Terraform failed, 2 invalid env file or flags, or no AWS credentials, 4 interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, tf, err := f.setup(g)
			if err != nil {
				return err
			}
			if out != "" { // a path that cannot be written is a bad flag, found before Terraform runs
				if _, err := deploy.CreatePlanFile(out); err != nil {
					return Exit(ExitUsage, fmt.Errorf("--out: %w", err))
				}
			}
			ctx, stop := interruptible(g)
			defer stop()
			d := &deploy.Deployer{Env: env, TF: tf, Out: g.Stderr, TTY: isTerminal(g.Stderr)}
			planned, err := d.Plan(ctx, false, out)
			if err != nil {
				code := ExitFailure
				if ctx.Err() != nil {
					code, err = ExitAborted, errors.New("interrupted: Terraform stopped cleanly; nothing was changed")
				}
				if g.JSON() {
					_ = writeJSON(g.Stdout, map[string]any{"env": env.Name, "error": err.Error()})
				}
				return Exit(code, err)
			}
			if g.JSON() {
				doc := map[string]any{"env": env.Name, "changes": !planned.Summary.Empty(), "plan": planned.Summary}
				if out != "" {
					doc["plan_file"] = planned.File
				}
				if err := writeJSON(g.Stdout, doc); err != nil {
					return err
				}
			} else {
				deploy.WriteChanges(g.Stdout, planned.Summary)
				if out != "" {
					fmt.Fprintf(g.Stdout, "Saved the plan to %s: apply exactly this plan with cso deploy --env %s --plan %s\n", planned.File, env.Name, out)
				}
			}
			if !planned.Summary.Empty() {
				return Exit(ExitChanges, nil)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "keep the plan in FILE (mode 0600) for cso deploy --plan FILE")
	return cmd
}

// applyFlags are the flags of deploy, replace and destroy.
type applyFlags struct {
	tfFlags
	autoApprove  bool
	bucketDir    string
	agentBinary  string
	phaseTimeout time.Duration
	pollInterval time.Duration
	planFile     string
}

// applyHelp is the help of each operation that applies a change.
var applyHelp = map[string]struct{ use, short, long string }{
	deploy.OpDeploy: {"deploy --env NAME", "Create or update an environment and wait until every host is set up and healthy", `Deploy an environment in the five phases of LLD 8.2:

  1. infrastructure            terraform plan, confirmation (unless --auto-approve), apply
  2. jump server setup         wait for jump-server-1's agent to finish its setup
  3. service dependencies      wait for the Keystone and RabbitMQ hosts
  4. application installation  wait for the frontend and backend hosts
  5. health validation         wait for the check result the jump server publishes
                               (cso check's probes, run where they reach every host)

With --plan FILE (from cso plan --out FILE) phase 1 applies exactly that plan instead of
planning again. It is refused (exit 2, nothing changed) when it was made for another
environment, before the env file last changed, or before the state changed (Terraform
itself refuses a stale plan).

Between 1 and 2 it publishes what the hosts need to s3://<env>-cso-files-<account_id>: bin/cso (the
agent their user data fetches; --agent-binary, default this executable), and in scripts/
the env file and target.json, the environment described from the Terraform outputs (the
jump server syncs scripts/ to /opt/scripts). Unchanged objects are not uploaded again.

Phases 2 to 5 read the status document each host's agent publishes: on AWS
s3://<env>-cso-files-<account_id>/status/<host>.json, or <dir>/status/ with --bucket-dir.
A host that reports a failed step stops the deploy with the host and the step named.
Each phase is bounded (--phase-timeout overrides the defaults of 25m, 45m, 90m, 15m).
Ctrl-C stops Terraform cleanly (its state is saved and unlocked); run the same command
again to resume.

Exit codes: 0 deployed, 1 a phase failed, 2 invalid env file or flags, a refused
--plan, or no AWS credentials, 4 not confirmed or interrupted.`},
	deploy.OpReplace: {"replace HOST --env NAME", "Rebuild one host (the LLD's taint-and-apply rollback, with -replace)", `Replace one host's EC2 instance: terraform apply -replace=<its aws_instance address>
(found in the state), then wait for the new host's setup and health as deploy does.

Exit codes: 0 replaced, 1 failed, 2 invalid input, 4 not confirmed or interrupted.`},
	deploy.OpDestroy: {"destroy --env NAME", "Destroy every resource of an environment (asks for the environment name)", `Plan the destruction of the environment, show it, and ask the operator to type the
environment's name (unless --auto-approve), then apply it with a progress view.

Exit codes: 0 destroyed, 1 failed, 2 invalid input, 4 not confirmed or interrupted.`},
}

func newApplyCmd(g *Globals, op string) *cobra.Command {
	var f applyFlags
	help := applyHelp[op]
	cmd := &cobra.Command{Use: help.use, Short: help.short, Long: help.long, Args: cobra.NoArgs}
	if op == deploy.OpReplace {
		cmd.Args = cobra.ExactArgs(1)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		env, tf, err := f.setup(g)
		if err != nil {
			return err
		}
		host, err := f.validate(env, op, args)
		if err != nil {
			return err
		}
		ctx, stop := interruptible(g)
		defer stop()
		d := &deploy.Deployer{
			Env: env, TF: tf, Hosts: inventory.Hosts(env), Out: g.Stderr, TTY: isTerminal(g.Stderr),
			PhaseTimeout: f.phaseTimeout, PollInterval: f.pollInterval,
			Command: rerunCommand(op, env.Name, host), PlanFile: f.planFile,
		}
		if !f.autoApprove {
			d.Confirm = confirmer(g, env.Name)
		}
		if op != deploy.OpDestroy {
			if err := f.publishTo(ctx, d); err != nil {
				return err
			}
		}
		report, runErr := d.Run(ctx, op, host)
		if g.JSON() {
			if err := writeJSON(g.Stdout, report); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(g.Stdout)
			deploy.WriteReport(g.Stdout, report)
		}
		return applyExit(runErr)
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.autoApprove, "auto-approve", false, "apply without asking (automation)")
	if op != deploy.OpDestroy {
		fl.StringVar(&f.bucketDir, "bucket-dir", "", "a directory standing in for the environment's S3 bucket: publish to it and read host status from its status/ (tests, rehearsals)")
		fl.StringVar(&f.agentBinary, "agent-binary", "", "the Linux x86-64 cso binary the hosts run, published as bin/cso (default: this executable)")
		fl.DurationVar(&f.phaseTimeout, "phase-timeout", 0, "bound of each waiting phase (default per phase: 25m, 45m, 90m, 15m)")
		fl.DurationVar(&f.pollInterval, "poll-interval", 5*time.Second, "how often the host status documents are read")
	}
	if op == deploy.OpDeploy {
		fl.StringVar(&f.planFile, "plan", "", "apply exactly this saved plan (cso plan --out FILE) instead of planning again")
	}
	return cmd
}

// validate refuses, before Terraform changes anything, a saved plan that is not a file, an
// application package that could not be published after the apply, and a host to
// replace that the environment does not have. It returns the host to replace.
func (f *applyFlags) validate(env *envfile.Env, op string, args []string) (string, error) {
	if f.planFile != "" {
		if fi, err := os.Stat(f.planFile); err != nil || !fi.Mode().IsRegular() {
			return "", Exit(ExitUsage, fmt.Errorf("--plan %s: not a plan file (make one with cso plan --env %s --out FILE)", f.planFile, env.Name))
		}
	}
	if op != deploy.OpDestroy {
		if _, err := deploy.LocalPackage(env); err != nil {
			return "", Exit(ExitUsage, err)
		}
	}
	if op != deploy.OpReplace {
		return "", nil
	}
	host := args[0]
	if _, ok := inventory.Find(inventory.Hosts(env), host); !ok {
		var names []string
		for _, h := range inventory.Hosts(env) {
			names = append(names, h.Name)
		}
		return "", Exit(ExitUsage, fmt.Errorf("%s is not a host of %s; its hosts are %s", host, env.Name, strings.Join(names, ", ")))
	}
	return host, nil
}

// publishTo gives d the agent binary to publish, where to publish the hosts' files and
// where to read their status: the environment's S3 bucket, or --bucket-dir.
func (f *applyFlags) publishTo(ctx context.Context, d *deploy.Deployer) error {
	if f.agentBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return Exit(ExitUsage, fmt.Errorf("find this cso binary to publish (pass --agent-binary): %w", err))
		}
		f.agentBinary = exe
	}
	d.AgentBinary = f.agentBinary
	if f.bucketDir != "" {
		d.Store = status.Dir{Path: filepath.Join(f.bucketDir, strings.TrimSuffix(status.S3Prefix, "/"))}
		d.Objects = deploy.DirStore{Dir: f.bucketDir}
		return nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(d.Env.Region))
	if err != nil {
		return Exit(ExitUsage, fmt.Errorf("AWS configuration: %w", err))
	}
	client, bucket := s3.NewFromConfig(cfg), d.Env.FilesBucket()
	d.Store = &status.S3{Client: client, Bucket: bucket}
	d.Objects = deploy.S3Store{Client: client, Bucket: bucket}
	return nil
}

// applyExit maps the result of an apply to the documented exit codes.
func applyExit(runErr error) error {
	var (
		ie *deploy.InterruptedError
		pe *deploy.PlanFileError
	)
	switch {
	case runErr == nil:
		return nil
	case errors.As(runErr, &pe):
		return Exit(ExitUsage, runErr)
	case errors.Is(runErr, deploy.ErrDeclined), errors.As(runErr, &ie):
		return Exit(ExitAborted, runErr)
	default:
		return Exit(ExitFailure, runErr)
	}
}

func rerunCommand(op, env, host string) string {
	if op == deploy.OpReplace {
		return fmt.Sprintf("cso replace %s --env %s", host, env)
	}
	return fmt.Sprintf("cso %s --env %s", op, env)
}

// confirmer asks on the terminal: y/N for changes, the environment name for a destroy.
func confirmer(g *Globals, env string) deploy.Confirm {
	in := bufio.NewReader(g.Stdin)
	echo := !isTerminal(g.Stdin) // a terminal echoes the answer and its newline itself
	return func(op string, s deploy.Summary) (ok bool, err error) {
		if echo {
			defer fmt.Fprintln(g.Stderr)
		}
		if op == deploy.OpDestroy {
			fmt.Fprintf(g.Stderr, "\nThis destroys every resource of %s (%d resources). Type the environment name to confirm: ", env, s.Destroy)
			line, err := in.ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return false, err
			}
			return strings.TrimSpace(line) == env, nil
		}
		fmt.Fprintf(g.Stderr, "\nApply these changes to %s? [y/N] ", env)
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}

// verboseWriter is where -v's extra detail goes (stderr), nil without -v.
func verboseWriter(g *Globals) io.Writer {
	if !g.Verbose {
		return nil
	}
	return g.Stderr
}
