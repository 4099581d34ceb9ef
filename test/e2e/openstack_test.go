package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The operator's next step after `make up`: source the printed admin-openrc and use the
// openstack CLI. Beyond token issue, every command follows the catalog, so the catalog
// must name an endpoint the workstation resolves (issue #11).
func TestOpenStackCLIWithAdminRC(t *testing.T) {
	s := requireStack(t)
	if _, err := exec.LookPath("openstack"); err != nil {
		msg := "openstack is missing: run scripts/install-deps.sh (python3-openstackclient)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := adminRCEnv(t, s.Dir+"/admin-openrc")
	run := func(args ...string) []map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "openstack", append(args, "-f", "json")...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		var rows []map[string]any
		if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
			var one map[string]any
			if err2 := json.Unmarshal(out.Bytes(), &one); err2 != nil {
				t.Fatalf("openstack %s: not JSON: %v\n%s", strings.Join(args, " "), err, out.String())
			}
			rows = []map[string]any{one}
		}
		return rows
	}
	has := func(rows []map[string]any, key, want string) bool {
		for _, r := range rows {
			if v, _ := r[key].(string); v == want {
				return true
			}
		}
		return false
	}
	if rows := run("token", "issue"); len(rows) != 1 || rows[0]["id"] == "" {
		t.Errorf("token issue: %v", rows)
	}
	if rows := run("user", "list"); !has(rows, "Name", "admin") || !has(rows, "Name", "cso-automation") {
		t.Errorf("user list: want admin and cso-automation, got %v", rows)
	}
	if rows := run("project", "list"); !has(rows, "Name", "admin") {
		t.Errorf("project list: want admin, got %v", rows)
	}
	rows := run("endpoint", "list", "--service", "identity")
	if len(rows) != 3 {
		t.Errorf("identity endpoints: want public, internal and admin, got %v", rows)
	}
	for _, r := range rows {
		if u, _ := r["URL"].(string); !strings.HasPrefix(u, "https://localhost:") {
			t.Errorf("identity endpoint %v: the catalog must name an address the operator resolves", r)
		}
	}
}

// adminRCEnv returns the process environment with the exports of an openrc file: what
// `source admin-openrc` does, without a shell.
func adminRCEnv(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export "); ok {
			env = append(env, kv)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}
