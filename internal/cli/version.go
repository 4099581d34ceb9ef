package cli

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// BuildVersion is what `cso version` reports, read from the build information the Go
// toolchain embeds in the binary (module version, VCS revision, dirty flag, commit time).
type BuildVersion struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified"`
	Time      string `json:"time,omitempty"`
	GoVersion string `json:"go_version"`
}

// buildVersion reads the running binary's build information.
func buildVersion() BuildVersion {
	v := BuildVersion{Module: "unknown", Version: "(devel)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = info.GoVersion
	if info.Main.Path != "" {
		v.Module = info.Main.Path
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "vcs.time":
			v.Time = s.Value
		}
	}
	return v
}

// String is the one-line form: "cso <version> (<module>) revision <rev>[+dirty] <time> <go>".
func (v BuildVersion) String() string {
	parts := []string{"cso", v.Version, "(" + v.Module + ")"}
	if v.Revision != "" {
		rev := v.Revision
		if v.Modified {
			rev += "+dirty"
		}
		parts = append(parts, "revision "+rev)
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	if v.GoVersion != "" {
		parts = append(parts, v.GoVersion)
	}
	return strings.Join(parts, " ")
}

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
