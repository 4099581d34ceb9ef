package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// Every command that groups subcommands refuses an unknown one with exit 2 and names its
// valid subcommands; without arguments it prints its help and exits 0.
func TestUnknownSubcommandExitsUsage(t *testing.T) {
	root, _ := NewRoot(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var parents [][]string
	acts := map[string]bool{} // commands that act alone (cso backup) and have subcommands
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasSubCommands() {
			parents = append(parents, path)
			acts[strings.Join(path, " ")] = c.Annotations[actionWithSubcommands] == "true"
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
			if acts[strings.Join(path, " ")] {
				return // alone it acts: its own tests cover that
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

// A local target whose recorded service is not running makes `cso local status` exit 1,
// with the table and with -o json alike; the directory comes from $CSO_LOCAL_DIR.
func TestLocalStatusExitSameForJSON(t *testing.T) {
	dir := t.TempDir()
	tg := &target.Target{Env: "dev", Kind: "local", SharedDir: dir, StatusDir: filepath.Join(dir, "status"),
		Hosts: []inventory.Host{{Name: "frontend-server-1", Role: envfile.RoleFrontend, FQDN: "frontend-server-1.dev.cso.ss", Address: "127.0.0.1"}}}
	if err := tg.Save(filepath.Join(dir, target.FileName)); err != nil {
		t.Fatal(err)
	}
	// The supervisor's record of a service whose process is gone (pid 0 is never alive).
	sup := filepath.Join(dir, "hosts", "frontend-server-1", "run", "supervise")
	if err := os.MkdirAll(sup, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sup, "nginx.json"), []byte(`{"name":"nginx","pid":0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CSO_LOCAL_DIR", dir)
	for _, args := range [][]string{{"local", "status"}, {"local", "status", "-o", "json"}} {
		var out, errb bytes.Buffer
		code := Run(args, strings.NewReader(""), &out, &errb)
		if code != ExitFailure {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, ExitFailure, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "nginx") {
			t.Fatalf("%v: output does not list the stopped service:\n%s", args, out.String())
		}
	}
	var out, errb bytes.Buffer
	Run([]string{"local", "status", "-o", "json"}, strings.NewReader(""), &out, &errb)
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out.String())
	}
}

// $CSO_LOCAL_DIR is the default local directory of cso check and cso admin serve as of the
// local commands: without a target.json there, the usage error names it.
func TestCheckHonoursCSOLocalDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "elsewhere")
	t.Setenv("CSO_LOCAL_DIR", dir)
	saved := ec2TargetFile
	ec2TargetFile = filepath.Join(t.TempDir(), "none.json")
	t.Cleanup(func() { ec2TargetFile = saved })
	var out, errb bytes.Buffer
	code := Run([]string{"check"}, strings.NewReader(""), &out, &errb)
	want := filepath.Join(dir, target.FileName)
	if code != ExitUsage || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, stderr %q: want %d and a message naming %s", code, errb.String(), ExitUsage, want)
	}
	// A target description there is the one check reads.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tg := &target.Target{Env: "qa", Kind: "local", SharedDir: dir, StatusDir: filepath.Join(dir, "status")}
	if err := tg.Save(want); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	code = Run([]string{"check", "-o", "json", "--timeout", "2s"}, strings.NewReader(""), &out, &errb)
	if code == ExitUsage || !strings.Contains(out.String(), `"qa"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q: want the checks of environment qa", code, out.String(), errb.String())
	}
}
