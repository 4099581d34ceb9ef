package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/go-sql-driver/mysql"
)

func TestRunIsParallelAndKeepsOrder(t *testing.T) {
	var running, peak atomic.Int32
	var probes []Probe
	for i := range 8 {
		probes = append(probes, Probe{Check: "sleep", Target: strconv.Itoa(i), Run: func(ctx context.Context) Outcome {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			defer running.Add(-1)
			select {
			case <-time.After(200 * time.Millisecond):
				return ok("slept")
			case <-ctx.Done():
				return fail("cancelled")
			}
		}})
	}
	start := time.Now()
	rep := Run(context.Background(), probes, time.Second)
	if d := time.Since(start); d > 1200*time.Millisecond { // serial would be 1.6 s
		t.Errorf("8 probes of 200ms took %s: not run in parallel", d)
	}
	if peak.Load() != 8 {
		t.Errorf("peak concurrency %d, want 8", peak.Load())
	}
	for i, r := range rep.Results {
		if r.Target != strconv.Itoa(i) || r.Status != OK {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if rep.Failed() || rep.Summary.OK != 8 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestRunTimeouts(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	probes := []Probe{
		{Check: "ignores context", Timeout: 100 * time.Millisecond, Run: func(context.Context) Outcome {
			<-block // never returns during the test
			return ok("late")
		}},
		{Check: "honours context", Timeout: 100 * time.Millisecond, Run: func(ctx context.Context) Outcome {
			<-ctx.Done()
			return fail("gave up: %v", ctx.Err())
		}},
		{Check: "default timeout", Run: func(ctx context.Context) Outcome {
			<-ctx.Done()
			return fail("gave up after default")
		}},
		{Check: "fast", Run: func(context.Context) Outcome { return ok("fine") }},
		{Check: "panics", Run: func(context.Context) Outcome { panic("boom") }},
	}
	start := time.Now()
	rep := Run(context.Background(), probes, 300*time.Millisecond)
	if d := time.Since(start); d > 2*time.Second { // the blocked probe would block forever
		t.Fatalf("run took %s; timeouts not enforced", d)
	}
	want := []struct {
		status Status
		detail string
	}{
		{Fail, "no answer within 100ms"},
		{Fail, "gave up: context deadline exceeded"},
		{Fail, "gave up after default"},
		{OK, "fine"},
		{Fail, "probe crashed: boom"},
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.Status != w.status || r.Detail != w.detail {
			t.Errorf("%s: got %s %q, want %s %q", r.Check, r.Status, r.Detail, w.status, w.detail)
		}
	}
	if r := rep.Results[2]; r.Latency < 300*time.Millisecond || r.Latency > 1500*time.Millisecond {
		t.Errorf("default timeout probe latency %s, want about 300ms", r.Latency)
	}
	if !rep.Failed() || rep.Summary.Worst != Fail || rep.Summary.Fail != 4 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestRender(t *testing.T) {
	rep := Run(context.Background(), []Probe{
		{Check: "a", Target: "x:1", Run: func(context.Context) Outcome { return ok("fine") }},
		{Check: "b", Target: "y:2", Run: func(context.Context) Outcome { return fail("broken\nsecond line") }},
	}, time.Second)
	rep.Env = "dev"
	var tab bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(tab.String(), "\n")
	if !strings.HasPrefix(lines[0], "CHECK") || !strings.Contains(lines[1], "FAIL") || !strings.Contains(lines[1], "broken; second line") {
		t.Errorf("table should list failures first on one line each:\n%s", tab.String())
	}
	if !strings.Contains(tab.String(), "FAIL: 1 ok, 0 warn, 1 fail") {
		t.Errorf("no summary line:\n%s", tab.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Env     string `json:"env"`
		Results []struct {
			Check     string   `json:"check"`
			Status    string   `json:"status"`
			LatencyMS *float64 `json:"latency_ms"`
		} `json:"results"`
		Summary struct{ Fail int } `json:"summary"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Env != "dev" || len(back.Results) != 2 || back.Results[1].Status != "fail" || back.Results[0].LatencyMS == nil || back.Summary.Fail != 1 {
		t.Errorf("JSON %s", js.String())
	}
}

// quiet drops the servers' "TLS handshake error" lines that the TCP probes cause.
var quiet = log.New(io.Discard, "", 0)

const fqdn = "keystone01.test.cso.ss"

func tlsServer(t *testing.T, cert tls.Certificate) int {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.Config.ErrorLog = quiet
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func oneHost(ca *checktest.CA, ports map[string]int) *target.Target {
	return &target.Target{Env: "test", CACert: ca.File, Hosts: []inventory.Host{{
		Name: "keystone01", Role: envfile.RoleKeystone, FQDN: fqdn, Address: "127.0.0.1", Ports: ports,
	}}}
}

func TestTLSAndCertificateProbes(t *testing.T) {
	ca := checktest.ValidCA(t)
	other := checktest.ValidCA(t)
	now := time.Now()
	cases := []struct {
		name      string
		cert      tls.Certificate
		tlsStatus Status
		tlsDetail string
		status    Status
		detail    string
	}{
		{"valid", ca.Leaf(fqdn, now.Add(-time.Hour), now.AddDate(0, 0, 200)), OK, "certificate verified for " + fqdn,
			OK, "days left"},
		{"near expiry", ca.Leaf(fqdn, now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour)), OK, "verified",
			Warn, "10 days left (under 30: renew it)"},
		{"30 days is a warning", ca.Leaf(fqdn, now.Add(-time.Hour), now.Add(29*24*time.Hour+time.Hour)), OK, "verified",
			Warn, "29 days left (under 30: renew it)"},
		{"7 days is still a warning", ca.Leaf(fqdn, now.Add(-time.Hour), now.Add(7*24*time.Hour+time.Hour)), OK, "verified",
			Warn, "7 days left (under 30: renew it)"},
		{"under 7 days fails", ca.Leaf(fqdn, now.Add(-time.Hour), now.Add(6*24*time.Hour+time.Hour)), OK, "verified",
			Fail, "6 days left (under 7: renew it now)"},
		{"expired", ca.Leaf(fqdn, now.AddDate(0, 0, -30), now.AddDate(0, 0, -3)), Fail, "certificate has expired",
			Fail, fmt.Sprintf("(CN %s) expired %sT", fqdn, now.AddDate(0, 0, -3).UTC().Format("2006-01-02"))},
		{"not yet valid", ca.Leaf(fqdn, now.AddDate(0, 0, 2), now.AddDate(1, 0, 0)), Fail, "not yet valid",
			Fail, "not valid before"},
		{"wrong name", ca.ValidLeaf("other.test.cso.ss"), Fail, "certificate is valid for other.test.cso.ss, not " + fqdn, OK, "CN other.test.cso.ss"},
		{"other CA", other.ValidLeaf(fqdn), Fail, "certificate signed by unknown authority", OK, "days left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := tlsServer(t, tc.cert)
			c := New(oneHost(ca, map[string]int{inventory.PortKeystone: port}), Options{Timeout: 2 * time.Second})
			ctx := context.Background()
			o := c.tlsProbe(fqdn, port)(ctx)
			if o.Status != tc.tlsStatus || !strings.Contains(o.Detail, tc.tlsDetail) {
				t.Errorf("tls: %s %q, want %s containing %q", o.Status, o.Detail, tc.tlsStatus, tc.tlsDetail)
			}
			o = c.certProbe(fqdn, port)(ctx)
			if o.Status != tc.status || !strings.Contains(o.Detail, tc.detail) {
				t.Errorf("cert: %s %q, want %s containing %q", o.Status, o.Detail, tc.status, tc.detail)
			}
			if !strings.Contains(o.Detail, fmt.Sprintf("certificate of %s:%d", fqdn, port)) {
				t.Errorf("cert detail does not name the endpoint: %q", o.Detail)
			}
			if tc.name == "expired" && !strings.HasSuffix(o.Detail, ", 3 days ago") {
				t.Errorf("cert: %q does not say how long ago it expired", o.Detail)
			}
			if !o.NotAfter.Equal(tc.cert.Leaf.NotAfter) {
				t.Errorf("NotAfter %s, want %s", o.NotAfter, tc.cert.Leaf.NotAfter)
			}
			// What `cso certs` lists comes from the same probe.
			if ci := o.Cert; ci == nil || !ci.NotAfter.Equal(tc.cert.Leaf.NotAfter) || ci.Subject != tc.cert.Leaf.Subject.String() ||
				ci.Issuer != tc.cert.Leaf.Issuer.String() || len(ci.SANs) == 0 || ci.SANs[0] != tc.cert.Leaf.DNSNames[0] {
				t.Errorf("cert info %+v does not describe the served certificate", ci)
			}
		})
	}
}

func TestCAProbe(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		ca     *checktest.CA
		status Status
		detail string
	}{
		{"valid", checktest.ValidCA(t), OK, "days left"},
		{"near expiry", checktest.NewCA(t, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10).Add(time.Hour)), Warn, "10 days left"},
		{"under the fail threshold", checktest.NewCA(t, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 5).Add(time.Hour)), Fail, "5 days left (under 7: renew it now)"},
		{"expired", checktest.NewCA(t, now.AddDate(-1, 0, 0), now.AddDate(0, 0, -1)), Fail, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(&target.Target{CACert: tc.ca.File}, Options{})
			o := c.caProbe(tc.ca.File, "")(context.Background())
			if o.Status != tc.status || !strings.Contains(o.Detail, tc.detail) || !strings.Contains(o.Detail, tc.ca.File) {
				t.Errorf("%s %q, want %s with %q and the file name", o.Status, o.Detail, tc.status, tc.detail)
			}
		})
	}
	c := New(&target.Target{CACert: "/nonexistent/ca.crt"}, Options{})
	rep := Run(context.Background(), c.Probes()[:1], time.Second)
	if r := rep.Results[0]; r.Status != Fail || !strings.Contains(r.Detail, "/nonexistent/ca.crt") {
		t.Errorf("missing CA: %+v", r)
	}
}

func TestTCPProbeClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	ca := checktest.ValidCA(t)
	c := New(oneHost(ca, nil), Options{Timeout: time.Second})
	if o := c.tcpProbe(fqdn, port)(context.Background()); o.Status != OK {
		t.Errorf("open port: %+v", o)
	}
	l.Close()
	o := c.tcpProbe(fqdn, port)(context.Background())
	want := fmt.Sprintf("connect to %s:%d (127.0.0.1): connection refused (is the service running?)", fqdn, port)
	if o.Status != Fail || o.Detail != want {
		t.Errorf("closed port: %s %q, want fail %q", o.Status, o.Detail, want)
	}
}

// TestMemcachedProbe: the probe passes on a server that answers memcached's "version" and
// fails on one that accepts but answers something else, or nothing.
func TestMemcachedProbe(t *testing.T) {
	serve := func(answer string) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 64)
				n, _ := conn.Read(buf)
				if string(buf[:n]) == "version\r\n" && answer != "" {
					conn.Write([]byte(answer))
				}
				conn.Close()
			}
		}()
		return l.Addr().(*net.TCPAddr).Port
	}
	ca := checktest.ValidCA(t)
	c := New(oneHost(ca, nil), Options{Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if o := c.memcachedProbe(fqdn, serve("VERSION 1.6.18\r\n"))(ctx); o.Status != OK || o.Detail != "memcached 1.6.18" {
		t.Errorf("memcached: %+v", o)
	}
	if o := c.memcachedProbe(fqdn, serve("HTTP/1.1 400 Bad Request\r\n"))(ctx); o.Status != Fail || !strings.Contains(o.Detail, "not memcached") {
		t.Errorf("another server: %+v", o)
	}
	if o := c.memcachedProbe(fqdn, serve(""))(ctx); o.Status != Fail || !strings.Contains(o.Detail, "did not answer version") {
		t.Errorf("a silent server: %+v", o)
	}
}

// TestRabbitPlainAMQPClosedProbe: the "closed amqp" probe of a RabbitMQ host passes while
// nothing listens on the plain AMQP port and fails as soon as something accepts there.
func TestRabbitPlainAMQPClosedProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	ca := checktest.ValidCA(t)
	tg := &target.Target{Env: "test", CACert: ca.File, Hosts: []inventory.Host{{
		Name: "rabbitmq-server-1", Role: envfile.RoleRabbitMQ, FQDN: fqdn, Address: "127.0.0.1",
		Closed: map[string]int{inventory.PortAMQP: port},
	}}}
	find := func() Probe {
		for _, p := range New(tg, Options{Timeout: time.Second}).Probes() {
			if p.Check == "closed amqp" {
				return p
			}
		}
		t.Fatal("no \"closed amqp\" probe for a RabbitMQ host with a closed AMQP port")
		return Probe{}
	}
	o := find().Run(context.Background())
	want := fmt.Sprintf("%s:%d (127.0.0.1) accepts connections: this port must be closed", fqdn, port)
	if o.Status != Fail || o.Detail != want {
		t.Errorf("listening: %s %q, want fail %q", o.Status, o.Detail, want)
	}
	l.Close()
	if o := find().Run(context.Background()); o.Status != OK || !strings.Contains(o.Detail, "closed: connection refused") {
		t.Errorf("nothing listening: %s %q, want ok, connection refused", o.Status, o.Detail)
	}
	// No "tcp amqp" probe treats plain AMQP as a service that must answer.
	for _, p := range New(tg, Options{}).Probes() {
		if p.Check == "tcp amqp" {
			t.Errorf("probe %q %s requires plain AMQP", p.Check, p.Target)
		}
	}
}

// TestRabbitInventoryPlainAMQP: the inventory lists plain AMQP as closed, never as a port
// of the host, on AWS and locally (offset like the node's other ports).
func TestRabbitInventoryPlainAMQP(t *testing.T) {
	env := &envfile.Env{Name: "dev-ha", DomainSuffix: "cso.ss", HA: true}
	for _, hosts := range [][]inventory.Host{inventory.Hosts(env), inventory.Local(env, inventory.LocalOptions{HA: true, PortBase: 100})} {
		for _, h := range inventory.ByRole(hosts, envfile.RoleRabbitMQ) {
			if _, ok := h.Ports[inventory.PortAMQP]; ok {
				t.Errorf("%s lists plain AMQP among its ports: %v", h.Name, h.Ports)
			}
			if got, want := h.Closed[inventory.PortAMQP], h.Ports[inventory.PortAMQPS]+1; got != want {
				t.Errorf("%s: closed AMQP port %d, want %d (AMQPS + 1)", h.Name, got, want)
			}
		}
	}
}

// fakeRabbit is a RabbitMQ management API double: nodes as configured, Basic auth.
type fakeRabbit struct {
	user, password string
	nodes          []rabbitNode
	queues         []Queue
	critical       string
}

func (f *fakeRabbit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, okAuth := r.BasicAuth()
	if !okAuth || u != f.user || p != f.password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/overview":
		_, _ = w.Write([]byte(`{"rabbitmq_version":"3.10.8","cluster_name":"test","node":"rabbit@x"}`))
	case "/api/nodes":
		_ = json.NewEncoder(w).Encode(f.nodes)
	case "/api/queues":
		_ = json.NewEncoder(w).Encode(f.queues)
	case "/api/health/checks/node-is-quorum-critical":
		if f.critical != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"status":"failed","reason":%q}`, f.critical)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// stack is a whole fake environment for the probe builder: two Keystone nodes, three
// RabbitMQ management APIs, status documents, fernet directories and secrets.
type stack struct {
	t       *target.Target
	ks      []*checktest.Keystone
	rabbit  *fakeRabbit
	secrets string
}

func newStack(t *testing.T) *stack {
	ca := checktest.ValidCA(t)
	dir := t.TempDir()
	s := &stack{secrets: filepath.Join(dir, "secrets")}
	must(t, os.MkdirAll(s.secrets, 0o700))
	adminPW, rabbitPW := "adm-"+strconv.Itoa(int(time.Now().UnixNano())), "rmq-"+strconv.Itoa(int(time.Now().UnixNano()))
	writeSecret(t, s.secrets, agent.SecretKeystoneAutomation, adminPW)
	writeSecret(t, s.secrets, secretRabbitMQ, rabbitPW)
	cluster := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{agent.KeystoneAutomationUser: {Password: adminPW, Roles: []string{"reader"}}})
	s.t = &target.Target{Env: "test", Kind: "local", CACert: ca.File, SecretsDir: s.secrets,
		StatusDir: filepath.Join(dir, "status"), SharedDir: filepath.Join(dir, "shared"), FernetKeyDirs: map[string]string{}}
	must(t, os.MkdirAll(s.t.SharedDir, 0o755))
	st := status.Dir{Path: s.t.StatusDir}
	for i := 1; i <= 2; i++ {
		name := inventory.HostName(envfile.RoleKeystone, i)
		h := inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: i, FQDN: name + ".test.cso.ss", Address: "127.0.0.1"}
		k := cluster.NewKeystone(t, ca.ValidLeaf(h.FQDN))
		s.ks = append(s.ks, k)
		h.Ports = map[string]int{inventory.PortKeystone: k.Server.Listener.Addr().(*net.TCPAddr).Port}
		s.t.Hosts = append(s.t.Hosts, h)
		kd := filepath.Join(dir, name, "fernet-keys")
		must(t, os.MkdirAll(kd, 0o700))
		for _, key := range []string{"0", "1", "2"} {
			must(t, os.WriteFile(filepath.Join(kd, key), []byte("key-"+key+"\n"), 0o600))
		}
		s.t.FernetKeyDirs[name] = kd
	}
	s.rabbit = &fakeRabbit{user: "ssp_user", password: rabbitPW}
	for i := 1; i <= 3; i++ {
		name := inventory.HostName(envfile.RoleRabbitMQ, i)
		h := inventory.Host{Name: name, Role: envfile.RoleRabbitMQ, Index: i, FQDN: name + ".test.cso.ss", Address: "127.0.0.1"}
		srv := httptest.NewUnstartedServer(s.rabbit)
		srv.Config.ErrorLog = quiet
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ValidLeaf(h.FQDN)}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		h.Ports = map[string]int{inventory.PortManagement: srv.Listener.Addr().(*net.TCPAddr).Port}
		s.t.Hosts = append(s.t.Hosts, h)
		s.rabbit.nodes = append(s.rabbit.nodes, rabbitNode{Name: "rabbit@" + name, Running: true})
	}
	// Each Keystone agent published the digests of the credential key set it installed.
	credential := status.DigestKeys(map[string][]byte{"0": []byte("cred-0"), "1": []byte("cred-1")}).String()
	version := buildinfo.Read() // agents of this very build
	for _, h := range s.t.Hosts {
		doc := status.Host{Host: h.Name, Role: string(h.Role), State: status.StateDone, Agent: &version,
			Steps: []status.Step{{Name: "install", State: status.StateDone}}}
		if h.Role == envfile.RoleKeystone {
			doc.Facts = map[string]string{status.FactCredentialKeys: credential}
		}
		must(t, st.Put(context.Background(), doc))
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeSecret(t *testing.T, dir, name, value string) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o600))
}

// run runs every probe except MySQL's (no database in unit tests) and indexes the results.
func (s *stack) run(t *testing.T) map[string]Result {
	t.Helper()
	c := New(s.t, Options{Timeout: 3 * time.Second})
	var ps []Probe
	for _, p := range c.Probes() {
		if p.Group != GroupMySQL && p.Check != "tcp mysql" {
			ps = append(ps, p)
		}
	}
	rep := Run(context.Background(), ps, 3*time.Second)
	out := map[string]Result{}
	for _, r := range rep.Results {
		out[r.Check+" "+r.Target] = r
	}
	return out
}

func expect(t *testing.T, rs map[string]Result, key string, st Status, detail string) {
	t.Helper()
	r, found := rs[key]
	if !found {
		t.Errorf("no result %q", key)
		return
	}
	if r.Status != st || !strings.Contains(r.Detail, detail) {
		t.Errorf("%s: %s %q, want %s containing %q", key, r.Status, r.Detail, st, detail)
	}
}

func TestClusterProbesAllGreen(t *testing.T) {
	s := newStack(t)
	rs := s.run(t)
	for k, r := range rs {
		if r.Status != OK {
			t.Errorf("%s: %s %s", k, r.Status, r.Detail)
		}
	}
	expect(t, rs, "keystone cross-validation keystone01 -> keystone02", OK, "keystone02 accepts the token issued by keystone01")
	expect(t, rs, "keystone cross-validation keystone02 -> keystone01", OK, "keystone01 accepts")
	expect(t, rs, "keystone fernet keys keystone cluster", OK, "2 nodes hold the same 3 keys (0,1,2; key directories)")
	expect(t, rs, "keystone credential keys keystone cluster", OK, "2 nodes hold the same 2 keys (0,1; as each node's agent last published them)")
	expect(t, rs, "rabbitmq nodes running rabbitmq cluster", OK, "3 of 3 nodes running")
	expect(t, rs, "shared store shared", OK, "write/read/delete work")
	expect(t, rs, "setup status keystone01", OK, "setup done (1/1 steps)")
	if n := len(rs); n < 25 {
		t.Errorf("only %d results", n)
	}
}

// A busy node answers each token request within the probe timeout but the three of a
// cross-validation (two issues, one validation) take longer together: still OK, as each
// request has the whole timeout; a node that does not answer one in time fails.
func TestCrossValidationTimeoutPerRequest(t *testing.T) {
	s := newStack(t)
	const timeout = 1500 * time.Millisecond
	for _, k := range s.ks {
		k.SetDelay(900 * time.Millisecond)
	}
	c := New(s.t, Options{Timeout: timeout})
	var ps []Probe
	for _, p := range c.Probes() {
		if p.Check == "keystone cross-validation" || p.Check == "keystone token" {
			ps = append(ps, p)
		}
	}
	rep := Run(context.Background(), ps, timeout)
	for _, r := range rep.Results {
		if r.Status != OK {
			t.Errorf("%s %s: %s %s, want ok with %s per request and %s per probe", r.Check, r.Target, r.Status, r.Detail, 900*time.Millisecond, timeout)
		}
	}
	if len(rep.Results) != 4 {
		t.Errorf("%d keystone token and cross-validation results, want 4", len(rep.Results))
	}
	if rep.Duration < timeout {
		t.Errorf("the chain took %s: the delay did not apply", rep.Duration)
	}
	s.ks[0].SetDelay(2 * timeout)
	c = New(s.t, Options{Timeout: timeout})
	ps = ps[:0]
	for _, p := range c.Probes() {
		if p.Check == "keystone cross-validation" {
			ps = append(ps, p)
		}
	}
	for _, r := range Run(context.Background(), ps, timeout).Results {
		if r.Status != Fail || !strings.Contains(r.Detail, "keystone01") {
			t.Errorf("%s %s: %s %q, want a failure naming keystone01, which answers nothing in time", r.Check, r.Target, r.Status, r.Detail)
		}
	}
}

func TestClusterProbesDetectFailures(t *testing.T) {
	s := newStack(t)
	// keystone02 rotated alone: a different key set on disk and in the tokens it accepts.
	must(t, os.WriteFile(filepath.Join(s.t.FernetKeyDirs["keystone02"], "3"), []byte("key-3"), 0o600))
	must(t, os.WriteFile(filepath.Join(s.t.FernetKeyDirs["keystone02"], "0"), []byte("key-0-new"), 0o600))
	s.ks[1].SetKeySet("keys-2")
	// A stopped node, a partition and an alarm as the management API reports them.
	s.rabbit.nodes[2].Running = false
	s.rabbit.nodes[0].Partitions = []string{"rabbit@rabbitmq-server-2"}
	s.rabbit.nodes[1].MemAlarm = true
	s.rabbit.critical = "there are quorum queues with minimum online quorum"
	// A failed and a missing setup.
	st := status.Dir{Path: s.t.StatusDir}
	must(t, st.Put(context.Background(), status.Host{Host: "keystone02", State: status.StateFailed, Step: "fernet",
		LastError: "keystone-manage fernet_setup: exit 1",
		Facts:     map[string]string{status.FactCredentialKeys: status.DigestKeys(map[string][]byte{"0": []byte("other")}).String()}}))
	must(t, st.Delete(context.Background(), "rabbitmq-server-3"))

	rs := s.run(t)
	expect(t, rs, "keystone fernet keys keystone cluster", Fail, "keystone02 differs from keystone01: key 0 differs, key 3 only on keystone02")
	expect(t, rs, "keystone credential keys keystone cluster", Fail, "keystone02 differs from keystone01: key 0 differs, key 1 only on keystone01")
	expect(t, rs, "keystone cross-validation keystone01 -> keystone02", Fail,
		"keystone02 does not recognize the token issued by keystone01 (HTTP 404: Could not recognize Fernet token): their fernet key sets differ")
	expect(t, rs, "rabbitmq nodes running rabbitmq cluster", Fail, "2 of 3 nodes running (seen from rabbitmq-server-1); not running: rabbit@rabbitmq-server-3")
	expect(t, rs, "rabbitmq partitions rabbitmq cluster", Fail, "rabbit@rabbitmq-server-1 cannot see rabbit@rabbitmq-server-2")
	expect(t, rs, "rabbitmq alarms rabbitmq cluster", Fail, "rabbit@rabbitmq-server-2: memory alarm")
	expect(t, rs, "rabbitmq quorum-critical rabbitmq-server-1", Fail, "rabbitmq-server-1 is quorum-critical: there are quorum queues")
	expect(t, rs, "setup status keystone02", Fail, `setup of keystone02 failed at step "fernet": keystone-manage fernet_setup: exit 1`)
	expect(t, rs, "setup status rabbitmq-server-3", Fail, "rabbitmq-server-3 has published no setup status")

	// A wrong secret: Keystone refuses the token and RabbitMQ the management user.
	writeSecret(t, s.secrets, agent.SecretKeystoneAutomation, "wrong")
	writeSecret(t, s.secrets, secretRabbitMQ, "wrong")
	rs = s.run(t)
	expect(t, rs, "keystone token keystone01", Fail, "keystone01 refused a token for cso-automation: HTTP 401")
	expect(t, rs, "http /api/overview rabbitmq-server-2:"+strconv.Itoa(s.t.Hosts[3].Ports[inventory.PortManagement]), Fail,
		"user ssp_user rejected on /api/overview (HTTP 401)")
}

func TestSharedStoreNotWritable(t *testing.T) {
	s := newStack(t)
	s.t.SharedDir = filepath.Join(t.TempDir(), "missing")
	c := New(s.t, Options{})
	if o := c.sharedStore(context.Background()); o.Status != Fail || !strings.Contains(o.Detail, "not mounted?") {
		t.Errorf("%+v", o)
	}
}

// The database is always reached over TLS and verified: on AWS against mysql_ca; without
// one the probe fails saying it cannot verify, unless --mysql-insecure, which connects
// unverified and says so.
func TestMySQLTLSOnAWS(t *testing.T) {
	ca := checktest.ValidCA(t)
	for _, tc := range []struct {
		name, mysqlCA, note, err string
		insecure, verified       bool
	}{
		{"no bundle", "", "", "cannot verify the database's certificate", false, false},
		{"no bundle, --mysql-insecure", "", "NOT verified: --mysql-insecure", "", true, false},
		{"bundle", ca.File, "(TLS, verified)", "", false, true},
		{"bundle wins over --mysql-insecure", ca.File, "(TLS, verified)", "", true, true},
		{"missing bundle", filepath.Join(t.TempDir(), "none.pem"), "", "mysql_ca:", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := &target.Target{Kind: target.KindAWS, MySQL: "db.abc.eu-west-2.rds.amazonaws.com:3306", MySQLCA: tc.mysqlCA}
			c := New(tg, Options{Status: status.Dir{Path: t.TempDir()}, Secrets: &agent.LocalSecrets{Dir: t.TempDir()}, MySQLInsecure: tc.insecure})
			cfg := mysql.NewConfig()
			note, err := c.mysqlTLS(cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || cfg.TLS != nil {
					t.Fatalf("error %v (tls %v), want %q and no connection settings", err, cfg.TLS, tc.err)
				}
				return
			}
			if err != nil || !strings.Contains(note, tc.note) || cfg.TLS == nil || cfg.TLS.ServerName != "db.abc.eu-west-2.rds.amazonaws.com" ||
				cfg.TLS.InsecureSkipVerify == tc.verified || (cfg.TLS.RootCAs != nil) != tc.verified {
				t.Errorf("note %q, err %v, tls %+v", note, err, cfg.TLS)
			}
		})
	}
	// The local MariaDB is verified against the project CA (the target's ca_cert).
	cfg := mysql.NewConfig()
	if note, err := New(&target.Target{Kind: target.KindLocal, MySQL: "127.0.0.1:3406", CACert: ca.File}, Options{}).mysqlTLS(cfg); err != nil ||
		note != " (TLS, verified)" || cfg.TLS == nil || cfg.TLS.RootCAs == nil || cfg.TLS.InsecureSkipVerify || cfg.TLS.ServerName != "127.0.0.1" {
		t.Errorf("local: %q %v %+v", note, err, cfg.TLS)
	}
}

// The token checks default to the automation identity and its secret; naming admin switches
// to the admin's secret.
func TestKeystoneCredentialDefaults(t *testing.T) {
	o := Options{}
	o.defaults()
	if o.KeystoneUser != agent.KeystoneAutomationUser || o.KeystoneSecret != agent.SecretKeystoneAutomation || o.KeystoneProject != "admin" {
		t.Errorf("defaults: user %q secret %q project %q", o.KeystoneUser, o.KeystoneSecret, o.KeystoneProject)
	}
	o = Options{KeystoneUser: "admin"}
	o.defaults()
	if o.KeystoneSecret != agent.SecretKeystoneAdmin {
		t.Errorf("user admin: secret %q, want %s", o.KeystoneSecret, agent.SecretKeystoneAdmin)
	}
}

// WriteShort lists what needs attention and counts the rest; skipped checks are grouped by
// reason.
func TestWriteShort(t *testing.T) {
	mk := func(check, target string, st Status, detail string) Probe {
		return Probe{Check: check, Target: target, Run: func(context.Context) Outcome { return Outcome{Status: st, Detail: detail} }}
	}
	rep := Run(context.Background(), []Probe{
		mk("tls", "keystone01:5000", OK, "verified"),
		mk("tcp", "frontend01:8080", Skip, "no application package"),
		mk("tcp", "backend01:8202", Skip, "no application package"),
		mk("cert", "keystone02:5000", Warn, "12 days left"),
		mk("keystone token", "keystone02", Fail, "401 Unauthorized"),
	}, time.Second)
	var b strings.Builder
	if err := rep.WriteShort(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"keystone token  keystone02", "FAIL", "cert            keystone02:5000", "WARN",
		"SKIP 2 checks (frontend01:8080 ...): no application package", "FAIL: 1 ok, 1 warn, 1 fail, 2 skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("short table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "verified") {
		t.Errorf("short table lists an ok result:\n%s", out)
	}
	if strings.Index(out, "keystone token") > strings.Index(out, "cert ") {
		t.Errorf("the failure is not listed first:\n%s", out)
	}
}
