//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/target"
)

// The crash watcher as `cso local up` runs it, a process of its own: a daemon it did not
// start is restarted after a SIGKILL (exit status unknown to it), one it restarted is
// restarted again with the signal named; `cso check` shows both; SIGTERM ends it (exit 0).
// Then `cso logs` reads the daemon's output and refuses an unknown host or log (exit 2).
func TestSuperviseAndLogsCommands(t *testing.T) {
	bin := buildCSO(t)
	dir := t.TempDir()
	l, _ := local.NewLayout(dir)
	h := inventory.Host{Name: "keystone01", Role: envfile.RoleKeystone, Address: "127.0.0.1"}
	tg := &target.Target{Env: "dev", Kind: target.KindLocal, MySQL: "127.0.0.1:13306", StatusDir: l.StatusDir(),
		Hosts: []inventory.Host{h}, HostDirs: map[string]string{h.Name: l.HostRoot(h.Name)}}
	if err := tg.Save(l.TargetFile()); err != nil {
		t.Fatal(err)
	}
	p := l.Paths(h.Name)
	sup := agent.Supervisor{RunDir: p.Run, LogDir: p.Log}
	spec := agent.ServiceSpec{Name: "keystone01-httpd", Command: []string{"/bin/sh", "-c", "echo listening on 5000; exec sleep 300"}}
	if err := sup.Ensure(context.Background(), nil, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(context.Background(), spec.Name) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wout bytes.Buffer
	watcher := exec.CommandContext(ctx, bin, "local", "supervise", "--local-dir", dir)
	watcher.Stdout, watcher.Stderr = &wout, &wout
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	defer watcher.Process.Kill()

	restarts := func() check.Outcome { return check.DaemonRestarts(agent.Supervisor{RunDir: p.Run}, time.Now()) }
	killAndWait := func() agent.ServiceState {
		t.Helper()
		_, st, _ := sup.Running(spec.Name)
		syscall.Kill(st.PID, syscall.SIGKILL)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if ok, now, _ := sup.Running(spec.Name); ok && now.PID != st.PID {
				return now
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("not restarted by cso local supervise; its output:\n%s", wout.String())
		return st
	}
	// The watcher records the restart just after it started the daemon: poll (bounded).
	restartsSay := func(want string) check.Outcome {
		t.Helper()
		var o check.Outcome
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if o = restarts(); o.Status == check.Warn && strings.Contains(o.Detail, want) {
				break
			}
		}
		return o
	}
	killAndWait()
	if o := restartsSay("restarted 1 time(s) in the last hour, last after an unknown exit status"); o.Status != check.Warn || !strings.Contains(o.Detail, "restarted 1 time(s) in the last hour, last after an unknown exit status") {
		t.Errorf("after the first crash: %s %q", o.Status, o.Detail)
	}
	killAndWait()
	if o := restartsSay("restarted 2 time(s) in the last hour, last after SIGKILL"); o.Status != check.Warn || !strings.Contains(o.Detail, "restarted 2 time(s) in the last hour, last after SIGKILL") {
		t.Errorf("after the second crash: %s %q", o.Status, o.Detail)
	}
	// cso check reports the same probe.
	var cout, cerr bytes.Buffer
	c := exec.CommandContext(ctx, bin, "check", "--local-dir", dir, "-o", "json")
	c.Stdout, c.Stderr = &cout, &cerr
	_ = c.Run() // other probes fail: nothing listens here
	var rep check.Report
	if err := json.Unmarshal(cout.Bytes(), &rep); err != nil {
		t.Fatalf("cso check -o json: %v\n%s\n%s", err, cout.String(), cerr.String())
	}
	found := false
	for _, r := range rep.Results {
		if r.Check == "daemon restarts" && r.Target == h.Name {
			found = r.Status == check.Warn && strings.Contains(r.Detail, "SIGKILL")
		}
	}
	if !found {
		t.Errorf("cso check has no warning about the restarts:\n%s", cout.String())
	}
	watcher.Process.Signal(syscall.SIGTERM)
	if err := watcher.Wait(); err != nil {
		t.Errorf("cso local supervise after SIGTERM: %v\n%s", err, wout.String())
	}

	// cso logs on the same target: the daemon's own output under its name.
	run := func(args ...string) (string, int) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"logs"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return out.String(), code
	}
	out, code := run(h.Name, spec.Name, "--local-dir", dir, "--grep", "supervisor: starting", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("cso logs: exit %d, want 3 lines (three starts):\n%s", code, out)
	}
	var first map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["host"] != h.Name || first["service"] != spec.Name || !strings.HasSuffix(first["message"], "supervisor: starting /bin/sh -c echo listening on 5000; exec sleep 300") {
		t.Errorf("JSON line %q: %v", lines[0], err)
	}
	if out, code := run("keystone09", "--local-dir", dir); code != 2 || !strings.Contains(out, "keystone01") {
		t.Errorf("unknown host: exit %d\n%s", code, out)
	}
	if out, code := run(h.Name, "nginx", "--local-dir", dir); code != 2 || !strings.Contains(out, spec.Name) {
		t.Errorf("unknown log: exit %d\n%s", code, out)
	}
	if out, code := run(h.Name, "--local-dir", dir, "--since", "yesterday"); code != 2 {
		t.Errorf("bad --since: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(p.Run, "supervise", spec.Name+".crashes")); err != nil {
		t.Error(err)
	}
}
