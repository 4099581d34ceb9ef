package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitLogFile: a service with LogFile appends stdout and stderr to that file (which the
// CloudWatch agent ships), and its directory exists before systemd opens it.
func TestUnitLogFile(t *testing.T) {
	spec := ServiceSpec{Name: "cso-admin", Command: []string{"/usr/local/bin/cso", "admin", "serve"}}
	if unit := RenderUnit(spec, ""); strings.Contains(unit, "StandardOutput") {
		t.Errorf("no LogFile: the output stays with the journal, got\n%s", unit)
	}
	dir := t.TempDir()
	spec.LogFile = filepath.Join(dir, "log", "cso", "cso-admin.log")
	unit := RenderUnit(spec, "")
	if !strings.Contains(unit, "\nStandardOutput=append:"+spec.LogFile+"\nStandardError=inherit\n") {
		t.Errorf("unit lacks the log file:\n%s", unit)
	}
	p := &AL2023{Runner: &recordRunner{}, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
	if err := p.Service(spec).Apply(context.Background(), &Runtime{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Dir(spec.LogFile)); err != nil || !st.IsDir() {
		t.Errorf("log directory: %v", err)
	}
}
