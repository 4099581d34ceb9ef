// Package e2e runs the whole platform tier on this machine once, from nothing, with
// `cso local up --ha`, and lets every test of the package probe that one shared stack.
//
// TestMain builds the cso binary, runs `cso local up --ha` in a fresh directory (ports
// shifted by $CSO_E2E_PORT_BASE, default 0), runs the tests, and ends with `cso local down`
// (the directory is then removed unless CSO_E2E_KEEP=1).
//
// Adding a test: create a file <area>_test.go in this package and start each test with
//
//	s := requireStack(t)
//
// s (the package variable Shared) gives the binary (s.Bin, run it with s.Run), the local
// target's directory (s.Dir), its target description (s.Target: hosts, ports, CA, secrets
// directory, fernet key directories), the port base and the result of the cold `up`. The
// stack is shared: do not stop, reconfigure or purge it. A test that must disturb it (stop
// a RabbitMQ node to prove a quorum queue survives) restores it before it returns, bounded
// in time, and must not run in parallel with others (no t.Parallel()).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/target"
)

// Stack is the local target every test of the package shares.
type Stack struct {
	Repo     string // repository root
	EnvDir   string // environment files: env.dev.yaml with the fixture application package
	Bin      string // the cso binary under test
	Dir      string // the local target's directory
	PortBase int
	Target   *target.Target
	// Up is the result of the cold `cso local up --ha`, UpLog its progress output, ColdUp
	// how long it took, UpExit its exit code.
	Up     *local.UpResult
	UpLog  string
	ColdUp time.Duration
	UpExit int
	// UpServerErrors are the Keystone requests answered 5xx during the cold up (access log
	// lines of both Apache instances of every node), read before any test ran.
	UpServerErrors []string
}

// Shared is the stack of this test run; nil when it could not be brought up (see skipWhy).
var Shared *Stack

var skipWhy string

// requireStack returns the shared stack, or skips (fails under CI=true) when the machine
// cannot run it.
func requireStack(t testing.TB) *Stack {
	t.Helper()
	if Shared == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no local stack: %s", skipWhy)
		}
		t.Skipf("no local stack: %s", skipWhy)
	}
	return Shared
}

// Run runs the cso binary with args (plus --env-dir) and returns stdout,
// stderr and the exit code.
func (s *Stack) Run(ctx context.Context, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, s.Bin, append(args, "--env-dir", s.EnvDir)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Dir = s.Repo
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode(), nil
	}
	return o.String(), e.String(), 0, err
}

// UpArgs are the arguments of `cso local up` for this stack.
func (s *Stack) UpArgs(extra ...string) []string {
	return append([]string{"local", "up", "--ha", "--local-dir", s.Dir, "--port-base", strconv.Itoa(s.PortBase)}, extra...)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no go.mod above " + dir)
}

func prerequisites() string {
	if os.Geteuid() != 0 {
		return "the local target runs daemons as their own users: run as root"
	}
	for _, bin := range []string{"/usr/sbin/mariadbd", "/usr/sbin/apache2", "keystone-manage", "/usr/bin/memcached", "/usr/sbin/rabbitmq-server", "/usr/sbin/nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is missing: run scripts/install-deps.sh --runtime"
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	code := run(m)
	awstest.Stop()
	os.Exit(code)
}

func run(m *testing.M) int {
	if why := prerequisites(); why != "" {
		skipWhy = why
		return m.Run()
	}
	repo, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "cso-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The daemons' users must reach the directory (MkdirTemp makes it 0700).
	if err := os.Chmod(tmp, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	keep := os.Getenv("CSO_E2E_KEEP") == "1"
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()
	s := &Stack{Repo: repo, Bin: filepath.Join(tmp, "cso"), Dir: filepath.Join(tmp, "local")}
	if v := os.Getenv("CSO_E2E_PORT_BASE"); v != "" {
		if s.PortBase, err = strconv.Atoi(v); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: CSO_E2E_PORT_BASE:", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", s.Bin, "./cmd/cso")
	build.Dir, build.Stdout, build.Stderr = repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build:", err)
		return 1
	}
	// The application package of the project's test fixtures, so that the frontend and
	// backend roles run real services.
	pkg, err := buildFixture(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if os.Getenv("CI") == "true" {
			return 1
		}
		skipWhy = err.Error()
		return m.Run()
	}
	s.EnvDir = filepath.Join(tmp, "environments")
	if err := writeEnvDir(repo, s.EnvDir, pkg); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	start := time.Now()
	stdout, stderr, code, err := s.Run(ctx, s.UpArgs("-o", "json")...)
	s.ColdUp, s.UpExit, s.UpLog = time.Since(start), code, stderr
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cso local up:", err)
		return 1
	}
	var res local.UpResult
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr == nil {
		s.Up = &res
	}
	if t, err := target.Load(filepath.Join(s.Dir, target.FileName)); err == nil {
		s.Target = t
		s.UpServerErrors = keystoneServerErrors(s.Dir, t)
	}
	fmt.Fprintf(os.Stderr, "e2e: cso local up --ha from nothing: exit %d in %s (dir %s, port base %d)\n", code, s.ColdUp.Round(100*time.Millisecond), s.Dir, s.PortBase)
	if s.Up == nil || s.Target == nil {
		fmt.Fprintf(os.Stderr, "e2e: cso local up gave no result:\n%s\n%s\n", stdout, stderr)
	} else {
		Shared = s
	}
	if Shared == nil {
		skipWhy = "cso local up failed (see its output above)"
	}
	rc := m.Run()
	if keep {
		fmt.Fprintf(os.Stderr, "e2e: CSO_E2E_KEEP=1: the stack keeps running in %s (stop it: %s local down --dir %s)\n", s.Dir, s.Bin, s.Dir)
		return rc
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer dcancel()
	out, errOut, dcode, derr := s.Run(dctx, "local", "down", "--dir", s.Dir)
	if derr != nil || dcode != 0 {
		fmt.Fprintf(os.Stderr, "e2e: cso local down: exit %d %v\n%s%s", dcode, derr, out, errOut)
		return 1
	}
	if msg := leftovers(s.Dir); msg != "" {
		fmt.Fprintln(os.Stderr, "e2e: after cso local down:", msg)
		return 1
	}
	return rc
}

// leftovers names the supervised processes still alive after `down`.
func leftovers(dir string) string {
	rows, err := local.Status(context.Background(), dir)
	if err != nil {
		return err.Error()
	}
	for _, r := range rows {
		if len(r.Running) > 0 {
			return fmt.Sprintf("%s still runs %v", r.Host, r.Running)
		}
	}
	return ""
}
