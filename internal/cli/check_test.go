package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// TestCheckCommand runs `cso check` on a target whose only service port is closed: exit 1,
// the failing probe named; JSON output parses; a wrong --env is a usage error.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	ca := checktest.ValidCA(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there any more
	tg := &target.Target{Env: "dev", Kind: "local", CACert: ca.File, SharedDir: dir, StatusDir: filepath.Join(dir, "status"),
		Hosts: []inventory.Host{{Name: "frontend-server-1", Role: envfile.RoleFrontend, FQDN: "frontend-server-1.dev.cso.ss",
			Address: "127.0.0.1", Ports: map[string]int{inventory.PortNginx: port}}}}
	if err := (status.Dir{Path: tg.StatusDir}).Put(context.Background(), status.Host{Host: "frontend-server-1", State: status.StateDone}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, target.FileName)
	if err := tg.Save(file); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	code := Run([]string{"check", "--local-dir", dir, "--timeout", "2s"}, nil, &out, &errb)
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitFailure, out.String(), errb.String())
	}
	want := "tcp nginx         frontend-server-1:" + strconv.Itoa(port)
	if !strings.Contains(out.String(), "connection refused") || !strings.Contains(errb.String(), "checks failed") {
		t.Errorf("table does not show the refused port:\n%s\nstderr: %s (want a row like %q)", out.String(), errb.String(), want)
	}

	out.Reset()
	errb.Reset()
	code = Run([]string{"check", "--target", file, "--env", "dev", "--output", "json"}, nil, &out, &errb)
	var rep struct {
		Env     string `json:"env"`
		Results []struct {
			Check, Target, Status, Detail string
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != ExitFailure || rep.Env != "dev" {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out.String())
	}
	found := false
	for _, r := range rep.Results {
		if r.Check == "tcp nginx" && r.Status == "fail" && strings.Contains(r.Detail, "connection refused") {
			found = true
		}
	}
	if !found {
		t.Errorf("no failed tcp nginx result in %s", out.String())
	}

	if code := Run([]string{"check", "--target", file, "--env", "prod-ha"}, nil, &out, &errb); code != ExitUsage {
		t.Errorf("wrong --env: exit %d, want %d", code, ExitUsage)
	}
	if code := Run([]string{"check", "--local-dir", filepath.Join(dir, "none")}, nil, &out, &errb); code != ExitUsage {
		t.Errorf("missing target: exit %d, want %d", code, ExitUsage)
	}
}
