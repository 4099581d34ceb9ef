package jump

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
)

func TestSyncBucketToScripts(t *testing.T) {
	dir := t.TempDir()
	bucket := filepath.Join(dir, "bucket")
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	write(filepath.Join(bucket, "scripts", "unified-server-setup.sh"), "#!/bin/sh\n")
	write(filepath.Join(bucket, "packages", "app.tar.gz"), "pkg-v1")
	write(filepath.Join(bucket, "status", "jump-server-1.json"), "{}") // not synced
	rt := &agent.Runtime{Paths: agent.Paths{Scripts: filepath.Join(dir, "scripts"), Log: filepath.Join(dir, "log")},
		Bucket: agent.DirBucket{Dir: bucket}}
	ctx := context.Background()
	task := syncTask{}
	c, err := task.Check(ctx, rt)
	if err != nil || !c.Needed || !strings.Contains(c.Summary, "copy 2 object(s)") {
		t.Fatalf("Check = %+v, %v", c, err)
	}
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "scripts", "packages", "app.tar.gz")); string(b) != "pkg-v1" {
		t.Errorf("package not copied: %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "scripts", "unified-server-setup.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("script: %v %v, want mode 0755", err, st)
	}
	if _, err := os.Stat(filepath.Join(dir, "scripts", "status")); err == nil {
		t.Error("status/ objects were copied")
	}
	if c, _ := task.Check(ctx, rt); c.Needed {
		t.Errorf("second check: %+v, want no change", c)
	}
	write(filepath.Join(bucket, "packages", "app.tar.gz"), "pkg-v2")
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "copy 1 object(s)") {
		t.Errorf("changed object: %+v", c)
	}
	task.Apply(ctx, rt)
	log, _ := os.ReadFile(filepath.Join(dir, "log", SyncLog))
	if !strings.Contains(string(log), "copied packages/app.tar.gz (6 bytes)") || strings.Count(string(log), "sync done") != 2 {
		t.Errorf("efs-s3-sync.log:\n%s", log)
	}
}
