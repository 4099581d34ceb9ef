//go:build linux

package cli

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/local"
)

// TestLocalRestartBadInput: restart refuses, with exit 2 and before touching anything, a
// directory that holds no local target and two different directories.
func TestLocalRestartBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	for _, flag := range []string{"--local-dir", "--dir"} {
		code, _, stderr := runCSO(t, "local", "restart", flag, dir)
		if code != ExitUsage || !strings.Contains(stderr, "no local target in "+dir) {
			t.Errorf("%s on an empty directory: exit %d, %q", flag, code, stderr)
		}
	}
	code, _, stderr := runCSO(t, "local", "restart", "--local-dir", dir, "--dir", dir+"2")
	if code != ExitUsage || !strings.Contains(stderr, "name different directories") {
		t.Errorf("two directories: exit %d, %q", code, stderr)
	}
	// The same directory twice is fine (then it is the missing target that stops it).
	if code, _, stderr := runCSO(t, "local", "restart", "--local-dir", dir, "--dir", dir); code != ExitUsage || !strings.Contains(stderr, "no local target") {
		t.Errorf("same directory twice: exit %d, %q", code, stderr)
	}
}

// TestLocalUpUnreachableDir: `local up` in a directory that a daemon user cannot search
// (mktemp -d makes them 0700) is refused before anything is written: exit 2, naming the
// user, the directory and the blocking parent.
func TestLocalUpUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemons switch users only when cso runs as root")
	}
	var daemon string
	for _, name := range local.DaemonUsers {
		if _, err := user.Lookup(name); err == nil {
			daemon = name
			break
		}
	}
	if daemon == "" {
		t.Skip("no daemon user on this machine: scripts/install-deps.sh --runtime")
	}
	// Not t.TempDir: its parent is 0700 itself.
	private, err := os.MkdirTemp("", "cso-reach-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(private, "stack")
	_, self, _, _ := runtime.Caller(0)
	envDir := filepath.Join(filepath.Dir(self), "..", "..", "environments")
	code, _, stderr := runCSO(t, "--env-dir", envDir, "local", "up", "--local-dir", dir)
	if code != ExitUsage || !strings.Contains(stderr, "user "+daemon+" ") || !strings.Contains(stderr, "cannot reach "+dir) ||
		!strings.Contains(stderr, private+" is mode 0700") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused up created %s (%v)", dir, err)
	}
	// Opened for others to search, the same place passes the check (a dry run writes nothing).
	if err := os.Chmod(private, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := local.Reachable(dir); err != nil {
		t.Errorf("0711 parent: %v", err)
	}
}

// TestUpReportSeparatesInternalPorts: `local up` lists what clients connect to under
// Endpoints and the ports only a host itself or its role's other nodes use (Keystone's WSGI
// back end, memcached, Erlang distribution, epmd) apart, so nobody points a client at them.
func TestUpReportSeparatesInternalPorts(t *testing.T) {
	env, err := envfile.Load("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	g := &Globals{Stdout: &out, Stderr: io.Discard}
	writeUpReport(g, &local.UpResult{}, local.Options{Dir: t.TempDir(), HA: true, Env: env})
	text := out.String()
	endpoints, internal, found := strings.Cut(text, "\nInternal ports")
	if !found {
		t.Fatalf("no internal ports section:\n%s", text)
	}
	internal, _, _ = strings.Cut(internal, "\nCA certificate:")
	for _, want := range []string{" keystone01 ", " keystone ", " amqps ", " management ", " admin ", " nginx ", " mysql "} {
		if !strings.Contains(endpoints, want) {
			t.Errorf("endpoints lack %q:\n%s", want, endpoints)
		}
	}
	for _, name := range []string{"keystone-wsgi", "memcached", "dist", "epmd"} {
		if strings.Contains(endpoints, " "+name+" ") {
			t.Errorf("endpoints list the internal port %s:\n%s", name, endpoints)
		}
		if !strings.Contains(internal, " "+name+" ") {
			t.Errorf("internal ports lack %s:\n%s", name, internal)
		}
	}
}
