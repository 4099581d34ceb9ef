package jump

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/backup"
)

// BackupTimeout bounds one scheduled backup (an RDS snapshot of a large database takes
// long; the dump of the local target seconds).
const BackupTimeout = 2 * time.Hour

// BackupLog is the jump server's log of the scheduled backups (under its log directory).
const BackupLog = "cso-backup.log"

// scheduleStart is the file whose time starts the schedule: the first backup is due one
// interval after the jump server first converged, never in the middle of a first deploy
// (the Keystone and RabbitMQ hosts are still coming up then).
func scheduleStart(p agent.Paths) string {
	return filepath.Join(p.Data, "cso-backup", "schedule-start")
}

// backupArgs is the `cso backup` command the schedule runs: the operator's own command,
// for the local target (its directory is the parent of its status store) or for the AWS
// environment (from the description in the shared scripts store).
func backupArgs(rt *agent.Runtime) []string {
	s := rt.Env.BackupSettings()
	args := []string{rt.Executable, "backup"}
	if !rt.Distro().EC2 {
		args = append(args, "--local-dir", filepath.Dir(rt.Paths.Status))
	} else {
		args = append(args, "--env", rt.Env.Name, "--target", filepath.Join(rt.Paths.Scripts, "target.json"))
	}
	return append(args, "--keep-count", strconv.Itoa(s.RetentionCount), "--keep-days", strconv.Itoa(s.RetentionDays))
}

// backupStore is where the scheduled backups are, to find the newest: the local target's
// backups directory, or the bucket's backups/ prefix through the agent's bucket.
func backupStore(rt *agent.Runtime) backup.Store {
	if !rt.Distro().EC2 {
		return backup.Dir{Path: filepath.Join(filepath.Dir(rt.Paths.Status), "backups")}
	}
	return backup.BucketStore{Bucket: rt.Bucket}
}

// backupTask takes a backup when the newest is older than the env file's interval
// (backup.interval_hours), with its retention (cso backup --keep-count --keep-days).
func backupTask() agent.Task {
	return agent.FuncTask{
		TaskName: "scheduled backup",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			s := rt.Env.BackupSettings()
			if s.Interval == 0 || rt.Executable == "" {
				return agent.NoChange, nil
			}
			start := scheduleStart(rt.Paths)
			st, err := os.Stat(start)
			if err != nil {
				return agent.Change{Needed: true, Summary: fmt.Sprintf("start the backup schedule (every %s; the first backup one interval from now)", s.Interval)}, nil
			}
			list, err := backup.List(ctx, backupStore(rt))
			if err != nil {
				return agent.Change{}, fmt.Errorf("list backups: %w", err)
			}
			now := time.Now()
			switch {
			case len(list) > 0 && now.Sub(list[0].Created) >= s.Interval:
				return agent.Change{Needed: true, Summary: fmt.Sprintf("take a backup: the newest (%s) is %s old, the schedule is every %s", list[0].ID, now.Sub(list[0].Created).Round(time.Minute), s.Interval)}, nil
			case len(list) == 0 && now.Sub(st.ModTime()) >= s.Interval:
				return agent.Change{Needed: true, Summary: fmt.Sprintf("take a backup: none yet, the schedule (every %s) started %s ago", s.Interval, now.Sub(st.ModTime()).Round(time.Minute))}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			start := scheduleStart(rt.Paths)
			if _, err := os.Stat(start); err != nil {
				return agent.File{Path: start, Content: []byte("the backup schedule started at the jump server's first run\n"), Mode: 0o600}.Apply(ctx, rt)
			}
			logPath := filepath.Join(rt.Paths.Log, BackupLog)
			log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			defer log.Close()
			ctx, cancel := context.WithTimeout(ctx, BackupTimeout)
			defer cancel()
			args := backupArgs(rt)
			fmt.Fprintf(log, "%s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Stdout, cmd.Stderr = log, log
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("scheduled backup: %w (log: %s)", err, logPath)
			}
			rt.Progressf("  backup taken (log: %s)", logPath)
			return nil
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			s := rt.Env.BackupSettings()
			if s.Interval == 0 {
				r.Note("backup schedule off (backup.interval_hours: 0)")
				return nil
			}
			r.Note("every %s (from the first run) when the newest backup in the bucket's backups/ is older: %s >> %s",
				s.Interval, strings.Join(backupArgs(rt), " "), filepath.Join(rt.Paths.Log, BackupLog))
			return nil
		},
	}
}
