package cli

// No build tag: these tests compile for every OS the operator's cso is built for
// (GOOS=darwin go vet ./internal/cli builds them), and they hold there.

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// keysEnvDir is an env dir holding environment "t" (env.dev-ha.yaml with envYAML appended:
// two Keystone nodes, region eu-west-2, account 111122223333).
func keysEnvDir(t *testing.T, envYAML string) string {
	t.Helper()
	envDir := filepath.Join(t.TempDir(), "envs")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../environments/env.dev-ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(envDir, "env.t.yaml"), append(base, []byte(envYAML)...), 0o644); err != nil {
		t.Fatal(err)
	}
	return envDir
}

// TestKeysAndCertsOnEveryOS: cso keys (status, rotate) and cso certs (with renew) are in the
// command tree on every OS, with the flags that name an AWS environment; only what needs
// the local target answers "Linux only" elsewhere (TestKeysLocalDirNeedsALocalTarget).
func TestKeysAndCertsOnEveryOS(t *testing.T) {
	root, _ := NewRoot(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range []struct {
		path  string
		flags []string
	}{
		{"keys status", []string{"env", "local-dir"}},
		{"keys rotate", []string{"env", "local-dir", "print", "force"}},
		{"certs", []string{"env", "local-dir", "target", "warn-days", "fail-days"}},
		{"certs renew", nil}, // on Linux its own flags; elsewhere it answers "Linux only" to any
	} {
		cmd, rest, err := root.Find(strings.Fields(c.path))
		if err != nil || len(rest) != 0 || cmd.CommandPath() != "cso "+c.path || cmd.RunE == nil {
			t.Errorf("%s (GOOS %s): found %q (rest %v, err %v), want a runnable command", c.path, runtime.GOOS, cmd.CommandPath(), rest, err)
			continue
		}
		for _, f := range c.flags {
			if cmd.Flags().Lookup(f) == nil {
				t.Errorf("cso %s (GOOS %s) has no --%s", c.path, runtime.GOOS, f)
			}
		}
	}
}

// TestKeysRotateAWSPrintsSSM: with --print, on AWS the command says how keystone01 rotates.
func TestKeysRotateAWSPrintsSSM(t *testing.T) {
	envDir := keysEnvDir(t, "")
	code, out, _ := runCSO(t, "keys", "rotate", "fernet", "--env", "t", "--force", "--print", "--env-dir", envDir)
	for _, want := range []string{"aws ssm send-command --region eu-west-2", "Key=tag:Name,Values=keystone01",
		"cso agent --env t --account-id 111122223333 --role keystone --index 1 --region eu-west-2 --rotate-fernet --force-rotation", "keystone02"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

// TestKeysStatusAWSReadsTheBucket: on AWS, status reads each Keystone node's status document
// from the environment's bucket; with the S3 endpoint unreachable (a closed port on
// 127.0.0.1), each node is "unknown" with the reason, and the command still reports.
func TestKeysStatusAWSReadsTheBucket(t *testing.T) {
	envDir := keysEnvDir(t, "")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	code, out, errOut := runCSO(t, "keys", "status", "--env", "t", "--env-dir", envDir)
	for _, want := range []string{"fernet key set (the Keystone nodes' status documents)", "credential key set (the Keystone nodes' status documents)",
		"keystone01  unknown", "keystone02  unknown", "127.0.0.1:1"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
}

// TestKeysLocalDirNeedsALocalTarget: --local-dir reads a local target (Linux: the directory
// must be one that cso local up made; elsewhere: Linux only), exit 2 either way.
func TestKeysLocalDirNeedsALocalTarget(t *testing.T) {
	envDir := keysEnvDir(t, "")
	want := "cso local up"
	if runtime.GOOS != "linux" {
		want = "runs on Linux only"
	}
	for _, args := range [][]string{
		{"keys", "status", "--local-dir", t.TempDir()},
		{"keys", "rotate", "fernet", "--local-dir", t.TempDir()},
	} {
		code, _, errOut := runCSO(t, append(args, "--env-dir", envDir)...)
		if code != ExitUsage || !strings.Contains(errOut, want) {
			t.Errorf("cso %s: exit %d, stderr %q; want 2 and %q", strings.Join(args, " "), code, errOut, want)
		}
	}
}
