package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/buildinfo"
)

// BuildVersion is what `cso version` reports (internal/buildinfo: the same value each agent
// publishes in its status document).
type BuildVersion = buildinfo.Info

// buildVersion reads the running binary's build information.
func buildVersion() BuildVersion { return buildinfo.Read() }

func versionCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version and VCS revision of this binary (-o json: as JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if g.JSON() {
				enc := json.NewEncoder(g.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			_, err := fmt.Fprintln(g.Stdout, v.String())
			return err
		},
	}
}
