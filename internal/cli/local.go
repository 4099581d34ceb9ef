//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
)

type localFlags struct {
	dir      string
	localDir string // --local-dir, the name `cso agent` uses too; --dir stays for scripts
	portBase int
}

func (f *localFlags) add(cmd *cobra.Command) {
	def := localDirDefault()
	cmd.Flags().StringVar(&f.localDir, "local-dir", def, "directory of the local target ($CSO_LOCAL_DIR)")
	cmd.Flags().StringVar(&f.dir, "dir", def, "same as --local-dir")
}

// resolve settles the directory from --local-dir or --dir; both with different values is
// a usage error.
func (f *localFlags) resolve(cmd *cobra.Command) error {
	fl := cmd.Flags()
	switch {
	case fl.Changed("local-dir") && fl.Changed("dir") && f.localDir != f.dir:
		return Exit(ExitUsage, fmt.Errorf("--local-dir %q and --dir %q name different directories: give one", f.localDir, f.dir))
	case fl.Changed("local-dir"):
		f.dir = f.localDir
	}
	return nil
}

func init() {
	register(80, func(g *Globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "local",
			Short: "Run the whole platform tier on this machine (up, status, down, restart)",
			Long: `local runs the platform tier on this machine with the very roles the EC2 hosts run:
MariaDB stands in for RDS, directories for EFS and the S3 bucket, every service on
127.0.0.1. The daemons are supervised by cso itself (no systemd needed); "down" stops
exactly what "up" started.`,
		}
		cmd.AddCommand(localUpCmd(g), localStatusCmd(g), localDownCmd(g), localRestartCmd(g), localSuperviseCmd(g))
		return cmd
	})
}

func localUpCmd(g *Globals) *cobra.Command {
	var lf localFlags
	var ha, appHA, dryRun bool
	var envName string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Converge every role on this machine and print endpoints and what cso check finds",
		Long: `up converges the local target: every host starts at once and each waits, bounded and
visibly, for what it needs (MariaDB and the jump host's certificates for all; Keystone and
RabbitMQ for the frontend and backend hosts). A re-run changes only what differs. --ha runs two Keystone nodes sharing one fernet key set and three RabbitMQ
nodes. Progress goes to the terminal and to each host's <role>-setup-progress.log.

The generated Keystone admin credentials are written to <dir>/admin-openrc (0600); they
are never printed. It ends with the checks of ` + "`cso check`" + ` on the target it wrote (the
same probes, verdicts and reasons): failures, warnings and the counts; -v lists every
check. Exit code 1 when a host fails or a check fails (warnings and skipped checks alone
exit 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			env, err := loadLocalEnv(g, envName)
			if err != nil {
				return err
			}
			if lf.portBase < 0 || lf.portBase > 20000 {
				return Exit(ExitUsage, fmt.Errorf("--port-base %d: expected 0 to 20000", lf.portBase))
			}
			o := local.Options{Dir: lf.dir, HA: ha, AppHA: appHA, PortBase: lf.portBase, Env: env, DryRun: dryRun}
			res, err := runStack(cmd, g, o, local.Up)
			if err != nil {
				return err
			}
			if res.Failed() {
				return Exit(ExitFailure, errors.New("the local target is not healthy (see above)"))
			}
			if dryRun && res.Changed {
				return Exit(ExitChanges, nil)
			}
			return nil
		},
	}
	lf.add(cmd)
	f := cmd.Flags()
	f.IntVar(&lf.portBase, "port-base", portBaseDefault(), "shift every port by this amount ($CSO_PORT_BASE), to run stacks side by side")
	f.BoolVar(&ha, "ha", false, "two Keystone nodes and three RabbitMQ nodes")
	f.BoolVar(&appHA, "app-ha", false, "two frontend and two backend hosts behind an nginx stand-in for the ALB (https://127.0.0.1:8443+port base), to roll releases (cso app deploy); combines with --ha")
	f.BoolVar(&dryRun, "dry-run", false, "list what would change and change nothing (exit 3 when something would)")
	f.StringVar(&envName, "env", "dev", "environment file whose names (domain, CA name, application package) the local target uses")
	return cmd
}

// runStack runs up or restart (interruptible), then prints its result as the table and
// health report or, with -o json, as JSON; progress goes to stderr then.
func runStack(cmd *cobra.Command, g *Globals, o local.Options, run func(context.Context, local.Options) (*local.UpResult, error)) (*local.UpResult, error) {
	o.Executable, _ = os.Executable()
	o.Out, o.Log, o.Verbose = g.Stdout, g.Logger(), g.Verbose
	if g.JSON() {
		o.Out = g.Stderr
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil, Exit(ExitAborted, err)
		}
		if _, ok := errors.AsType[*local.UnreachableError](err); ok {
			return nil, Exit(ExitUsage, err)
		}
		return nil, Exit(ExitFailure, err)
	}
	if g.JSON() {
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		writeUpReport(g, res, o)
	}
	if ctx.Err() != nil {
		return nil, Exit(ExitAborted, errors.New("interrupted; run `cso local up` again to finish (it resumes where it stopped)"))
	}
	return res, nil
}

func portBaseDefault() int {
	if v, err := strconv.Atoi(os.Getenv("CSO_PORT_BASE")); err == nil {
		return v
	}
	return 0
}

func loadLocalEnv(g *Globals, name string) (*envfile.Env, error) {
	path := envfile.PathFor(g.EnvDir, name)
	env, err := envfile.Load(path)
	if err != nil {
		var ps envfile.Problems
		if errors.As(err, &ps) {
			return nil, Exit(ExitUsage, fmt.Errorf("%s is invalid (cso env validate %s):\n%w", path, name, err))
		}
		return nil, Exit(ExitUsage, fmt.Errorf("%w (run from the repository root or pass --env-dir)", err))
	}
	return env, nil
}

func writeUpReport(g *Globals, res *local.UpResult, o local.Options) {
	w, dryRun := g.Stdout, o.DryRun
	fmt.Fprintln(w)
	changed := 0
	for _, h := range res.Hosts {
		changed += len(h.Changed)
		switch {
		case h.Error != "":
			fmt.Fprintf(w, "FAILED  %-20s %s\n", h.Host, h.Error)
		case h.Skipped != "":
			fmt.Fprintf(w, "skipped %-20s %s\n", h.Host, h.Skipped)
		}
	}
	verb := "changes made"
	if dryRun {
		verb = "changes that would be made"
	}
	fmt.Fprintf(w, "%d %s in %s\n", changed, verb, res.Duration.Round(10*time.Millisecond))
	if dryRun {
		return
	}
	l, _ := local.NewLayout(o.Dir)
	// What clients connect to first; then the ports only the host itself or the other nodes
	// of its role use (on AWS in no security group a client is in), for debugging.
	var internal []string
	fmt.Fprintf(w, "\nEndpoints (names in the certificates; every address is 127.0.0.1):\n")
	for _, h := range o.Hosts() {
		for _, p := range sortedPorts(h.Ports) {
			line := fmt.Sprintf("  %-20s %-14s %s:%d\n", h.Name, p.name, h.FQDN, p.port)
			if inventory.HostLocal(p.name) || inventory.ClusterInternal(p.name) {
				internal = append(internal, line)
				continue
			}
			fmt.Fprint(w, line)
		}
	}
	fmt.Fprintf(w, "  %-20s %-14s %s\n", local.MySQLHost, "mysql", local.MySQLAddr(o.PortBase))
	fmt.Fprintf(w, "\nInternal ports (the host itself or the other nodes of its role only; not for clients):\n%s", strings.Join(internal, ""))
	fmt.Fprintf(w, "\nCA certificate:     %s\n", l.Target(o, nil).CACert)
	fmt.Fprintf(w, "Admin credentials:  %s (0600; source it, never printed)\n", l.AdminRC())
	fmt.Fprintf(w, "Secrets:            %s (one 0600 file each)\n", l.SecretsDir())
	fmt.Fprintf(w, "Target description: %s\n\n", l.TargetFile())
	if res.Health == nil {
		return
	}
	// The closing check is `cso check`'s: with -v every result, otherwise what needs
	// attention and the counts.
	if g.Verbose {
		_ = res.Health.WriteTable(w)
		return
	}
	_ = res.Health.WriteShort(w)
	fmt.Fprintf(w, "Every check: cso check --local-dir %s (or cso local up -v)\n", o.Dir)
}

type namedPort struct {
	name string
	port int
}

func sortedPorts(m map[string]int) []namedPort {
	var out []namedPort
	for n, p := range m {
		out = append(out, namedPort{n, p})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].port < out[j-1].port; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func localStatusCmd(g *Globals) *cobra.Command {
	var lf localFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each local host's setup state and which of its services run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			rows, err := local.Status(cmd.Context(), lf.dir)
			if err != nil {
				return Exit(ExitFailure, err)
			}
			// The exit code is the same whatever the output format: scripts reading JSON
			// still learn from it that something is down.
			if g.JSON() {
				enc := json.NewEncoder(g.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return Exit(ExitFailure, err)
				}
			} else {
				local.WriteStatus(g.Stdout, rows)
			}
			for _, r := range rows {
				if len(r.Stopped) > 0 || r.State == "failed" {
					return Exit(ExitFailure, errors.New("some services are not running or a host failed (`cso local up` repairs)"))
				}
			}
			return nil
		},
	}
	lf.add(cmd)
	return cmd
}

func localDownCmd(g *Globals) *cobra.Command {
	var lf localFlags
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop what `cso local up` started (keeps the data unless --purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			if err := local.Down(ctx, lf.dir, purge, g.Stdout); err != nil {
				if errors.Is(err, local.ErrNotLocalTarget) {
					return Exit(ExitUsage, err)
				}
				return Exit(ExitFailure, err)
			}
			return nil
		},
	}
	lf.add(cmd)
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the directory: data, secrets, certificates (only a directory that cso local up created: its .cso-local marker)")
	return cmd
}

func localRestartCmd(g *Globals) *cobra.Command {
	var lf localFlags
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Do what a reboot does to the local target, then bring it back with the agents",
		Long: `restart is what users want after a reboot of their machine, or to simulate one: it stops
every daemon of the local target (as "down": dependents first, the database last),
empties every runtime directory (each host's run directory, MariaDB's included: what a
tmpfs /run loses; data, logs, secrets and key sets are kept), then converges every host
again (as "up" on the existing directory, with the environment, HA shape and port base it
was created with) and prints the checks as up does.

Exit code 2 when the directory holds no local target, 1 when a daemon does not stop (then
nothing is emptied), a host fails or a health probe is red, 4 when interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			envName, ha, portBase, err := local.TargetShape(lf.dir)
			if errors.Is(err, local.ErrNoTarget) {
				return Exit(ExitUsage, err)
			}
			if err != nil {
				return Exit(ExitFailure, err)
			}
			env, err := loadLocalEnv(g, envName)
			if err != nil {
				return err
			}
			o := local.Options{Dir: lf.dir, HA: ha, AppHA: local.TargetAppHA(lf.dir), PortBase: portBase, Env: env}
			res, err := runStack(cmd, g, o, local.Restart)
			if err != nil {
				return err
			}
			if res.Failed() {
				return Exit(ExitFailure, errors.New("the local target is not healthy after the restart (see above)"))
			}
			return nil
		},
	}
	lf.add(cmd)
	return cmd
}

func localSuperviseCmd(g *Globals) *cobra.Command {
	var lf localFlags
	cmd := &cobra.Command{
		Use:   "supervise",
		Short: "Restart the local target's daemons that crash (up starts it, down stops it)",
		Long: `supervise is the local target's crash watcher, what systemd's Restart=on-failure is on
Amazon Linux: it runs until SIGTERM or Ctrl-C, looks at every supervised daemon twice a
second, and restarts one whose process is gone although nobody stopped it, after 1 s,
then 2 s, 4 s... up to 60 s for a daemon that keeps dying (a daemon that ran 5 minutes
starts again from 1 s). Each crash and restart (time, exit status or signal, count) is
recorded in <dir>/hosts/<host>/run/supervise/<service>.crashes, which cso check reads.

"cso local up" starts it in the background (pid file and log under <dir>/watcher/) and
"cso local down" stops it first; run it by hand only to watch in the foreground. A
deliberate stop (down, restart, an agent restarting a service after a configuration
change) is never fought: the service's lock and state file tell it apart.

Exit code 2 when the directory holds no local target.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.resolve(cmd); err != nil {
				return err
			}
			if _, _, _, err := local.TargetShape(lf.dir); err != nil {
				if errors.Is(err, local.ErrNoTarget) {
					return Exit(ExitUsage, err)
				}
				return Exit(ExitFailure, err)
			}
			l, err := local.NewLayout(lf.dir)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return local.NewWatcher(l, g.Stdout).Run(ctx)
		},
	}
	lf.add(cmd)
	return cmd
}
