package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Shared stacks. A cold `local up` (and its down) is most of the time of a test that only
// needs a converged stack, so the tests that leave their stack converged share one per
// shape: the first of them brings it up from nothing (asserting the same as its own cold
// up did), each later one re-converges it with `up` first (which must succeed) and then
// does what it did on its own stack. The tests that destroy or alter a stack (purge,
// interrupted up, crash and down, a schedule in the env file) keep their own, and first
// take every shared stack down (ownStack): the same ports, and a quieter machine. A test
// that fails discards the stack it used, so that the next one starts from nothing.
//
// Go runs the tests of a package in file order, then declaration order: the users of a
// shape are next to each other (sharedHAKeystone: credrotation_test.go, faults_test.go and
// local_test.go, with dbreload_test.go's own stack on other ports in between; sharedSingleMQ: TestSoakOneMinute then TestBackupPurgeRestore in
// backup_test.go; sharedHAFull: restart_test.go then rolling_test.go). TestMain takes the
// last one down.

// The shapes of the shared stacks.
const (
	// sharedHAKeystone: MariaDB, the jump host and the two Keystone nodes (ksRoles, HA),
	// at testPortBase().
	sharedHAKeystone = "ha-keystone"
	// sharedSingleMQ: MariaDB, the jump host, one Keystone and one RabbitMQ node
	// (backupRoles), at testPortBase().
	sharedSingleMQ = "single-rabbitmq"
	// sharedHAFull: every role with a daemon, HA (restartRoles), at testPortBase()+700.
	sharedHAFull = "ha-full"
)

// stackShape is the Options of a shared stack (its directory aside).
func stackShape(t *testing.T, key string) Options {
	t.Helper()
	o := Options{PortBase: testPortBase(), Env: testEnv(t), Executable: csoBinary(t)}
	switch key {
	case sharedHAKeystone:
		o.HA, o.Roles = true, ksRoles()
	case sharedSingleMQ:
		o.Roles = backupRoles()
	case sharedHAFull:
		o.HA, o.Roles, o.PortBase = true, restartRoles(), testPortBase()+700
	default:
		t.Fatalf("no shared stack %q", key)
	}
	return o
}

type sharedStack struct {
	key  string
	root string // the temporary directory holding the target
	o    Options
}

var sharedStacks struct {
	mu    sync.Mutex
	stack *sharedStack // at most one at a time: they share ports and the machine
}

// upShared is the shared stack of shape key, converged: brought up from nothing (cold is
// true, res is that run's result) when none is running, else re-converged by `up`. Either
// run must succeed (no host error, no failed health check) or t fails. retryCold allows
// one more run after a failed cold up (TestRollingRestartUnderLoad's tolerance of a cold
// start on a loaded machine).
func upShared(t *testing.T, ctx context.Context, key string, retryCold bool) (o Options, res *UpResult, cold bool) {
	t.Helper()
	sharedStacks.mu.Lock()
	defer sharedStacks.mu.Unlock()
	if sharedStacks.stack != nil && sharedStacks.stack.key != key {
		if err := releaseLocked(); err != nil {
			t.Error(err)
		}
	}
	// A test that fails leaves the stack in an unknown state: the next one starts afresh.
	t.Cleanup(func() {
		if t.Failed() {
			sharedStacks.mu.Lock()
			defer sharedStacks.mu.Unlock()
			if sharedStacks.stack != nil && sharedStacks.stack.key == key {
				t.Logf("the test failed: taking the shared stack %s down", key)
				if err := releaseLocked(); err != nil {
					t.Error(err)
				}
			}
		}
	})
	var out bytes.Buffer
	if sharedStacks.stack == nil {
		root, err := os.MkdirTemp("", "cso-local-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(root, 0o755); err != nil {
			t.Fatal(err)
		}
		o = stackShape(t, key)
		o.Dir = filepath.Join(root, "shared")
		sharedStacks.stack = &sharedStack{key: key, root: root, o: o}
		o.Out = &out
		start := time.Now()
		res, err = Up(ctx, o)
		if err == nil && res.Failed() && retryCold {
			t.Logf("the first up failed; running it again:\n%s", out.String())
			out.Reset()
			res, err = Up(ctx, o)
		}
		if err != nil {
			t.Fatalf("cold up of the shared stack %s: %v\n%s", key, err, out.String())
		}
		if upFailed(t, res) {
			t.Fatalf("cold up of the shared stack %s:\n%s", key, out.String())
		}
		t.Logf("shared stack %s: cold up in %s", key, time.Since(start).Round(100*time.Millisecond))
		o.Out = nil
		return o, res, true
	}
	o = sharedStacks.stack.o
	o.Out = &out
	start := time.Now()
	res, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("re-converging the shared stack %s: %v\n%s", key, err, out.String())
	}
	if upFailed(t, res) {
		t.Fatalf("re-converging the shared stack %s:\n%s", key, out.String())
	}
	t.Logf("shared stack %s: re-converged in %s", key, time.Since(start).Round(100*time.Millisecond))
	o.Out = nil
	return o, res, false
}

// ownStack is called by a test that brings up a stack of its own: the shared one goes
// down first.
func ownStack(t *testing.T) {
	t.Helper()
	sharedStacks.mu.Lock()
	defer sharedStacks.mu.Unlock()
	if err := releaseLocked(); err != nil {
		t.Error(err)
	}
}

// releaseLocked takes the shared stack down and removes it (sharedStacks.mu held).
func releaseLocked() error {
	s := sharedStacks.stack
	if s == nil {
		return nil
	}
	sharedStacks.stack = nil
	defer os.RemoveAll(s.root)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Down(ctx, s.o.Dir, true, &out); err != nil {
		return fmt.Errorf("down of the shared stack %s: %v\n%s", s.key, err, out.String())
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedStacks.mu.Lock()
	if err := releaseLocked(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	sharedStacks.mu.Unlock()
	os.Exit(code)
}

// renewalStack is a single-node stack (MariaDB, jump, one Keystone node) of the calling
// test's own, up and converged, for the certificate renewal tests: on its own ports
// (testPortBase()+1100), so that the shared HA pair at testPortBase() stays up for the tests
// after it, and taken down when the test ends. The context bounds the whole test.
func renewalStack(t *testing.T, what string) (ctx context.Context, o Options, l Layout) {
	t.Helper()
	requireDaemons(t)
	if testing.Short() {
		t.Skip("a local stack (jump, Keystone, MariaDB) and " + what)
	}
	dir := tempDir(t) + "/stack"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	o = Options{Dir: dir, PortBase: testPortBase() + 1100, Env: testEnv(t), Roles: ksRoles(), Executable: csoBinary(t)}
	downOnCleanup(t, dir)
	stagedUp(ctx, t, o)
	l, err := NewLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, o, l
}
