//go:build linux

package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalRestartBadInput: restart refuses, with exit 2 and before touching anything, a
// directory that holds no local target and two different directories.
func TestLocalRestartBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	for _, flag := range []string{"--local-dir", "--dir"} {
		code, _, stderr := runCSO(t, "local", "restart", flag, dir)
		if code != ExitUsage || !strings.Contains(stderr, "no local target in "+dir) {
			t.Errorf("%s on an empty directory: exit %d, %q", flag, code, stderr)
		}
	}
	code, _, stderr := runCSO(t, "local", "restart", "--local-dir", dir, "--dir", dir+"2")
	if code != ExitUsage || !strings.Contains(stderr, "name different directories") {
		t.Errorf("two directories: exit %d, %q", code, stderr)
	}
	// The same directory twice is fine (then it is the missing target that stops it).
	if code, _, stderr := runCSO(t, "local", "restart", "--local-dir", dir, "--dir", dir); code != ExitUsage || !strings.Contains(stderr, "no local target") {
		t.Errorf("same directory twice: exit %d, %q", code, stderr)
	}
}
