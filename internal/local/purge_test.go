package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	return err == nil
}

// A directory up did not create is never purged, whatever it holds, and nothing in it is
// touched.
func TestPurgeRefusesADirectoryUpDidNotCreate(t *testing.T) {
	home := t.TempDir()
	precious := filepath.Join(home, "thesis.tex")
	if err := os.WriteFile(precious, []byte("years of work"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := Down(context.Background(), home, true, &out)
	if !errors.Is(err, ErrNotLocalTarget) {
		t.Fatalf("got %v", err)
	}
	want := "refusing to purge " + home + ": it has no .cso-local file, so `cso local up` did not create it; nothing was removed: not a directory created by cso local up"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !exists(t, precious) {
		t.Fatal("a file of the refused directory was removed")
	}
}

// A local target made before the marker existed: refused too, with how to remove it by hand.
func TestPurgeRefusesAPreMarkerLocalTarget(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old local")
	l := Layout{Dir: dir}
	for _, d := range []string{l.HostRoot("jump-server-1"), l.SecretsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(l.TargetFile(), []byte(`{"kind":"local"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Down(context.Background(), dir, true, &bytes.Buffer{})
	if !errors.Is(err, ErrNotLocalTarget) || !strings.Contains(err.Error(), "If it is a local target from an earlier cso, stop it with `cso local down --dir '"+dir+"'` and remove it by hand: rm -rf '"+dir+"'") {
		t.Fatalf("got %v", err)
	}
	if !exists(t, l.TargetFile()) || !exists(t, l.HostRoot("jump-server-1")) {
		t.Fatal("something was removed")
	}
}

// A marker that is a symlink (to any file) does not count.
func TestPurgeRefusesASymlinkMarker(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(real, []byte(markerText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, MarkerName)); err != nil {
		t.Fatal(err)
	}
	if err := Down(context.Background(), dir, true, &bytes.Buffer{}); !errors.Is(err, ErrNotLocalTarget) || !exists(t, dir) {
		t.Fatalf("got %v", err)
	}
}

// The directory up creates (or finds empty) is marked, and purge removes it.
func TestUpMarksWhatItCreatesAndPurgeRemovesIt(t *testing.T) {
	parent := t.TempDir()
	for _, dir := range []string{filepath.Join(parent, "new", "local"), filepath.Join(parent, "empty")} {
		if strings.HasSuffix(dir, "empty") {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		l := Layout{Dir: dir}
		if err := l.create(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(l.Marker())
		if err != nil || string(data) != markerText {
			t.Fatalf("%s: marker %q %v", dir, data, err)
		}
		if err := os.MkdirAll(l.HostRoot("mysql"), 0o755); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Down(context.Background(), dir, true, &out); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if exists(t, dir) || !strings.Contains(out.String(), "removed "+dir) {
			t.Fatalf("%s not removed: %s", dir, out.String())
		}
	}
	// A directory that already holds files is used but not marked.
	busy := t.TempDir()
	if err := os.WriteFile(filepath.Join(busy, "notes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (Layout{Dir: busy}).create(); err != nil || exists(t, filepath.Join(busy, MarkerName)) {
		t.Fatalf("a non-empty directory was marked (%v)", err)
	}
}
