package check

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// appStack is a frontend (nginx and the two UI ports) and a backend host with one service
// port. nginx always answers /health; the application ports either answer HTTP 200 or
// are closed, and count the connections they accept (a skipped probe must not dial).
type appStack struct {
	t        *target.Target
	st       status.Dir
	accepted atomic.Int32
	mgmt     int // frontend management UI port
	portal   int // frontend portal UI port
	svc      int // backend service port
	nginx    int
}

func newAppStack(t *testing.T, appsListen bool) *appStack {
	t.Helper()
	ca := checktest.ValidCA(t)
	dir := t.TempDir()
	s := &appStack{}
	nginx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte("OK"))
	}))
	t.Cleanup(nginx.Close)
	s.nginx = nginx.Listener.Addr().(*net.TCPAddr).Port
	app := func() int {
		if !appsListen {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			must(t, err)
			port := l.Addr().(*net.TCPAddr).Port
			l.Close() // nothing listens there any more
			return port
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("app")) }))
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.accepted.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().(*net.TCPAddr).Port
	}
	s.mgmt, s.portal, s.svc = app(), app(), app()
	s.t = &target.Target{Env: "test", Kind: "local", CACert: ca.File, SharedDir: dir, StatusDir: filepath.Join(dir, "status"),
		Hosts: []inventory.Host{
			{Name: "frontend01", Role: envfile.RoleFrontend, Index: 1, FQDN: "frontend01.test.cso.ss", Address: "127.0.0.1",
				Ports: map[string]int{inventory.PortNginx: s.nginx, inventory.PortManagementUI: s.mgmt, inventory.PortPortalUI: s.portal}},
			{Name: "backend01", Role: envfile.RoleBackend, Index: 1, FQDN: "backend01.test.cso.ss", Address: "127.0.0.1",
				Ports: map[string]int{"cso-api": s.svc}},
		}}
	s.st = status.Dir{Path: s.t.StatusDir}
	return s
}

// noPackageDoc is what the frontend and backend agents publish without an application
// package: done, the application step skipped with its reason (apppkg.NoPackageTask).
func noPackageDoc(host string, role envfile.Role) status.Host {
	version := buildinfo.Read() // an agent of this very build
	return status.Host{Host: host, Role: string(role), State: status.StateDone, Step: "application package",
		Agent: &version, FinishedAt: time.Now(), Steps: []status.Step{
			{Name: "packages", State: status.StateDone},
			{Name: "application package", State: status.StateSkipped,
				Detail: "no application package: the " + string(role) + " services are not installed (set application.package in env.yaml)"}}}
}

// run runs the probes about the stack's hosts (not the cluster or database probes, which
// have nothing to look at here).
func (s *appStack) run(t *testing.T) (*Report, map[string]Result) {
	t.Helper()
	c := New(s.t, Options{Timeout: 2 * time.Second})
	var ps []Probe
	for _, p := range c.Probes() {
		if p.Host != "" {
			ps = append(ps, p)
		}
	}
	rep := Run(context.Background(), ps, 2*time.Second)
	out := map[string]Result{}
	for _, r := range rep.Results {
		out[r.Check+" "+r.Target] = r
	}
	return rep, out
}

func port(host string, p int) string { return host + ":" + strconv.Itoa(p) }

// TestNoPackageSkipsApplicationProbes: without an application package the application
// ports are skipped with the agent's reason, without a connection; nginx is probed as
// usual; the run does not fail, and the summary counts the skipped checks.
func TestNoPackageSkipsApplicationProbes(t *testing.T) {
	s := newAppStack(t, true)
	must(t, s.st.Put(context.Background(), noPackageDoc("frontend01", envfile.RoleFrontend)))
	must(t, s.st.Put(context.Background(), noPackageDoc("backend01", envfile.RoleBackend)))
	rep, rs := s.run(t)

	reason := "no application package: the frontend services are not installed"
	for _, key := range []string{
		"tcp management-ui " + port("frontend01", s.mgmt), "http / " + port("frontend01", s.mgmt),
		"tcp portal-ui " + port("frontend01", s.portal), "http / " + port("frontend01", s.portal),
	} {
		expect(t, rs, key, Skip, reason)
	}
	expect(t, rs, "tcp cso-api "+port("backend01", s.svc), Skip, "no application package: the backend services are not installed")
	expect(t, rs, "http / "+port("backend01", s.svc), Skip, "no application package: the backend services are not installed")
	expect(t, rs, "tcp nginx "+port("frontend01", s.nginx), OK, "")
	expect(t, rs, "http /health "+port("frontend01", s.nginx), OK, "")
	expect(t, rs, "setup status frontend01", OK, "skipped: "+reason)
	if n := s.accepted.Load(); n != 0 {
		t.Errorf("skipped probes opened %d connections to the application ports", n)
	}

	if rep.Failed() || rep.Summary.Worst != OK || rep.Summary.Skipped != 6 || rep.Summary.Fail != 0 || rep.Summary.Warn != 0 || rep.Summary.OK != 6 {
		t.Errorf("summary %+v, want ok with 6 ok (nginx, setup and agent version) and 6 skipped", rep.Summary)
	}
	var tab bytes.Buffer
	must(t, rep.WriteTable(&tab))
	if !strings.Contains(tab.String(), "OK: 6 ok, 0 warn, 0 fail, 6 skipped") {
		t.Errorf("summary line:\n%s", tab.String())
	}
	// Skipped rows come after nothing worse and before the ok rows.
	lines := strings.Split(tab.String(), "\n")
	if !strings.Contains(lines[1], "SKIP") || !strings.Contains(lines[6], "SKIP") || !strings.Contains(lines[7], "OK") {
		t.Errorf("table order (skipped before ok):\n%s", tab.String())
	}
	var js bytes.Buffer
	must(t, rep.WriteJSON(&js))
	var back struct {
		Results []struct{ Check, Status, Detail string } `json:"results"`
		Summary map[string]any                           `json:"summary"`
	}
	must(t, json.Unmarshal(js.Bytes(), &back))
	if back.Summary["skipped"] != float64(6) || back.Summary["status"] != "ok" || back.Summary["fail"] != float64(0) {
		t.Errorf("JSON summary %v", back.Summary)
	}
	skipped := 0
	for _, r := range back.Results {
		if r.Status == "skip" && strings.HasPrefix(r.Detail, "no application package") {
			skipped++
		}
	}
	if skipped != 6 {
		t.Errorf("JSON has %d skip results with the reason, want 6:\n%s", skipped, js.String())
	}
}

// TestFailedSetupNamesTheCause: the application ports of a host whose setup failed fail
// with the setup error, not only "connection refused".
func TestFailedSetupNamesTheCause(t *testing.T) {
	s := newAppStack(t, false)
	must(t, s.st.Put(context.Background(), status.Host{Host: "frontend01", State: status.StateFailed, Step: "application services",
		LastError: "step application services: cso-management-ui did not answer /actuator/health within 3m0s",
		Steps: []status.Step{{Name: "packages", State: status.StateDone}, {Name: "application services", State: status.StateFailed},
			{Name: "application package", State: status.StatePending}}}))
	must(t, s.st.Put(context.Background(), status.Host{Host: "backend01", State: status.StateDone, Steps: []status.Step{{Name: "packages", State: status.StateDone}}}))
	rep, rs := s.run(t)

	cause := `setup of frontend01 failed at step "application services": step application services: cso-management-ui did not answer`
	for _, key := range []string{"tcp management-ui " + port("frontend01", s.mgmt), "tcp portal-ui " + port("frontend01", s.portal)} {
		expect(t, rs, key, Fail, cause)
		expect(t, rs, key, Fail, "connection refused")
	}
	expect(t, rs, "setup status frontend01", Fail, cause)
	// nginx still answers: its own result stands.
	expect(t, rs, "http /health "+port("frontend01", s.nginx), OK, "")
	// A host whose setup is done keeps the plain probe error.
	r := rs["tcp cso-api "+port("backend01", s.svc)]
	if r.Status != Fail || !strings.Contains(r.Detail, "connection refused") || strings.Contains(r.Detail, "setup of") {
		t.Errorf("backend01 without its service: %s %q", r.Status, r.Detail)
	}
	if !rep.Failed() || rep.Summary.Skipped != 0 || rep.Summary.Worst != Fail {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// TestInstalledApplicationIsProbed: with a package installed the application ports are
// dialled and graded as before.
func TestInstalledApplicationIsProbed(t *testing.T) {
	s := newAppStack(t, true)
	version := buildinfo.Read()
	for _, h := range s.t.Hosts {
		must(t, s.st.Put(context.Background(), status.Host{Host: h.Name, Role: string(h.Role), State: status.StateDone, Agent: &version,
			Steps: []status.Step{{Name: "application package", State: status.StateDone}, {Name: "application services", State: status.StateDone}}}))
	}
	rep, rs := s.run(t)
	for k, r := range rs {
		if r.Status != OK {
			t.Errorf("%s: %s %s", k, r.Status, r.Detail)
		}
	}
	expect(t, rs, "http / "+port("frontend01", s.mgmt), OK, "management-ui answers HTTP 200")
	if rep.Summary.Skipped != 0 || rep.Summary.OK != len(rs) {
		t.Errorf("summary %+v", rep.Summary)
	}
	if s.accepted.Load() == 0 {
		t.Error("the application ports were not dialled")
	}
}

// TestSkipRank: skip sorts between ok and warn and never makes the worst status worse.
func TestSkipRank(t *testing.T) {
	if !(OK.Rank() < Skip.Rank() && Skip.Rank() < Warn.Rank() && Warn.Rank() < Fail.Rank()) {
		t.Errorf("ranks ok %d skip %d warn %d fail %d", OK.Rank(), Skip.Rank(), Warn.Rank(), Fail.Rank())
	}
	for _, c := range []struct{ a, b, want Status }{{OK, Skip, OK}, {Warn, Skip, Warn}, {OK, Warn, Warn}, {Warn, Fail, Fail}, {Fail, OK, Fail}} {
		if got := Worse(c.a, c.b); got != c.want {
			t.Errorf("Worse(%s, %s) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
	rep := Run(context.Background(), []Probe{
		{Check: "a", Run: func(context.Context) Outcome { return skip("not installed") }},
		{Check: "b", Run: func(context.Context) Outcome { return warn("soon") }},
	}, time.Second)
	if rep.Summary.Worst != Warn || rep.Summary.Skipped != 1 || rep.Summary.Warn != 1 || rep.Failed() {
		t.Errorf("summary %+v", rep.Summary)
	}
}
