package check

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/backup"
)

// The newest backup's age against the schedule: ok, warn after a missed run, fail after
// two, each naming the age.
func TestBackupAgeAgainstSchedule(t *testing.T) {
	ctx := context.Background()
	s := backup.Dir{Path: t.TempDir()}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if o := BackupAge(ctx, s, 24*time.Hour, now); o.Status != OK || !strings.Contains(o.Detail, "no backup yet") {
		t.Errorf("no backups: %+v", o)
	}
	m := &backup.Manifest{ID: backup.NewID(now.Add(-40 * time.Hour)), Env: "dev", Created: now.Add(-40 * time.Hour)}
	if err := backup.Write(ctx, s, m, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want Status
		age  string
	}{
		{now.Add(-20 * time.Hour), OK, "20h0m0s"},
		{now, Warn, "40h0m0s"},
		{now.Add(40 * time.Hour), Fail, "80h0m0s"},
	} {
		o := BackupAge(ctx, s, 24*time.Hour, c.at)
		if o.Status != c.want || !strings.Contains(o.Detail, c.age) {
			t.Errorf("at %s: %s %q (want %s with age %s)", c.at, o.Status, o.Detail, c.want, c.age)
		}
	}
}
