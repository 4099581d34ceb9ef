package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command that groups subcommands refuses an unknown one with exit 2 and names its
// valid subcommands; without arguments it prints its help and exits 0.
func TestUnknownSubcommandExitsUsage(t *testing.T) {
	root, _ := NewRoot(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var parents [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasSubCommands() {
			parents = append(parents, path)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	if len(parents) < 4 { // cso, env, local, admin at least
		t.Fatalf("found only parents %v", parents)
	}
	for _, path := range parents {
		name := strings.Join(append([]string{"cso"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append(append([]string{}, path...), "bogus"), strings.NewReader(""), &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitUsage, errb.String())
			}
			msg := errb.String()
			if !strings.Contains(msg, `unknown command "bogus" for "`+name+`"`) || !strings.Contains(msg, "valid subcommands: ") {
				t.Fatalf("message %q does not name %q and its subcommands", msg, name)
			}
			out.Reset()
			errb.Reset()
			if code := Run(path, strings.NewReader(""), &out, &errb); code != ExitOK || !strings.Contains(out.String(), "Usage:") {
				t.Fatalf("alone: exit %d, stdout %q, want help and 0", code, out.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"version", "-o", "json"}, strings.NewReader(""), &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var v BuildVersion
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("version -o json: %v: %q", err, out.String())
	}
	if v.Module == "" || v.Module == "unknown" || v.GoVersion == "" {
		t.Fatalf("build info missing: %+v", v)
	}
	out.Reset()
	if code := Run([]string{"--version"}, strings.NewReader(""), &out, &errb); code != ExitOK || !strings.Contains(out.String(), v.Module) {
		t.Fatalf("--version: exit %d, %q does not name module %s", code, out.String(), v.Module)
	}
	out.Reset()
	if code := Run([]string{"version"}, strings.NewReader(""), &out, &errb); code != ExitOK || strings.TrimSpace(out.String()) != v.String() {
		t.Fatalf("version: exit %d, %q, want %q", code, out.String(), v.String())
	}
}
