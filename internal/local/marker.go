package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/cso-ssp/platform/internal/userfile"
)

// MarkerName is the file `up` writes in a directory it creates. `down --purge` removes
// only a directory holding it: --dir is typed by hand, and a slip (--dir ~, --dir /srv)
// must not delete someone's files.
const MarkerName = ".cso-local"

// markerText starts with markerPrefix, what checkMarker looks for (the rest may change).
const (
	markerPrefix = "This directory was created by `cso local up`"
	markerText   = markerPrefix + " (the local target). `cso local down --purge` removes it only while this file is here.\n"
)

// ErrNotLocalTarget is wrapped by the error of a purge of a directory `up` did not create.
var ErrNotLocalTarget = errors.New("not a directory created by cso local up")

// create makes the directory of the local target and marks it. An existing directory is
// used as it is and marked only when empty: a directory that already holds files may be
// someone else's (or a local target from before the marker), and stays unpurgeable.
func (l Layout) create() error {
	entries, err := os.ReadDir(l.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(l.Dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", l.Dir, err)
		}
	case err != nil:
		return fmt.Errorf("local directory %s: %w", l.Dir, err)
	case len(entries) > 0:
		return nil
	}
	if err := os.WriteFile(l.Marker(), []byte(markerText), 0o644); err != nil {
		return fmt.Errorf("mark %s as the local target's: %w", l.Dir, err)
	}
	return nil
}

// checkMarker returns nil when dir holds the marker `up` wrote (a regular file, not a
// symlink, with its text).
func (l Layout) checkMarker() error {
	if st, err := os.Lstat(l.Marker()); err == nil && st.Mode().IsRegular() {
		if data, err := userfile.Read(l.Marker(), 4<<10); err == nil && strings.HasPrefix(string(data), markerPrefix) {
			return nil
		}
	}
	dir := userfile.Escape(l.Dir)
	msg := fmt.Sprintf("refusing to purge %s: it has no %s file, so `cso local up` did not create it; nothing was removed", dir, MarkerName)
	if _, err := os.Stat(l.TargetFile()); err == nil {
		// A local target made before the marker existed: the operator decides.
		msg += fmt.Sprintf(". If it is a local target from an earlier cso, stop it with `cso local down --dir %s` and remove it by hand: rm -rf %s", shellQuote(dir), shellQuote(dir))
	}
	return fmt.Errorf("%s: %w", msg, ErrNotLocalTarget)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
