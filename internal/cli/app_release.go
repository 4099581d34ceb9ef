package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
	"github.com/cso-ssp/platform/internal/release"
	"github.com/cso-ssp/platform/internal/status"
)

// releaseTarget is what a release acts on: the bucket (record and packages), the status
// documents, the hosts and how to act on them.
type releaseTarget struct {
	Store  release.Store
	Status status.Store
	Hosts  []inventory.Host
	Driver release.Driver
	// App is the application the environment file configures (its package's manifest name;
	// "" when unknown).
	App string
}

// localRelease opens the local target in dir for a release (app_release_linux.go); nil
// where the local target does not run (Windows, macOS).
var localRelease func(g *Globals, dir string, out io.Writer) (*releaseTarget, error)

type appFlags struct {
	env, localDir                         string
	terraformDir, terraformBin, pluginDir string
}

func (f *appFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.env, "env", "", "AWS environment (its bucket, status documents and Terraform outputs)")
	fl.StringVar(&f.localDir, "local-dir", "", "the local target in this directory instead (cso local up --app-ha)")
	fl.StringVar(&f.terraformDir, "terraform-dir", "terraform", "with --env: the root Terraform stack whose outputs name the hosts")
	fl.StringVar(&f.terraformBin, "terraform-bin", "", "terraform executable (default $CSO_TERRAFORM, then PATH)")
	fl.StringVar(&f.pluginDir, "plugin-dir", os.Getenv("CSO_TF_PLUGIN_DIR"), "install providers only from this directory ($CSO_TF_PLUGIN_DIR)")
}

// open resolves --env or --local-dir (exactly one).
func (f *appFlags) open(ctx context.Context, g *Globals, out io.Writer) (*releaseTarget, error) {
	switch {
	case f.env != "" && f.localDir != "":
		return nil, Exit(ExitUsage, errors.New("give --env NAME or --local-dir DIR, not both"))
	case f.localDir != "":
		if localRelease == nil {
			return nil, Exit(ExitUsage, errors.New("--local-dir: the local target runs on Linux only"))
		}
		rt, err := localRelease(g, f.localDir, out)
		if err != nil {
			return nil, Exit(ExitUsage, err)
		}
		return rt, nil
	case f.env != "":
		return f.aws(ctx, g, out)
	}
	return nil, Exit(ExitUsage, errors.New("give --env NAME (an AWS environment) or --local-dir DIR (the local target)"))
}

// aws describes an AWS environment from its Terraform outputs (hosts and their instance
// IDs) and reaches its bucket, status documents and load balancers with the operator's
// credentials.
func (f *appFlags) aws(ctx context.Context, g *Globals, out io.Writer) (*releaseTarget, error) {
	tf := tfFlags{env: f.env, terraformDir: f.terraformDir, terraformBin: f.terraformBin, pluginDir: f.pluginDir, grace: 0, allowPlaceholders: true}
	env, terraform, err := tf.setup(g)
	if err != nil {
		return nil, err
	}
	if err := checkAWSCredentials(ctx, env.Name, env.Region); err != nil {
		return nil, err
	}
	outs, err := terraform.Outputs(ctx)
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("environment %s: %w", env.Name, err))
	}
	t, err := terraform.Target(ctx)
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("environment %s: %w", env.Name, err))
	}
	var hosts map[string]struct {
		InstanceID string `json:"instance_id"`
	}
	if err := json.Unmarshal(outs["hosts"], &hosts); err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("terraform output hosts: %w", err))
	}
	ids := map[string]string{}
	for name, h := range hosts {
		ids[name] = h.InstanceID
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.Region))
	if err != nil {
		return nil, Exit(ExitUsage, fmt.Errorf("AWS configuration: %w", err))
	}
	client, bucket := s3.NewFromConfig(cfg), env.FilesBucket()
	docs := &status.S3{Client: client, Bucket: bucket}
	return &releaseTarget{
		Store: release.Store{Objects: deploy.S3Store{Client: client, Bucket: bucket}, Bucket: agent.S3Bucket{Client: client, Name: bucket},
			Lease: lease.S3{Client: client, Bucket: bucket}},
		Status: docs, Hosts: t.Hosts,
		Driver: &release.AWS{ELB: elb.NewFromConfig(cfg), Env: env.Name, Instances: ids, Status: docs, Out: out},
		App:    apppkg.ConfiguredName(env),
	}, nil
}

// operator names who rolls a release, for the record.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

func init() {
	appSubcommands = append(appSubcommands, appDeployCmd, appStatusCmd)
}

func appDeployCmd(g *Globals) *cobra.Command {
	var f appFlags
	var breakLock bool
	cmd := &cobra.Command{
		Use:   "deploy FILE | --break-lock",
		Short: "Publish an application package and roll it across the frontend and backend hosts, one at a time",
		Long: `deploy verifies the package FILE, publishes it to the environment's bucket
(packages/<name>-<version>-<sha12>.tar.gz; locally the target's bucket directory) and
records it in the release record (packages/release.json), which the frontend and backend
hosts read before the env file's application.package: their boot and timer runs converge
to it and never undo a release.

Then it rolls the release across the frontend hosts, then the backend hosts, one at a
time: the host leaves its target groups (AWS: deregistered with your credentials, then
the draining waited for; locally: the ALB stand-in's upstream list and a reload that lets
in-flight requests finish), gets the new version (AWS: its agent timer run picks up the
record, within minutes, and publishes the version in its status document; locally: its
role runs now), passes its health checks (locally: every probe of cso check about that
host) and rejoins before the next host starts. A host that fails gets the previous
version back and rejoins; the rollout stops there, the other hosts untouched; exit 1.

One rollout at a time: deploy holds the environment's deploy lock (locks/app-deploy.json
in the bucket, taken with a conditional write) from start to end. A deploy while it is
held changes nothing and names the holder: exit 2. So does a package that is not valid
(cso app validate explains why).

--break-lock (without FILE) ends the lock of a rollout whose cso died (its machine, its
session): it prints who held it and since when, and marks that rollout interrupted in the
record. Check cso app status first: a rollout that still runs would go on without a lock.
Exit 2 when no lock is held (nothing changed).`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case breakLock && len(args) > 0:
				return Exit(ExitUsage, errors.New("--break-lock takes no package FILE"))
			case !breakLock && len(args) != 1:
				return Exit(ExitUsage, fmt.Errorf("deploy takes one package FILE (got %d), or --break-lock", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := g.Stderr
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if breakLock {
				return breakDeployLock(ctx, g, &f, out)
			}
			if _, _, err := release.OpenPackage(args[0]); err != nil {
				return Exit(ExitUsage, err)
			}
			rt, err := f.open(ctx, g, out)
			if err != nil {
				return err
			}
			rec, err := release.Deploy(ctx, release.Options{Store: rt.Store, Driver: rt.Driver, Hosts: rt.Hosts, By: operator(), Out: out, App: rt.App}, args[0])
			if g.JSON() && rec != nil {
				if jerr := writeJSON(g.Stdout, rec); jerr != nil {
					return jerr
				}
			}
			var busy *release.BusyError
			var failed *release.FailedError
			var other *release.OtherAppError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &busy), errors.As(err, &other):
				return Exit(ExitUsage, err)
			case errors.As(err, &failed):
				return Exit(ExitFailure, err)
			case ctx.Err() != nil:
				return Exit(ExitAborted, fmt.Errorf("%w (interrupted: see cso app status)", err))
			}
			return Exit(ExitFailure, err)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&breakLock, "break-lock", false, "end the deploy lock of a rollout whose cso died; prints who held it and since when")
	return cmd
}

// breakDeployLock is cso app deploy --break-lock.
func breakDeployLock(ctx context.Context, g *Globals, f *appFlags, out io.Writer) error {
	rt, err := f.open(ctx, g, out)
	if err != nil {
		return err
	}
	was, err := release.BreakLock(ctx, rt.Store, operator(), time.Now().UTC())
	if errors.Is(err, lease.ErrNotHeld) {
		last := "it was never taken"
		if was != nil {
			last = "last held by " + was.String()
			if !was.Released.IsZero() {
				last += ", released " + was.Released.UTC().Format(time.RFC3339)
			}
		}
		return Exit(ExitUsage, fmt.Errorf("no rollout holds the deploy lock %s (%s): nothing to break, nothing changed", lease.DeployKey, last))
	}
	if was != nil {
		if g.JSON() {
			if jerr := writeJSON(g.Stdout, was); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintf(g.Stdout, "broke the deploy lock %s held by %s\n", lease.DeployKey, was.String())
		}
	}
	if err != nil {
		return Exit(ExitFailure, err)
	}
	return nil
}

func appStatusCmd(g *Globals) *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The desired application version, which version runs where, the last rollout",
		Long: `status reads the release record (the desired version and the newest rollout with each
host's part in it) and every frontend and backend host's status document (the package its
last agent run installed). -o json for automation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := f.open(cmd.Context(), g, g.Stderr)
			if err != nil {
				return err
			}
			st, err := release.ReadStatus(cmd.Context(), rt.Store, rt.Status, rt.Hosts)
			if err != nil {
				return Exit(ExitFailure, err)
			}
			if g.JSON() {
				return writeJSON(g.Stdout, st)
			}
			st.WriteText(g.Stdout)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
