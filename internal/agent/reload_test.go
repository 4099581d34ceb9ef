package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSupervisorReloadsOnCertificateChange: a change of a ReloadFile signals the running
// daemon (same pid) instead of restarting it; a change of a ConfigFile still restarts it.
func TestSupervisorReloadsOnCertificateChange(t *testing.T) {
	dir := t.TempDir()
	sup := Supervisor{RunDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")}
	cfg, cert := filepath.Join(dir, "daemon.conf"), filepath.Join(dir, "server.crt")
	reloads := filepath.Join(dir, "reloads")
	for _, f := range []string{cfg, cert} {
		if err := os.WriteFile(f, []byte("v1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ready := filepath.Join(dir, "ready")
	// The daemon counts the USR1 it receives in a file: the reload is the daemon's own doing.
	script := "trap 'echo reload >> " + reloads + "' USR1; touch " + ready + "; while :; do sleep 0.1; done"
	spec := ServiceSpec{
		Name:        "daemon",
		Command:     []string{"/bin/sh", "-c", script},
		ConfigFiles: []string{cfg},
		ReloadFiles: []string{cert},
		Reload:      Reload{Signal: "USR1"},
		Ready: func(context.Context) error {
			_, err := os.Stat(ready)
			return err
		},
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  5 * time.Second,
	}
	ctx := context.Background()
	t.Cleanup(func() { sup.Stop(context.Background(), "daemon") })
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	_, st, _ := sup.Running("daemon")
	if c, _ := sup.Check(spec); c.Needed {
		t.Fatalf("converged: Check = %+v", c)
	}
	os.WriteFile(cert, []byte("v2"), 0o644)
	c, err := sup.Check(spec)
	if err != nil || !c.Needed || !strings.Contains(c.Summary, "reload service daemon gracefully") {
		t.Fatalf("certificate changed: Check = %+v, %v; want a graceful reload", c, err)
	}
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	_, st2, _ := sup.Running("daemon")
	if st2.PID != st.PID || !alive(st.PID, st.StartTicks) {
		t.Fatalf("reloaded by restart: pid %d -> %d", st.PID, st2.PID)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(reloads)
		if strings.Count(string(data), "reload") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon saw %d reload signals, want 1", strings.Count(string(data), "reload"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, _ := sup.Check(spec); c.Needed {
		t.Errorf("after the reload: Check = %+v, want no change", c)
	}
	// A configuration change is still a restart.
	os.WriteFile(cfg, []byte("v2"), 0o644)
	if c, _ := sup.Check(spec); !c.Needed || !strings.Contains(c.Summary, "configuration changed") {
		t.Fatalf("configuration changed: Check = %+v", c)
	}
	os.Remove(ready)
	if err := sup.Ensure(ctx, nil, spec); err != nil {
		t.Fatal(err)
	}
	if _, st3, _ := sup.Running("daemon"); st3.PID == st.PID {
		t.Errorf("configuration change did not restart (pid %d kept)", st.PID)
	}
}

// TestReloadFilesWithoutReloadRestart: a spec with ReloadFiles but no way to reload treats
// them as configuration (restart), so a role cannot lose a certificate change.
func TestReloadFilesWithoutReloadRestart(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "server.crt")
	os.WriteFile(cert, []byte("v1"), 0o644)
	spec := ServiceSpec{Name: "d", Command: []string{"x"}, ReloadFiles: []string{cert}}
	h := Hash(spec)
	if ReloadHash(spec) != "" {
		t.Error("ReloadHash without Reload must be empty")
	}
	os.WriteFile(cert, []byte("v2"), 0o644)
	if Hash(spec) == h {
		t.Error("a ReloadFile of a spec without Reload must be part of Hash")
	}
	spec.Reload = Reload{Signal: "HUP"}
	h, rh := Hash(spec), ReloadHash(spec)
	os.WriteFile(cert, []byte("v3"), 0o644)
	if Hash(spec) != h || ReloadHash(spec) == rh {
		t.Error("with Reload: the ReloadFiles move from Hash to ReloadHash")
	}
}

// TestAL2023ServiceReload: on Amazon Linux the unit gets ExecReload, and a certificate
// change is `systemctl reload`, never restart.
func TestAL2023ServiceReload(t *testing.T) {
	dir := t.TempDir()
	r := &recordRunner{}
	p := &AL2023{Runner: r, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
	cert := filepath.Join(dir, "server.crt")
	os.WriteFile(cert, []byte("v1"), 0o644)
	spec := ServiceSpec{Name: "keystone-httpd", Command: []string{"/usr/sbin/httpd", "-DFOREGROUND"},
		ReloadFiles: []string{cert}, Reload: Reload{Signal: "USR1"}}
	task := p.Service(spec)
	ctx := context.Background()
	if err := task.Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "units", "keystone-httpd.service"))
	if !strings.Contains(string(unit), "\nExecReload=/bin/kill -s USR1 $MAINPID\n") {
		t.Errorf("unit without ExecReload:\n%s", unit)
	}
	r.active = true
	if c, _ := task.Check(ctx, &Runtime{}); c.Needed {
		t.Fatalf("converged: Check = %+v", c)
	}
	os.WriteFile(cert, []byte("v2"), 0o644)
	c, _ := task.Check(ctx, &Runtime{})
	if !c.Needed || !strings.Contains(c.Summary, "reload keystone-httpd.service gracefully") {
		t.Fatalf("certificate changed: Check = %+v", c)
	}
	r.calls = nil
	if err := task.Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	var ran []string
	for _, call := range flat(r.calls) {
		if !strings.Contains(call, "is-active") {
			ran = append(ran, call)
		}
	}
	if strings.Join(ran, "|") != "systemctl reload keystone-httpd.service" {
		t.Errorf("commands %v, want only systemctl reload", ran)
	}
	if c, _ := task.Check(ctx, &Runtime{}); c.Needed {
		t.Errorf("after the reload: Check = %+v", c)
	}
	// A command reload (RabbitMQ) is the unit's ExecReload as written.
	cmd := ServiceSpec{Name: "rabbitmq", Command: []string{"rabbitmq-server"},
		Reload: Reload{Command: []string{"rabbitmqctl", "eval", "ssl:clear_pem_cache()."}}}
	if u := RenderUnit(cmd, ""); !strings.Contains(u, "\nExecReload=rabbitmqctl eval ssl:clear_pem_cache().\n") {
		t.Errorf("command reload not in unit:\n%s", u)
	}
}
