package jump

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/backup"
	"github.com/cso-ssp/platform/internal/envfile"
)

// The schedule of the jump server's backups on the local target: started at the first run,
// due one interval later when there is no backup, then whenever the newest is older than
// the interval; when due it runs `cso backup --local-dir DIR` with the env file's retention.
func TestBackupScheduleDueAndCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir() // the local target's directory
	host := filepath.Join(dir, "hosts", "jump-server-1")
	p := agent.Paths{Root: host, Data: filepath.Join(host, "data"), Log: filepath.Join(host, "log"), Run: filepath.Join(host, "run"),
		Status: filepath.Join(dir, "status"), Scripts: filepath.Join(dir, "shared", "scripts")}
	for _, d := range []string{p.Log, p.Run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The "cso" the schedule runs records its arguments.
	argsFile := filepath.Join(dir, "args")
	exe := filepath.Join(dir, "cso")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho \"$@\" > "+argsFile+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep := 3
	env := &envfile.Env{Name: "dev", Backup: envfile.Backup{RetentionCount: &keep}}
	rt := &agent.Runtime{Env: env, Paths: p, Platform: agent.NewLocal(p.Run, p.Log), Executable: exe}
	task := backupTask().(agent.FuncTask)
	due := func(want bool, what string) {
		t.Helper()
		c, err := task.CheckFunc(ctx, rt)
		if err != nil {
			t.Fatal(err)
		}
		if c.Needed != want {
			t.Fatalf("%s: needed %v (%s), want %v", what, c.Needed, c.Summary, want)
		}
	}
	due(true, "first run")
	if err := task.ApplyFunc(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(argsFile); err == nil {
		t.Fatal("the first run took a backup (it only starts the schedule)")
	}
	due(false, "schedule just started")
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(scheduleStart(p), old, old); err != nil {
		t.Fatal(err)
	}
	due(true, "no backup one interval after the start")
	store := backup.Dir{Path: filepath.Join(dir, "backups")}
	write := func(age time.Duration) {
		m := &backup.Manifest{ID: backup.NewID(time.Now().Add(-age)), Env: "dev", Created: time.Now().Add(-age)}
		if err := backup.Write(ctx, store, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	write(30 * time.Hour)
	due(true, "newest backup 30h old, schedule 24h")
	write(time.Hour)
	due(false, "newest backup 1h old")
	// Due: the schedule runs the operator's command with the env file's retention.
	write(0)
	os.RemoveAll(store.Path)
	write(26 * time.Hour)
	if err := task.ApplyFunc(ctx, rt); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "backup --local-dir " + dir + " --keep-count 3 --keep-days 30"
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("the schedule ran %q, want %q", strings.TrimSpace(string(got)), want)
	}
	if log, _ := os.ReadFile(filepath.Join(p.Log, BackupLog)); !strings.Contains(string(log), want) {
		t.Errorf("%s does not record the command: %q", BackupLog, log)
	}
	zero := 0
	env.Backup.IntervalHours = &zero
	due(false, "schedule off")
}
