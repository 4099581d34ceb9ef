package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/target"
)

// defaultLocalDir is where `make up` (cso local up --dir .local) keeps the local target.
const defaultLocalDir = ".local"

// targetFlags choose the environment a command looks at: a target description file, the
// local target's directory, and optionally the environment name it must be.
type targetFlags struct {
	file, localDir, env string
}

func (f *targetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.file, "target", "", "target description file (target.json) of the environment")
	fl.StringVar(&f.localDir, "local-dir", "", "directory of the local target (default "+defaultLocalDir+"); its target.json is read")
	fl.StringVar(&f.env, "env", "", "environment name; the target description must be this environment's")
}

// load reads the target description the flags name.
func (f *targetFlags) load() (*target.Target, error) {
	if f.file != "" && f.localDir != "" {
		return nil, Exit(ExitUsage, errors.New("give --target or --local-dir, not both"))
	}
	path := f.file
	if path == "" {
		dir := f.localDir
		if dir == "" {
			dir = defaultLocalDir
		}
		path = filepath.Join(dir, target.FileName)
	}
	t, err := target.Load(path)
	if err != nil {
		if f.file == "" && f.localDir == "" && f.env != "" {
			return nil, Exit(ExitUsage, fmt.Errorf("%w; for environment %s pass --target FILE (its description) or --local-dir DIR", err, f.env))
		}
		return nil, Exit(ExitUsage, err)
	}
	if f.env != "" && t.Env != f.env {
		return nil, Exit(ExitUsage, fmt.Errorf("%s describes environment %q, not %q", path, t.Env, f.env))
	}
	return t, nil
}

func init() {
	register(60, func(g *Globals) *cobra.Command {
		var tf targetFlags
		var timeout time.Duration
		var warnDays int
		cmd := &cobra.Command{
			Use:   "check",
			Short: "Probe every service and cluster of an environment, in parallel",
			Long: `check probes a running environment: TCP, TLS and HTTP of every service and backend
port, certificates (warn under 30 days to expiry), the Keystone cluster (tokens issued on
each node and validated on every other, identical fernet key sets), the RabbitMQ cluster
(nodes running, partitions, alarms, quorum-critical nodes, size), each MySQL service
user, the shared store and each host's setup status.

Exit code 1 when any probe fails; warnings alone exit 0.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				t, err := tf.load()
				if err != nil {
					return err
				}
				if timeout <= 0 {
					return Exit(ExitUsage, fmt.Errorf("--timeout %s: must be positive", timeout))
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
				defer stop()
				rep := check.New(t, check.Options{Timeout: timeout, WarnDays: warnDays}).Run(ctx)
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
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "timeout of each probe")
		cmd.Flags().IntVar(&warnDays, "warn-days", 30, "warn when a certificate expires in fewer days")
		return cmd
	})
}
