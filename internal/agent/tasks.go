package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FuncTask is a task made of two functions, for changes that are not files or packages
// (a database grant, a cluster join). Check must have no side effects.
type FuncTask struct {
	TaskName  string
	CheckFunc func(ctx context.Context, rt *Runtime) (Change, error)
	ApplyFunc func(ctx context.Context, rt *Runtime) error
	// RenderFunc says what Apply would do on a fresh host (cso agent --render); nil: the
	// task is named in the rendering as needing a live host.
	RenderFunc func(ctx context.Context, rt *Runtime, r *Rendering) error
}

func (t FuncTask) Name() string { return t.TaskName }
func (t FuncTask) Check(ctx context.Context, rt *Runtime) (Change, error) {
	return t.CheckFunc(ctx, rt)
}
func (t FuncTask) Apply(ctx context.Context, rt *Runtime) error { return t.ApplyFunc(ctx, rt) }

// File makes Path hold Content with Mode and owner. It writes atomically (temporary file in
// the same directory, then rename), so a reader never sees half a file and an interrupted
// run leaves the old file in place.
type File struct {
	Path    string
	Content []byte
	Mode    fs.FileMode // default 0644
	Owner   string      // user name; "" keeps the agent's user
	Group   string      // group name; "" = the owner's primary group
	// Secret marks content that must never be printed (dry-run shows only that it differs).
	Secret bool
	// TempDir, when set, is where the temporary file is written before its rename to Path
	// (on the same filesystem): a reader of Path's directory that opens every entry (as
	// Keystone does its key repositories) then never meets it. Default: Path's directory.
	TempDir string
}

func (f File) Name() string { return "file " + f.Path }

func (f File) mode() fs.FileMode {
	if f.Mode == 0 {
		return 0o644
	}
	return f.Mode
}

func (f File) Check(_ context.Context, _ *Runtime) (Change, error) {
	st, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Change{Needed: true, Summary: "create " + f.Path}, nil
	}
	if err != nil {
		return Change{}, err
	}
	cur, err := os.ReadFile(f.Path)
	if err != nil {
		return Change{}, err
	}
	var why []string
	if !bytes.Equal(cur, f.Content) {
		why = append(why, "content differs")
	}
	if st.Mode().Perm() != f.mode() {
		why = append(why, fmt.Sprintf("mode %o, want %o", st.Mode().Perm(), f.mode()))
	}
	if uid, gid, err := lookupOwner(f.Owner, f.Group); err == nil && uid >= 0 {
		if u, g, ok := FileOwner(st); ok && (u != uid || g != gid) {
			why = append(why, "owner differs")
		}
	}
	if len(why) == 0 {
		return NoChange, nil
	}
	return Change{Needed: true, Summary: fmt.Sprintf("update %s (%v)", f.Path, why)}, nil
}

func (f File) Apply(_ context.Context, _ *Runtime) error {
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if f.TempDir != "" {
		dir = f.TempDir
	}
	tmp, err := os.CreateTemp(dir, tempPattern(f.Path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// Restrict before writing: a secret is never readable by others, even for a moment.
	if err := tmp.Chmod(f.mode()); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.Content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	uid, gid, err := lookupOwner(f.Owner, f.Group)
	if err != nil {
		return err
	}
	if uid >= 0 {
		if err := os.Chown(tmp.Name(), uid, gid); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), f.Path)
}

// Dir makes Path a directory with Mode and owner.
type Dir struct {
	Path  string
	Mode  fs.FileMode // default 0755
	Owner string
	Group string
}

func (d Dir) Name() string { return "dir " + d.Path }

func (d Dir) mode() fs.FileMode {
	if d.Mode == 0 {
		return 0o755
	}
	return d.Mode
}

func (d Dir) Check(_ context.Context, _ *Runtime) (Change, error) {
	st, err := os.Stat(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Change{Needed: true, Summary: "create directory " + d.Path}, nil
	}
	if err != nil {
		return Change{}, err
	}
	if !st.IsDir() {
		return Change{}, fmt.Errorf("%s exists and is not a directory", d.Path)
	}
	if st.Mode().Perm() != d.mode() {
		return Change{Needed: true, Summary: fmt.Sprintf("chmod %o %s", d.mode(), d.Path)}, nil
	}
	if uid, gid, err := lookupOwner(d.Owner, d.Group); err == nil && uid >= 0 {
		if u, g, ok := FileOwner(st); ok && (u != uid || g != gid) {
			return Change{Needed: true, Summary: "chown " + d.Path}, nil
		}
	}
	return NoChange, nil
}

func (d Dir) Apply(_ context.Context, _ *Runtime) error {
	// Parents get 0755: a restrictive mode is meant for this directory, not its parents.
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(d.Path, d.mode()); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.Chmod(d.Path, d.mode()); err != nil {
		return err
	}
	uid, gid, err := lookupOwner(d.Owner, d.Group)
	if err != nil {
		return err
	}
	if uid >= 0 {
		return os.Chown(d.Path, uid, gid)
	}
	return nil
}

// lookupOwner resolves user and group names; uid -1 means "leave as is".
func lookupOwner(owner, group string) (uid, gid int, err error) {
	if owner == "" {
		return -1, -1, nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return -1, -1, fmt.Errorf("user %q: %w", owner, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return -1, -1, fmt.Errorf("group %q: %w", group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// MkdirAll creates the directories of Paths with mode 0755 when they are missing and
// leaves existing ones alone. It comes before directories with a narrower mode, whose
// parents os.MkdirAll would otherwise create with that narrower mode, which a daemon
// running as another user then could not traverse.
type MkdirAll struct{ Paths []string }

func (m MkdirAll) Name() string { return "directories " + strings.Join(m.Paths, ", ") }

func (m MkdirAll) missing() []string {
	var out []string
	for _, p := range m.Paths {
		if _, err := os.Stat(p); err != nil {
			out = append(out, p)
		}
	}
	return out
}

func (m MkdirAll) Check(context.Context, *Runtime) (Change, error) {
	if miss := m.missing(); len(miss) > 0 {
		return Change{Needed: true, Summary: "create directories " + strings.Join(miss, ", ")}, nil
	}
	return NoChange, nil
}

func (m MkdirAll) Apply(context.Context, *Runtime) error {
	for _, p := range m.missing() {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// tempPattern names the temporary file through which path is written (os.CreateTemp).
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// IsInterruptedWrite says whether name is one of those temporary files: one still there
// after the write ended is what an agent killed between create and rename left behind.
func IsInterruptedWrite(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}

// WriteFileAtomic replaces path with data through a temporary file in the same directory
// (mode set before the data is written, so a secret is never readable by others) and a
// rename: a reader sees the old or the new content, never a part.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WaitFiles is a task that waits, bounded and with visible progress, until every file of
// Paths exists (material another host publishes in the shared store, e.g. the jump
// server's certificates, or an application package).
type WaitFiles struct {
	What    string // e.g. "TLS certificates from the jump server"
	Paths   []string
	Timeout time.Duration
}

func (w WaitFiles) Name() string { return "wait for " + w.What }

func (w WaitFiles) Check(context.Context, *Runtime) (Change, error) {
	if m := MissingFiles(w.Paths...); len(m) > 0 {
		return Change{Needed: true, Summary: fmt.Sprintf("wait up to %s for %s (%s missing)", w.Timeout, w.What, strings.Join(m, ", "))}, nil
	}
	return NoChange, nil
}

func (w WaitFiles) Apply(ctx context.Context, rt *Runtime) error {
	return WaitFor(ctx, rt, w.What, w.Timeout, func(context.Context) error {
		if m := MissingFiles(w.Paths...); len(m) > 0 {
			return fmt.Errorf("missing %s", strings.Join(m, ", "))
		}
		return nil
	})
}

// Render implements Renderer: the files are another host's, so a rendering only notes the
// wait.
func (w WaitFiles) Render(_ context.Context, _ *Runtime, r *Rendering) error {
	r.NoteWait(w.What+" ("+strings.Join(w.Paths, ", ")+")", w.Timeout)
	return nil
}

// MissingFiles returns the paths that do not exist (or cannot be seen) yet.
func MissingFiles(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			out = append(out, p)
		}
	}
	return out
}
