package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/userfile"
)

// appSubcommands are the subcommands of `cso app`: each file adds its own in init (package
// and validate here), so that commands of the application's lifecycle stay in their files.
var appSubcommands []func(g *Globals) *cobra.Command

func init() {
	appSubcommands = append(appSubcommands, newAppPackage, newAppValidate)
	register(15, func(g *Globals) *cobra.Command {
		app := &cobra.Command{
			Use:   "app",
			Short: "The application: build and check packages, roll out a release, see which version runs where",
			Long: `app handles the CSO application that the frontend and backend hosts run: package builds a
package from a directory, validate checks one (docs/application-packages.md), deploy rolls
a new package across the hosts one at a time without downtime, status shows the desired
version, which version runs where and the last rollout.`,
		}
		for _, f := range appSubcommands {
			app.AddCommand(f(g))
		}
		return app
	})
}

// appPackageResult is what package and validate print with -o json.
type appPackageResult struct {
	File     string   `json:"file"`
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	SHA256   string   `json:"sha256"`
	Services int      `json:"services"`
	Bindings []string `json:"bindings"`
}

func printPackage(g *Globals, cmd *cobra.Command, verb string, p *apppkg.Package) error {
	res := appPackageResult{File: p.Path, Name: p.Manifest.Name, Version: p.Manifest.Version, SHA256: p.SHA256,
		Services: len(p.Manifest.Services), Bindings: append([]string{}, p.Manifest.Bindings...)}
	if g.JSON() {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s %s, %d services, bindings %v, sha256 %s\n", verb, userfile.Escape(p.Path),
		userfile.Escape(p.Manifest.Name), userfile.Escape(p.Manifest.Version), res.Services, res.Bindings, p.SHA256)
	return nil
}

func newAppPackage(g *Globals) *cobra.Command {
	var out, name string
	cmd := &cobra.Command{
		Use:   "package DIR",
		Short: "Build an application package from a directory holding its cso-app.yaml",
		Long: `Builds a .tar.gz application package from DIR: its manifest (cso-app.yaml at DIR's root,
validated against the LLD's services and ports and the platform's bindings), every file
below DIR, and cso-app.sha256, the SHA-256 of every file, which hosts verify before
unpacking. Every problem names the manifest's file and line; exit 2, nothing written.
The format and the bindings contract: docs/application-packages.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := apppkg.BuildFromDir(args[0], out, name)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			return printPackage(g, cmd, "built", p)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the package file to write (-o is the output format of every command; default <name>-<version>.tar.gz in the current directory)")
	cmd.Flags().StringVar(&name, "name", "", "refuse a manifest of another application name")
	return cmd
}

func newAppValidate(g *Globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check an application package without deploying it",
		Long: `Checks FILE as a host would before installing it: a gzip-compressed tar of regular files
and directories, its manifest (schema, application name, every LLD service on its LLD port,
no port the LLD gives another service, known bindings only) and its checksums (present and
matching every file). Every problem names the manifest's file and line. Exit 0 valid,
2 invalid. Nothing is deployed or changed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := apppkg.Open(args[0])
			if err != nil {
				return Exit(ExitUsage, err)
			}
			if !p.HasSums {
				return Exit(ExitUsage, fmt.Errorf("%s: %w", userfile.Escape(p.Path), apppkg.ErrNoSums))
			}
			if err := p.Manifest.NameProblem(p.Path, "", name); err != nil {
				return Exit(ExitUsage, err)
			}
			return printPackage(g, cmd, "valid", p)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "refuse a package of another application name")
	return cmd
}
