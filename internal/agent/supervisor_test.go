package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSupervisorLifecycle(t *testing.T) {
	dir := t.TempDir()
	sup := Supervisor{RunDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")}
	cfg := filepath.Join(dir, "daemon.conf")
	if err := os.WriteFile(cfg, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	spec := ServiceSpec{
		Name:        "daemon",
		Command:     []string{"/bin/sh", "-c", "echo started; touch " + ready + "; exec sleep 60"},
		ConfigFiles: []string{cfg},
		Ready: func(context.Context) error {
			_, err := os.Stat(ready)
			return err
		},
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  5 * time.Second,
	}
	ctx := context.Background()
	if c, err := sup.Check(spec); err != nil || !c.Needed {
		t.Fatalf("not started: Check = %+v, %v", c, err)
	}
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	running, st, err := sup.Running("daemon")
	if err != nil || !running {
		t.Fatalf("Running = %v, %v", running, err)
	}
	if err := syscall.Kill(st.PID, 0); err != nil {
		t.Fatalf("recorded pid %d is not alive: %v", st.PID, err)
	}
	if c, _ := sup.Check(spec); c.Needed {
		t.Errorf("running, same configuration: Check = %+v, want no change", c)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log", "daemon.log"))
	if !strings.Contains(string(log), "started") {
		t.Errorf("daemon output not in its log: %q", log)
	}
	// A configuration change restarts it.
	os.WriteFile(cfg, []byte("v2"), 0o644)
	c, _ := sup.Check(spec)
	if !c.Needed || !strings.Contains(c.Summary, "configuration changed") {
		t.Fatalf("changed configuration: Check = %+v", c)
	}
	os.Remove(ready)
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	_, st2, _ := sup.Running("daemon")
	if st2.PID == st.PID || alive(st.PID, st.StartTicks) {
		t.Errorf("not restarted: old pid %d, new %d", st.PID, st2.PID)
	}
	// Running but not ready: restarted.
	os.Remove(ready)
	if c, _ := sup.Check(spec); !c.Needed || !strings.Contains(c.Summary, "not ready") {
		t.Errorf("not ready: Check = %+v", c)
	}
	if err := sup.Stop(ctx, "daemon"); err != nil {
		t.Fatal(err)
	}
	if alive(st2.PID, st2.StartTicks) {
		t.Error("process still alive after Stop")
	}
	if _, err := sup.State("daemon"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after Stop: %v", err)
	}
	if err := sup.Stop(ctx, "daemon"); err != nil {
		t.Errorf("Stop of a stopped service: %v", err)
	}
}

func TestSupervisorEarlyExit(t *testing.T) {
	dir := t.TempDir()
	sup := Supervisor{RunDir: dir, LogDir: dir}
	start := time.Now()
	err := sup.Start(context.Background(), nil, ServiceSpec{
		Name:         "broken",
		Command:      []string{"/bin/sh", "-c", "echo bad configuration line 3 >&2; exit 3"},
		Ready:        func(context.Context) error { return errors.New("not listening") },
		ReadyTimeout: time.Minute,
	})
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "bad configuration line 3") {
		t.Fatalf("error %v: want the early exit with the log's last lines", err)
	}
	// Started StartAttempts times (as Restart=on-failure would), each exit noticed at once:
	// never the ready timeout.
	if limit := time.Duration(StartAttempts-1)*StartRetryDelay + 10*time.Second; time.Since(start) > limit {
		t.Errorf("early exit noticed after %s: it must not wait for the ready timeout", time.Since(start))
	}
	log, _ := os.ReadFile(filepath.Join(dir, "broken.log"))
	if n := strings.Count(string(log), "supervisor: starting"); n != StartAttempts {
		t.Errorf("started %d times, want %d:\n%s", n, StartAttempts, log)
	}
}

func TestSupervisorKillsStubbornProcess(t *testing.T) {
	dir := t.TempDir()
	sup := Supervisor{RunDir: dir, LogDir: dir}
	ctx := context.Background()
	err := sup.Start(ctx, nil, ServiceSpec{
		Name:        "stubborn",
		Command:     []string{"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"},
		StopTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, st, _ := sup.Running("stubborn")
	time.Sleep(100 * time.Millisecond) // let the shell install its trap
	start := time.Now()
	if err := sup.Stop(ctx, "stubborn"); err != nil {
		t.Fatal(err)
	}
	if alive(st.PID, st.StartTicks) {
		t.Error("process survived SIGKILL")
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("Stop took %s, want about the stop timeout", d)
	}
}

func TestWaitForIsBounded(t *testing.T) {
	start := time.Now()
	err := WaitFor(context.Background(), nil, "nothing", 300*time.Millisecond, func(context.Context) error { return errors.New("no") })
	if err == nil || !strings.Contains(err.Error(), "gave up waiting for nothing") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("WaitFor ran %s past its 300ms bound", time.Since(start))
	}
	n := 0
	if err := WaitFor(context.Background(), nil, "third try", 5*time.Second, func(context.Context) error {
		n++
		if n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("WaitFor = %v after %d probes", err, n)
	}
}

type countTask struct {
	name    string
	needed  bool
	applied *int
	fail    bool
	delay   time.Duration
}

func (c countTask) Name() string { return c.name }
func (c countTask) Check(context.Context, *Runtime) (Change, error) {
	if !c.needed {
		return NoChange, nil
	}
	return Change{Needed: true, Summary: "do " + c.name}, nil
}
func (c countTask) Apply(ctx context.Context, _ *Runtime) error {
	select {
	case <-time.After(c.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	*c.applied++
	if c.fail {
		return errors.New(c.name + " failed")
	}
	return nil
}

func TestParallelAndSequence(t *testing.T) {
	var a, b, c int
	p := Parallel{TaskName: "p", Tasks: []Task{
		countTask{name: "a", needed: true, applied: &a, delay: 300 * time.Millisecond},
		countTask{name: "b", needed: false, applied: &b},
		countTask{name: "c", needed: true, applied: &c, delay: 300 * time.Millisecond},
	}}
	ch, err := p.Check(context.Background(), nil)
	if err != nil || !ch.Needed || ch.Summary != "do a; do c" {
		t.Fatalf("Check = %+v, %v", ch, err)
	}
	start := time.Now()
	if err := p.Apply(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if a != 1 || b != 0 || c != 1 {
		t.Errorf("applied a=%d b=%d c=%d, want 1 0 1", a, b, c)
	}
	if d := time.Since(start); d > 550*time.Millisecond {
		t.Errorf("parallel tasks took %s: they ran one after the other", d)
	}
	var x, y int
	s := Sequence{TaskName: "s", Tasks: []Task{
		countTask{name: "x", needed: true, applied: &x, fail: true},
		countTask{name: "y", needed: true, applied: &y},
	}}
	if err := s.Apply(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "x failed") {
		t.Errorf("Sequence error = %v", err)
	}
	if y != 0 {
		t.Error("Sequence ran a task after a failure")
	}
}

// TestSupervisorCreatesRuntimeDirs: the supervisor creates a service's runtime directories
// with their owner and mode before every start, as systemd does, so a daemon finds them
// after the run tree was emptied (a reboot).
func TestSupervisorCreatesRuntimeDirs(t *testing.T) {
	dir := t.TempDir()
	sup := Supervisor{RunDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")}
	dirs := []RuntimeDir{{Path: filepath.Join(dir, "run", "demo"), Mode: 0o750}}
	if os.Geteuid() == 0 {
		dirs = append(dirs, RuntimeDir{Path: filepath.Join(dir, "run", "mq", "pid"), Owner: "daemon", Mode: 0o700})
	}
	marker := filepath.Join(dirs[0].Path, "demo.pid")
	spec := ServiceSpec{
		Name: "demo",
		// The daemon writes into its runtime directory at once, as nginx writes its pid file.
		Command:     []string{"/bin/sh", "-c", "echo $$ > " + marker + " && exec sleep 60"},
		RuntimeDirs: dirs,
		Ready: func(context.Context) error {
			_, err := os.Stat(marker)
			return err
		},
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  5 * time.Second,
	}
	ctx := context.Background()
	for round := 1; round <= 2; round++ {
		if err := sup.Ensure(ctx, nil, spec); err != nil {
			t.Fatalf("start %d: %v", round, err)
		}
		for _, d := range dirs {
			assertDir(t, d.Path, d)
		}
		if err := sup.Stop(ctx, "demo"); err != nil {
			t.Fatal(err)
		}
		// A reboot: the run tree is empty; the next start must recreate it.
		if err := os.RemoveAll(sup.RunDir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(sup.RunDir); !os.IsNotExist(err) {
		t.Fatalf("run tree not emptied: %v", err)
	}
	bad := spec
	bad.RuntimeDirs = []RuntimeDir{{Path: "relative/dir"}}
	if err := sup.Start(ctx, nil, bad); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative runtime directory: %v", err)
	}
}
