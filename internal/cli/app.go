package cli

import (
	"github.com/spf13/cobra"
)

// appCommands are the subcommands of `cso app`, added by the files that define them
// (app_release.go: deploy, status).
var appCommands []func(g *Globals) *cobra.Command

func init() {
	register(45, func(g *Globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "app",
			Short: "The application: roll out a release, see which version runs where",
			Long: `app handles the CSO application that the frontend and backend hosts run: deploy rolls a
new package across them one host at a time without downtime, status shows the desired
version, which version runs where and the last rollout.`,
		}
		for _, mk := range appCommands {
			cmd.AddCommand(mk(g))
		}
		return cmd
	})
}
