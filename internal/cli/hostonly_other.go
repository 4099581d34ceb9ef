//go:build !linux

package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// On Windows and macOS workstations cso is the operator's tool (env, plan, deploy, replace,
// destroy, check, admin). The agent and the local target drive Linux processes (process
// groups, setuid, flock, dnf/systemd or the Debian daemons), so their real commands are built
// on Linux only (agent.go, render.go, local.go); here they stay visible and say so, exit 2.
func init() {
	register(50, func(g *Globals) *cobra.Command {
		return hostOnlyCmd("agent", "Converge a host into its role (Linux hosts only)", "cso agent runs on the hosts (Linux) only")
	})
	register(80, func(g *Globals) *cobra.Command {
		return hostOnlyCmd("local", "Run the platform tier on this machine (Linux only)", "cso local runs on Linux only")
	})
	// Backups are taken and restored where the key sets are: the jump server or the local
	// target (docs/decisions/backup.md).
	register(85, func(g *Globals) *cobra.Command {
		return hostOnlyCmd("backup", "Take or list backups (the jump server or the local target: Linux only)", "cso backup runs on the jump server or the local target (Linux) only")
	})
	register(86, func(g *Globals) *cobra.Command {
		return hostOnlyCmd("restore", "Restore a backup (the jump server or the local target: Linux only)", "cso restore runs on the jump server or the local target (Linux) only")
	})
}

func hostOnlyCmd(use, short, msg string) *cobra.Command {
	return &cobra.Command{
		Use:                use,
		Short:              short,
		DisableFlagParsing: true, // any flags of the Linux command get the same answer
		RunE: func(*cobra.Command, []string) error {
			return Exit(ExitUsage, fmt.Errorf("%s", msg))
		},
	}
}

// benchSoakCmd: the soak re-runs the local target's agents, which run on Linux only.
func benchSoakCmd(*Globals) *cobra.Command {
	return hostOnlyCmd("soak", "Soak the local target at the LLD's production rate (Linux only)", "cso bench soak runs on Linux only")
}
