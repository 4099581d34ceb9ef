package cli

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// registerCompletions teaches shell completion (`cso completion bash|zsh|fish|powershell`)
// the names an operator types: environment names for every --env flag (the env.<name>.yaml
// files of --env-dir) and, for `cso replace`, the host names of the environment given with
// --env. Completion reads files only; it never fails the shell: a problem completes nothing.
func registerCompletions(root *cobra.Command, g *Globals) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("env") != nil {
			_ = c.RegisterFlagCompletionFunc("env", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return envNames(g.EnvDir), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if replace, _, err := root.Find([]string{"replace"}); err == nil && replace != root {
		replace.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			name, _ := cmd.Flags().GetString("env")
			if len(args) > 0 || name == "" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return hostNames(envfile.PathFor(g.EnvDir, name)), cobra.ShellCompDirectiveNoFileComp
		}
	}
}

// envNames lists the environments of dir, sorted.
func envNames(dir string) []string {
	var names []string
	for _, pat := range []string{"env.*.yaml", "env.*.yml"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			if n := envfile.NameFromPath(f); n != "" && !strings.ContainsAny(n, " \t\n") {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names
}

// hostNames lists the hosts of the environment file at path, in inventory order; nothing
// when the file does not load.
func hostNames(path string) []string {
	env, err := envfile.Load(path)
	if err != nil {
		return nil
	}
	var names []string
	for _, h := range inventory.Hosts(env) {
		names = append(names, h.Name)
	}
	return names
}
