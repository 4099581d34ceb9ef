package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBounded runs cso and fails the test when it does not return within 10 seconds:
// hostile input is refused at once, it never hangs the command.
func runBounded(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := runCSO(t, args...)
		done <- result{c, o, e}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("cso %s did not return", strings.Join(args, " "))
		return 0, "", ""
	}
}

func TestEnvValidateRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "env.fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bomb, err := os.ReadFile("../envfile/testdata/hostile/env.laughs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	laughs := filepath.Join(dir, "env.laughs.yaml")
	deep := filepath.Join(dir, "env.deep.yaml")
	bidi := filepath.Join(dir, "env.bidi.yaml")
	for p, data := range map[string]string{laughs: string(bomb), deep: "prod: " + strings.Repeat("[", 50000),
		bidi: "\xEF\xBB\xBFprod: false\n\"adm\u202enimda\x1b[2J\": x\n"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ file, want string }{
		{fifo, fifo + ": read environment file: " + fifo + " is a named pipe (FIFO), not a regular file: give the path of a file: not a regular file; check the path, --env-dir or --env"},
		{dir, dir + ": read environment file: " + dir + " is a directory, not a regular file"},
		{laughs, laughs + ":12:5: YAML anchor &a: anchors and aliases are not accepted"},
		{deep, deep + ":1:22: nested more than 16 levels deep"},
		{bidi, bidi + `:2:1: adm\u202enimda\x1b[2J: unknown field "adm\u202enimda\x1b[2J"`},
	}
	for _, c := range cases {
		code, out, _ := runBounded(t, "env", "validate", c.file)
		if code != ExitUsage || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, output:\n%s\nwant %s", c.file, code, out, c.want)
		}
		if strings.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("%s: raw control or bidi character in the output %q", c.file, out)
		}
	}
	code, out, _ := runBounded(t, "env", "validate", "-o", "json", bidi)
	if code != ExitUsage || strings.ContainsAny(out, "\x1b\u202e") || !strings.Contains(out, `adm\\u202enimda\\x1b[2J`) {
		t.Errorf("json: exit %d, %s", code, out)
	}
}

func TestLocalDownPurgeRefusesADirectoryUpDidNotCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not\u202elocal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runBounded(t, "local", "down", "--purge", "--dir", dir)
	want := "cso: refusing to purge " + strings.ReplaceAll(dir, "\u202e", `\u202e`) + ": it has no .cso-local file, so `cso local up` did not create it; nothing was removed"
	if code != ExitUsage || !strings.HasPrefix(stderr, want) || strings.Contains(stderr, "\u202e") {
		t.Errorf("exit %d, stderr %q\nwant prefix %q", code, stderr, want)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a file of the refused directory is gone: %v", err)
	}
}

// A local application.package that is not a package stops cso deploy with exit 2 before
// Terraform runs and before anything is published.
func TestDeployRefusesWhatIsNotAPackageBeforeTerraform(t *testing.T) {
	envDir, env := localEnv(t, "dev")
	f, err := os.OpenFile(env.Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("application:\n  package: notes.txt\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(envDir, "notes.txt"), []byte("release notes, not a package"), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(envDir, "terraform-ran")
	fakeTF := filepath.Join(envDir, "terraform")
	if err := os.WriteFile(fakeTF, []byte("#!/bin/sh\ntouch "+ran+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bucket := filepath.Join(envDir, "bucket")
	code, _, stderr := runBounded(t, "deploy", "--env", "dev", "--env-dir", envDir, "--terraform-dir", "../../terraform",
		"--terraform-bin", fakeTF, "--bucket-dir", bucket, "--auto-approve", "--allow-placeholders")
	want := "cso: application.package: not an application package (a .tar.gz with cso-app.yaml at its root, see docs/environments.md): " +
		filepath.Join(envDir, "notes.txt") + ": not a gzip-compressed tar file"
	if code != ExitUsage || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant prefix %s", code, stderr, want)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("terraform ran")
	}
	if _, err := os.Stat(bucket); err == nil {
		t.Error("something was published")
	}
}

func TestCheckRefusesAMySQLCAThatIsNotABundle(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		dir:    "cso: --mysql-ca: " + dir + " is a directory, not a regular file",
		fifo:   "cso: --mysql-ca: " + fifo + " is a named pipe (FIFO), not a regular file",
		notPEM: "cso: --mysql-ca: " + notPEM + " holds no PEM certificate",
	} {
		code, _, stderr := runBounded(t, "check", "--mysql-ca", path, "--target", filepath.Join(dir, "none.json"))
		if code != ExitUsage || !strings.HasPrefix(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q, want prefix %q", path, code, stderr, want)
		}
	}
}
