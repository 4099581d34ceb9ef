package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input to cso app deploy and status: exit 2 with a message naming the problem, and
// nothing written.
func TestAppDeployBadInput(t *testing.T) {
	dir := t.TempDir()
	notPkg := filepath.Join(dir, "app.tar.gz")
	if err := os.WriteFile(notPkg, []byte("not a package"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "deploy", notPkg}, "not a gzip-compressed tar file"},
		{[]string{"app", "deploy", filepath.Join(dir, "missing.tar.gz")}, "missing.tar.gz"},
		{[]string{"app", "deploy", dir}, "app"},
		{[]string{"app", "status"}, "give --env NAME"},
		{[]string{"app", "deploy"}, "one package FILE (got 0), or --break-lock"},
		{[]string{"app", "deploy", "--break-lock", notPkg}, "--break-lock takes no package FILE"},
		{[]string{"app", "deploy", "--break-lock"}, "give --env NAME"},
		{[]string{"app", "deploy", "--break-lock", "--local-dir", dir}, "no local target"},
		{[]string{"app", "status", "--env", "dev", "--local-dir", dir}, "not both"},
		{[]string{"app", "status", "--local-dir", dir}, "no local target"},
	} {
		var out, errb bytes.Buffer
		code := Run(tc.args, strings.NewReader(""), &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("cso %s: exit %d, stderr %q; want 2 naming %q", strings.Join(tc.args, " "), code, errb.String(), tc.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("bad input wrote files: %v", entries)
	}
}
