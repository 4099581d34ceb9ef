package frontend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/status"
)

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestFrontend converges a frontend host with the fixture package: nginx answers /health
// with 200 "OK", both proxy locations reach the right UI service, the security headers are
// there, and a second run changes nothing.
func TestFrontend(t *testing.T) {
	stacktest.RequireTools(t, frontend.NginxBin, "/usr/bin/java")
	s := stacktest.New(t, "frontend", inventory.LocalOptions{PortBase: 3000})
	s.Env.Application.Package = fixture.Build(t, s.Dir)
	h := s.Host("frontend-server-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dry, err := s.Run(ctx, h, frontend.New(), stacktest.AppHostsOnly, func(rt *agent.Runtime) { rt.DryRun = true })
	if err != nil || len(dry.Changed) == 0 {
		t.Fatalf("dry run on a fresh host: %v, changes %v", err, dry.Changed)
	}
	if _, err := os.Stat(s.Paths(h.Name).Root); err == nil {
		t.Fatalf("the dry run created %s", s.Paths(h.Name).Root)
	}

	start := time.Now()
	if _, err := s.Run(ctx, h, frontend.New(), stacktest.AppHostsOnly); err != nil {
		t.Fatal(err)
	}
	t.Logf("frontend converged from nothing in %s", time.Since(start).Round(100*time.Millisecond))
	base := fmt.Sprintf("http://127.0.0.1:%d", h.Ports[inventory.PortNginx])

	resp, body := get(t, base+"/health", nil)
	if resp.StatusCode != 200 || body != "OK" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/health: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if srv := resp.Header.Get("Server"); srv != "nginx" {
		t.Errorf("Server header %q: want no version (server_tokens off)", srv)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN",
		"Referrer-Policy": "strict-origin-when-cross-origin", "Content-Security-Policy": "default-src 'self'",
	} {
		if got := resp.Header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("HSTS on a plain HTTP request: %q", hsts)
	}
	resp, _ = get(t, base+"/health", map[string]string{"X-Forwarded-Proto": "https"})
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") {
		t.Errorf("no HSTS behind TLS termination: %q", hsts)
	}

	for _, tc := range []struct{ path, service, upstreamPath string }{
		{"/ui/management/", "management-ui", "/"},
		{"/ui/management/tickets/42", "management-ui", "/tickets/42"},
		{"/ui/portal/", "portal-ui", "/"},
		{"/ui/portal/catalog", "portal-ui", "/catalog"},
	} {
		resp, body := get(t, base+tc.path, nil)
		var who struct {
			Service string `json:"service"`
			Port    int    `json:"port"`
			Path    string `json:"path"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &who) != nil {
			t.Errorf("%s: %d %q", tc.path, resp.StatusCode, body)
			continue
		}
		port := h.Ports[apppkg.FrontendServices[tc.service]]
		if who.Service != tc.service || who.Port != port || who.Path != tc.upstreamPath {
			t.Errorf("%s reached %+v, want %s on %d at %s", tc.path, who, tc.service, port, tc.upstreamPath)
		}
		if resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("%s: proxied answer lacks the security headers", tc.path)
		}
	}

	res, err := s.Run(ctx, h, frontend.New(), stacktest.AppHostsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 {
		t.Errorf("second run changed: %v", res.Changed)
	}
	doc, err := s.Store.Get(ctx, h.Name)
	if err != nil || doc.State != status.StateDone {
		t.Errorf("status: %+v %v", doc, err)
	}
	// The nginx configuration is self-contained: its files are all in the host's tree.
	conf, _ := os.ReadFile(s.Paths(h.Name).Etc + "/nginx/nginx.conf")
	files := 0
	for _, line := range strings.Split(string(conf), "\n") {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if len(f) < 2 || !(f[0] == "pid" || f[0] == "error_log" || f[0] == "access_log" || strings.HasSuffix(f[0], "_temp_path")) {
			continue
		}
		files++
		if !strings.HasPrefix(f[1], s.Dir+"/") {
			t.Errorf("nginx.conf: %s outside the host's tree", line)
		}
	}
	if files != 8 || strings.Contains(string(conf), "include ") {
		t.Errorf("nginx.conf is not self-contained (%d file directives):\n%s", files, conf)
	}
}

// TestFrontendWithoutPackage: nginx runs and answers /health, the proxy locations have
// nothing behind them, and the role says "no application package" rather than green.
func TestFrontendWithoutPackage(t *testing.T) {
	stacktest.RequireTools(t, frontend.NginxBin)
	s := stacktest.New(t, "frontend-nopkg", inventory.LocalOptions{PortBase: 3000})
	h := s.Host("frontend-server-1")
	res, err := s.Run(context.Background(), h, frontend.New(), stacktest.AppHostsOnly)
	if err != nil {
		t.Fatalf("no package is a skip, not a failure: %v", err)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "no application package") {
		t.Fatalf("skipped: %v", res.Skipped)
	}
	doc, err := s.Store.Get(context.Background(), h.Name)
	if err != nil {
		t.Fatal(err)
	}
	if last := doc.Steps[len(doc.Steps)-1]; last.State != status.StateSkipped || !strings.Contains(last.Detail, "no application package") {
		t.Errorf("status does not say so: %+v", last)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", h.Ports[inventory.PortNginx])
	if resp, body := get(t, base+"/health", nil); resp.StatusCode != 200 || body != "OK" {
		t.Errorf("/health: %d %q", resp.StatusCode, body)
	}
	// Nothing of ours listens on the portal port; another stack on this machine might (port
	// bases 100 apart overlap: 8102+200 = 8202+100), and then there is something behind it.
	portal := fmt.Sprintf("127.0.0.1:%d", h.Ports[inventory.PortPortalUI])
	if c, err := net.DialTimeout("tcp", portal, time.Second); err == nil {
		c.Close()
		t.Logf("%s is taken by another process on this machine: not checking for 502", portal)
	} else if resp, _ := get(t, base+"/ui/portal/", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("/ui/portal/ without a portal: %d, want 502", resp.StatusCode)
	}
}

// TestRenderConfAWS: on EC2 nginx listens on 8102 on every address and proxies to the UIs
// on the LLD's ports (3.1.1).
func TestRenderConfAWS(t *testing.T) {
	env := &envfile.Env{Name: "dev", DomainSuffix: "cso.ss"}
	h, _ := inventory.Find(inventory.Hosts(env), "frontend-server-1")
	rt := &agent.Runtime{Env: env, Host: h, Paths: agent.Paths{Root: "/", SSLCerts: "/opt/ssl-certs", Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run"}}
	n, err := frontend.NginxFor(rt)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(frontend.RenderConf(n))
	for _, want := range []string{
		"listen 8102;", "server_tokens off;", "location = /health {", "return 200 \"OK\";",
		"location /ui/management/ {", "proxy_pass http://127.0.0.1:8080/;",
		"location /ui/portal/ {", "proxy_pass http://127.0.0.1:8202/;",
		"proxy_set_header Host $host;", "proxy_set_header X-Real-IP $remote_addr;",
		"pid /run/nginx/nginx.pid;", "error_log /var/log/nginx/error.log warn;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if n.ServiceName != "nginx" {
		t.Errorf("service name on EC2: %q", n.ServiceName)
	}
	// /run is empty after a reboot: systemd creates the pid directory at every start.
	if unit := agent.RenderUnit(n.Spec(), ""); !strings.Contains(unit, "\nRuntimeDirectory=nginx\nRuntimeDirectoryMode=0755\n") {
		t.Errorf("nginx unit does not create /run/nginx:\n%s", unit)
	}
}
