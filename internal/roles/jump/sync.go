package jump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// SyncPrefixes maps bucket prefixes to directories below the shared scripts store (LLD
// 5.3: S3 → jump → EFS /opt/scripts): scripts/ land at the top, packages/ in packages/.
var SyncPrefixes = map[string]string{"scripts/": "", "packages/": "packages"}

// SyncLog is the log of the copy (LLD 6.2).
const SyncLog = "efs-s3-sync.log"

// syncManifest records which version of each object was copied, so that a re-run copies
// only what changed in the bucket.
const syncManifest = ".efs-s3-sync.json"

type syncTask struct{}

func (syncTask) Name() string { return "sync bucket to shared scripts store" }

type syncItem struct {
	obj  agent.Object
	dest string
}

// plan lists the objects whose copy is missing or stale.
func (syncTask) plan(ctx context.Context, rt *agent.Runtime) ([]syncItem, map[string]string, error) {
	manifest := map[string]string{}
	if data, err := os.ReadFile(filepath.Join(rt.Paths.Scripts, syncManifest)); err == nil {
		_ = json.Unmarshal(data, &manifest)
	}
	if rt.Bucket == nil {
		return nil, manifest, nil
	}
	var todo []syncItem
	for prefix, sub := range SyncPrefixes {
		objs, err := rt.Bucket.List(ctx, prefix)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", rt.Bucket.Describe(), err)
		}
		for _, o := range objs {
			rel := strings.TrimPrefix(o.Key, prefix)
			if rel == "" || path.Clean("/" + rel)[1:] != rel {
				continue // not a clean relative key: never write outside the store
			}
			dest := filepath.Join(rt.Paths.Scripts, sub, filepath.FromSlash(rel))
			st, err := os.Stat(dest)
			if err != nil || st.Size() != o.Size || manifest[o.Key] != o.Version {
				todo = append(todo, syncItem{obj: o, dest: dest})
			}
		}
	}
	return todo, manifest, nil
}

func (t syncTask) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	todo, _, err := t.plan(ctx, rt)
	if err != nil || len(todo) == 0 {
		return agent.NoChange, err
	}
	return agent.Change{Needed: true, Summary: fmt.Sprintf("copy %d object(s) from %s to %s", len(todo), rt.Bucket.Describe(), rt.Paths.Scripts)}, nil
}

func (t syncTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	todo, manifest, err := t.plan(ctx, rt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(rt.Paths.Log, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(rt.Paths.Log, SyncLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	logLine := func(format string, args ...any) {
		fmt.Fprintf(logf, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	logLine("sync %s -> %s: %d object(s) to copy", rt.Bucket.Describe(), rt.Paths.Scripts, len(todo))
	var errs []error
	for _, it := range todo {
		if err := copyObject(ctx, rt.Bucket, it); err != nil {
			logLine("FAILED %s: %v", it.obj.Key, err)
			errs = append(errs, err)
			continue
		}
		manifest[it.obj.Key] = it.obj.Version
		logLine("copied %s (%d bytes) to %s", it.obj.Key, it.obj.Size, it.dest)
	}
	data, _ := json.MarshalIndent(manifest, "", "  ")
	if err := (agent.File{Path: filepath.Join(rt.Paths.Scripts, syncManifest), Content: data, Mode: 0o644}).Apply(ctx, rt); err != nil {
		errs = append(errs, err)
	}
	logLine("sync done: %d copied, %d failed", len(todo)-len(errs), len(errs))
	return errors.Join(errs...)
}

func copyObject(ctx context.Context, b agent.Bucket, it syncItem) error {
	r, err := b.Open(ctx, it.obj.Key)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(it.dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(it.dest), "."+filepath.Base(it.dest)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	mode := fs.FileMode(0o644)
	if strings.HasSuffix(it.dest, ".sh") {
		mode = 0o755
	}
	n, err := io.Copy(tmp, r)
	if err == nil && n != it.obj.Size {
		err = fmt.Errorf("%s: got %d bytes, the bucket lists %d", it.obj.Key, n, it.obj.Size)
	}
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), it.dest)
}
