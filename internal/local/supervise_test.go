package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitUntil polls cond every 50 ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, timeout)
	return 0
}

// TestWatcherRestartsACrashedDaemonWithBackoff: a daemon killed with SIGKILL comes back by
// itself, the crash is recorded with its signal and judged by the check engine (fail while
// down, warn once back), a second crash in a row waits twice as long, and a deliberate stop
// is not fought.
func TestWatcherRestartsACrashedDaemonWithBackoff(t *testing.T) {
	l := Layout{Dir: t.TempDir()}
	p := l.Paths("host1")
	sup := agent.Supervisor{RunDir: p.Run, LogDir: p.Log}
	runtimeDir := filepath.Join(p.Run, "daemon")
	spec := agent.ServiceSpec{
		Name: "daemon", Command: []string{"/bin/sh", "-c", "echo up; exec sleep 300"}, Env: []string{"A=1"},
		SecretEnv: []string{"SECRET=s3"}, Dir: t.TempDir(), StopTimeout: 5 * time.Second,
		RuntimeDirs: []agent.RuntimeDir{{Path: runtimeDir}},
	}
	ctx := context.Background()
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(context.Background(), "daemon") })
	if fi, err := os.Stat(filepath.Join(p.Run, "supervise", "daemon.secret-env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret environment for restarts: %v, %v (want a 0600 file)", fi, err)
	}
	_, st0, _ := sup.Running("daemon")

	var out lockedBuffer
	w := NewWatcher(l, &out)
	w.Poll, w.BaseDelay, w.MaxDelay = 50*time.Millisecond, 600*time.Millisecond, 5*time.Second
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()

	// First crash: back after about BaseDelay.
	os.RemoveAll(runtimeDir) // a restart recreates the runtime directories too
	if err := syscall.Kill(st0.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitUntil(t, 5*time.Second, "crash recorded", func() bool { cs, _ := sup.Crashes("daemon"); return len(cs) == 1 })
	if o := check.DaemonRestarts(sup, time.Now()); o.Status != check.Fail || !strings.Contains(o.Detail, "SIGKILL") {
		t.Errorf("while down: check = %s %q, want fail naming SIGKILL", o.Status, o.Detail)
	}
	var st1 agent.ServiceState
	waitUntil(t, 5*time.Second, "restart after the first crash", func() bool {
		ok, st, _ := sup.Running("daemon")
		st1 = st
		return ok && st.PID != st0.PID
	})
	first := time.Since(killed)
	if first < w.BaseDelay {
		t.Errorf("restarted %s after the crash, before the backoff of %s", first, w.BaseDelay)
	}
	if _, err := os.Stat(runtimeDir); err != nil {
		t.Errorf("runtime directory not recreated at the restart: %v", err)
	}
	env, _ := os.ReadFile("/proc/" + itoa(st1.PID) + "/environ")
	if !bytes.Contains(env, []byte("SECRET=s3")) || !bytes.Contains(env, []byte("A=1")) {
		t.Errorf("restarted process lacks its environment: %q", env)
	}
	if st1.Hash != st0.Hash {
		t.Error("a restart after a crash changed the recorded configuration hash (the next agent run would restart it again)")
	}
	cs, _ := sup.Crashes("daemon")
	if len(cs) != 1 || cs[0].Signal != "SIGKILL" || cs[0].NewPID != st1.PID || cs[0].Count != 1 || cs[0].Restarted.IsZero() {
		t.Fatalf("crash record = %+v", cs)
	}
	waitUntil(t, 2*time.Second, "check after the recovery", func() bool {
		o := check.DaemonRestarts(sup, time.Now())
		return o.Status == check.Warn && strings.Contains(o.Detail, "restarted 1 time(s) in the last hour, last after SIGKILL") && strings.Contains(o.Detail, "running again")
	})
	t.Logf("first crash: back in %s (backoff %s)", first.Round(time.Millisecond), w.BaseDelay)

	// Second crash in a row: the backoff doubles.
	syscall.Kill(st1.PID, syscall.SIGKILL)
	killed = time.Now()
	waitUntil(t, 8*time.Second, "restart after the second crash", func() bool {
		ok, st, _ := sup.Running("daemon")
		return ok && st.PID != st1.PID
	})
	second := time.Since(killed)
	if second < 2*w.BaseDelay {
		t.Errorf("second crash in a row restarted after %s, want at least %s", second, 2*w.BaseDelay)
	}
	cs, _ = sup.Crashes("daemon")
	if len(cs) != 2 || cs[1].Count != 2 || time.Duration(cs[1].Delay) != 2*w.BaseDelay {
		t.Errorf("second crash record = %+v", cs)
	}
	t.Logf("second crash: back in %s (backoff %s)", second.Round(time.Millisecond), 2*w.BaseDelay)

	// A deliberate stop is not a crash.
	if err := sup.Stop(ctx, "daemon"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * w.MaxDelay / 5)
	if ok, _, _ := sup.Running("daemon"); ok {
		t.Error("the watcher started a service that was stopped on purpose")
	}
	if cs, _ := sup.Crashes("daemon"); len(cs) != 2 {
		t.Errorf("a deliberate stop was recorded as a crash: %+v", cs)
	}
	if !strings.Contains(out.String(), "restarted daemon") {
		t.Errorf("watcher output:\n%s", out.String())
	}
}

// TestWatcherLeavesALockedServiceAlone: while an agent holds a service's lock (it is
// stopping or starting it), the watcher does not start it.
func TestWatcherLeavesALockedServiceAlone(t *testing.T) {
	l := Layout{Dir: t.TempDir()}
	p := l.Paths("host1")
	sup := agent.Supervisor{RunDir: p.Run, LogDir: p.Log}
	if err := sup.Ensure(context.Background(), nil, agent.ServiceSpec{Name: "d", Command: []string{"sleep", "300"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(context.Background(), "d") })
	_, st, _ := sup.Running("d")
	unlock, ok, err := sup.TryLock("d")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	syscall.Kill(st.PID, syscall.SIGKILL)
	w := NewWatcher(l, nil)
	w.BaseDelay = 0
	w.pending, w.streak, w.now = map[string]*pendingRestart{}, map[string]int{}, time.Now
	waitUntil(t, 5*time.Second, "process gone", func() bool { d, _, _ := sup.Died("d"); return d })
	for range 5 {
		w.Sweep()
	}
	if ok, _, _ := sup.Running("d"); ok {
		t.Fatal("the watcher started a service whose lock another process holds")
	}
	unlock()
	w.Sweep()
	if ok, _, _ := sup.Running("d"); !ok {
		t.Fatal("not restarted once the lock was released")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
