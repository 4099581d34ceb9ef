package check

import (
	"context"
	"time"

	"github.com/cso-ssp/platform/internal/backup"
	"github.com/cso-ssp/platform/internal/jsondur"
)

// Backup age thresholds, in intervals of the schedule: a missed run warns, two missed fail.
const (
	BackupWarnIntervals = 1.5
	BackupFailIntervals = 3
)

// backupProbes judge the newest backup's age against the env file's schedule
// (backup.interval_hours); an environment without a schedule has no such probe.
func (c *Checker) backupProbes() []Probe {
	if c.t.BackupIntervalMS <= 0 {
		return nil
	}
	store := c.opts.Backups
	if store == nil && c.t.BackupDir != "" {
		store = backup.Dir{Path: c.t.BackupDir}
	}
	return []Probe{{Check: "backup age", Target: "backups", Group: GroupHost, Timeout: 30 * time.Second, Run: func(ctx context.Context) Outcome {
		if store == nil {
			return fail("no backup store known for %s", c.t.Env)
		}
		return BackupAge(ctx, store, jsondur.FromMillis(c.t.BackupIntervalMS), c.opts.Now())
	}}}
}

// BackupAge judges the newest backup in store against the schedule interval: ok within
// 1.5 intervals, warn up to 3, fail beyond, each with the age. No backup yet is ok, said
// so: the jump server's schedule takes the first one an interval after its first run.
func BackupAge(ctx context.Context, store backup.Store, interval time.Duration, now time.Time) Outcome {
	list, err := backup.List(ctx, store)
	if err != nil {
		return fail("list backups in %s: %v", store.Where(), err)
	}
	if len(list) == 0 {
		return ok("no backup yet in %s (the jump server's schedule, every %s, takes the first one an interval after its first run)", store.Where(), interval)
	}
	newest := list[0]
	age := now.Sub(newest.Created).Round(time.Minute)
	switch {
	case age > time.Duration(BackupFailIntervals*float64(interval)):
		return fail("newest backup %s is %s old: the schedule is every %s (more than %.0f intervals without a backup)", newest.ID, age, interval, float64(BackupFailIntervals))
	case age > time.Duration(BackupWarnIntervals*float64(interval)):
		return warn("newest backup %s is %s old: the schedule is every %s (a scheduled backup was missed)", newest.ID, age, interval)
	}
	return ok("newest backup %s is %s old (%d kept; schedule every %s)", newest.ID, age, len(list), interval)
}
