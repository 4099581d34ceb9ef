package agent

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGoldenUnitsRestartOnFailure: every daemon unit rendered for Amazon Linux (the goldens
// of `cso agent --render`) restarts its daemon after a crash, as the local target's crash
// watcher does (docs/decisions/agent.md): Restart=on-failure and a RestartSec.
func TestGoldenUnitsRestartOnFailure(t *testing.T) {
	root := "../../test/render/testdata"
	restartSec := regexp.MustCompile(`(?m)^RestartSec=\d+$`)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".service") || !strings.Contains(p, "systemd/system") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		unit := string(data)
		if strings.Contains(unit, "Type=oneshot") {
			return nil // a timer's job, not a daemon: nothing to keep running
		}
		n++
		if !strings.Contains(unit, "\nRestart=on-failure\n") || !restartSec.MatchString(unit) {
			t.Errorf("%s: no Restart=on-failure with a RestartSec:\n%s", p, unit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no daemon unit under %s", root)
	}
	t.Logf("%d daemon units restart on failure", n)
}
