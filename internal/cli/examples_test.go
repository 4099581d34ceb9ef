package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command an operator runs shows examples, and every example is a command line cso
// accepts: the command exists, its flags exist and parse, its arguments are allowed.
func TestExamplesParse(t *testing.T) {
	root, _ := NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden || c.HasSubCommands() || !c.Runnable() || c.Name() == "help" {
			return
		}
		if _, ok := examples[c.CommandPath()]; !ok {
			t.Errorf("%s has no examples (internal/cli/examples.go)", c.CommandPath())
		}
	}
	walk(root)

	for path, lines := range examples {
		for _, line := range lines {
			if strings.HasPrefix(line, "#") {
				continue
			}
			fresh, _ := NewRoot(strings.NewReader(""), io.Discard, io.Discard)
			args := strings.Fields(line)
			if args[0] != "cso" {
				t.Errorf("%s: example %q does not start with cso", path, line)
				continue
			}
			cmd, rest, err := fresh.Find(args[1:])
			if err != nil || cmd.CommandPath() != path {
				t.Errorf("%s: example %q finds %q (%v)", path, line, cmd.CommandPath(), err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: example %q: %v", path, line, err)
				continue
			}
			if cmd.Args != nil {
				if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
					t.Errorf("%s: example %q: %v", path, line, err)
				}
			}
		}
	}
}
