//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/local"
)

func certsRenewCmd(g *Globals) *cobra.Command {
	var lf localFlags
	var env string
	var days int
	var lifetime time.Duration
	cmd := &cobra.Command{
		Use:   "renew [HOST...]",
		Short: "Re-issue host certificates with the local CA; every agent installs and reloads gracefully",
		Long: `renew re-issues the server certificates of the local target's hosts (all, or the HOSTs
named) with its project CA, then runs every host's agent, which installs its new
certificate and reloads its daemon without a restart: Apache graceful (Keystone), RabbitMQ's
listeners re-reading their PEM files, the admin dashboard re-reading its files, MariaDB's
FLUSH SSL (host "mysql": new connections get the new certificate, open ones are kept).
Nothing is refused or cut while it runs. The closing checks show the new expiry (or run cso certs).

--days N renews only the certificates that expire within N days. --lifetime sets the
validity of the new certificates (default a year; short ones for renewal drills).

On AWS nothing is run by hand: the jump server's timer re-issues each host's certificate
inside its renewal window and each host's own timer installs and reloads it
(docs/decisions/terraform.md). Exit code 2 on bad input (unknown host, no local target,
--env naming an environment without one), 1 when a host fails or a check is red.`,
		RunE: func(cmd *cobra.Command, hosts []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			if days < 0 || (cmd.Flags().Changed("days") && days == 0) {
				return Exit(ExitUsage, fmt.Errorf("--days %d: must be at least 1", days))
			}
			if lifetime < 0 || (cmd.Flags().Changed("lifetime") && lifetime < time.Minute) {
				return Exit(ExitUsage, fmt.Errorf("--lifetime %s: must be at least 1m", lifetime))
			}
			o, err := renewOptions(g, lf.dir, env)
			if err != nil {
				return err
			}
			o.Hosts, o.Within, o.Lifetime = hosts, time.Duration(days)*24*time.Hour, lifetime
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return renewCerts(ctx, g, o)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&env, "env", "", "environment name: must be the local target's (on AWS the jump server's timer renews)")
	cmd.Flags().IntVar(&days, "days", 0, "renew only the certificates that expire within N days (default: every one named)")
	cmd.Flags().DurationVar(&lifetime, "lifetime", 0, "validity of the new certificates (default 8760h, a year)")
	return cmd
}

// renewOptions describes the local target in dir (its environment, layout and ports), which
// --env, when given, must name.
func renewOptions(g *Globals, dir, env string) (local.RenewOptions, error) {
	envName, ha, portBase, err := local.TargetShape(dir)
	if errors.Is(err, local.ErrNoTarget) {
		hint := ""
		if env != "" {
			hint = fmt.Sprintf(": environment %s has no local target here; on AWS the jump server's timer renews certificates (docs/cli.md, cso certs)", env)
		}
		return local.RenewOptions{}, Exit(ExitUsage, fmt.Errorf("%w%s", err, hint))
	}
	if err != nil {
		return local.RenewOptions{}, Exit(ExitFailure, err)
	}
	if env != "" && env != envName {
		return local.RenewOptions{}, Exit(ExitUsage, fmt.Errorf("the local target in %s is environment %q, not %q; on AWS the jump server's timer renews certificates", dir, envName, env))
	}
	e, err := loadLocalEnv(g, envName)
	if err != nil {
		return local.RenewOptions{}, err
	}
	o := local.RenewOptions{Options: local.Options{Dir: dir, HA: ha, PortBase: portBase, Env: e}}
	o.Executable, _ = os.Executable()
	o.Out, o.Log, o.Verbose = g.Stdout, g.Logger(), g.Verbose
	if g.JSON() {
		o.Out = g.Stderr
	}
	return o, nil
}

// renewCerts renews, reports (the agents' run and closing checks, or JSON) and maps the
// outcome to the exit code: 2 for a usage error, 4 when interrupted, 1 when a host failed
// or a check is red.
func renewCerts(ctx context.Context, g *Globals, o local.RenewOptions) error {
	res, err := local.RenewCerts(ctx, o)
	if _, ok := errors.AsType[*local.UsageError](err); ok {
		return Exit(ExitUsage, err)
	}
	if err != nil && ctx.Err() != nil {
		return Exit(ExitAborted, err)
	}
	if g.JSON() && res != nil {
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else if res != nil && res.Up != nil {
		writeUpReport(g, res.Up, o.Options)
	}
	if err != nil {
		return Exit(ExitFailure, err)
	}
	if res.Up != nil && res.Up.Failed() {
		return Exit(ExitFailure, errors.New("the local target is not healthy after the renewal (see above)"))
	}
	return nil
}
