package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cso-ssp/platform/internal/admin"
	"github.com/cso-ssp/platform/internal/admin/admintest"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/target"
)

func admSecret(t testing.TB, tg *target.Target, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tg.SecretsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestAdminDashboardInChromium signs in to the jump host's dashboard (the one the local
// target runs) in Debian's headless Chromium and checks that every host and service is on
// the page; the screenshot is kept in test-artifacts/admin-dashboard.png.
func TestAdminDashboardInChromium(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	jump := ckHost(t, tg, inventory.HostName(envfile.RoleJump, 1))
	certPEM, err := os.ReadFile(pki.Store{Dir: filepath.Dir(filepath.Dir(tg.CACert))}.ServerCert(jump.Name))
	ckMust(t, err)
	cert, err := pki.ParseCert(certPEM)
	ckMust(t, err)
	// Trust exactly the jump host's certificate and resolve its FQDN to the local target.
	ctx := admintest.Chromium(t, cert, fmt.Sprintf("MAP %s %s", jump.FQDN, jump.Address), 90*time.Second)

	base := fmt.Sprintf("https://%s:%d", jump.FQDN, jump.Ports[inventory.PortAdmin])
	ckMust(t, chromedp.Do(ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitReady(chromedp.ID("username"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	ckMust(t, err)
	if !strings.HasSuffix(loc, "/admin/login") {
		t.Errorf("unauthenticated /admin/ went to %s, want the sign-in page", loc)
	}
	page, err := admintest.SignIn(ctx, "admin", admSecret(t, tg, "keystone-admin-password"))
	ckMust(t, err)
	body, cookies, shot := page.Body, page.Cookies, page.Screenshot
	if page.HeaderBackground != "rgb(36, 41, 47)" {
		t.Errorf("header background %q: the stylesheet did not apply under the CSP", page.HeaderBackground)
	}
	art := filepath.Join(s.Repo, "test-artifacts")
	ckMust(t, os.MkdirAll(art, 0o755))
	ckMust(t, os.WriteFile(filepath.Join(art, "admin-dashboard.png"), shot, 0o644))

	if cookies != "" {
		t.Errorf("cookies readable by scripts: %q", cookies)
	}
	for _, want := range []string{"Keystone cluster", "RabbitMQ cluster", "Certificates", "keystone cross-validation",
		"rabbitmq nodes running", "mysql user keystone", "Last deployment", "Sign out"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// Every host and every one of its services (port) is shown.
	for _, h := range tg.Hosts {
		if !strings.Contains(body, h.Name) {
			t.Errorf("dashboard lacks host %s", h.Name)
		}
		for name, port := range h.Ports {
			// The hosts table lists each service with its port (visible text; the per-host
			// probe tables of healthy hosts are folded).
			if !strings.Contains(body, fmt.Sprintf("%s %d", name, port)) {
				t.Errorf("dashboard lacks service %s of %s (%d)", name, h.Name, port)
			}
		}
	}
}

// admRecorder notes the tokens Keystone issues to the dashboard.
type admRecorder struct {
	base   http.RoundTripper
	mu     sync.Mutex
	tokens []string
}

func (r *admRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && resp.StatusCode == http.StatusCreated {
		r.mu.Lock()
		r.tokens = append(r.tokens, resp.Header.Get("X-Subject-Token"))
		r.mu.Unlock()
	}
	return resp, err
}

func (r *admRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tokens) == 0 {
		return ""
	}
	return r.tokens[len(r.tokens)-1]
}

// keystoneCall sends one request to a Keystone node of the stack.
func admKeystoneCall(t testing.TB, client *http.Client, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	ckMust(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	ckMust(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

var admCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestAdminKeystoneSession signs in with the real Keystone, then revokes the session's token
// on the other Keystone node: the next request is refused. Signing out revokes the token.
func TestAdminKeystoneSession(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	jump := ckHost(t, tg, inventory.HostName(envfile.RoleJump, 1))
	ks := inventory.ByRole(tg.Hosts, envfile.RoleKeystone)
	if len(ks) < 2 {
		t.Fatalf("the HA stack has %d Keystone nodes", len(ks))
	}
	kc, err := check.HTTPClient(tg, 20*time.Second)
	ckMust(t, err)
	rec := &admRecorder{base: kc.Transport}
	srv, err := admin.New(admin.Config{TargetFile: filepath.Join(dir, target.FileName), Revalidate: time.Nanosecond,
		KeystoneClient: &http.Client{Transport: rec, Timeout: 20 * time.Second}, CacheFor: time.Minute,
		KeystoneURLs: []string{fmt.Sprintf("https://%s:%d", ks[0].FQDN, ks[0].Ports[inventory.PortKeystone])}})
	ckMust(t, err)
	base, addr, roots := admServe(t, tg, jump, srv)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: jump.FQDN},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = browser.PostForm(base+path, form)
		} else {
			resp, err = browser.Get(base + path)
		}
		ckMust(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	signIn := func() string {
		t.Helper()
		_, page := do("GET", "/admin/login", nil)
		m := admCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF field on the sign-in page")
		}
		resp, _ := do("POST", "/admin/login", url.Values{"csrf": {m[1]}, "username": {"admin"}, "password": {admSecret(t, tg, "keystone-admin-password")}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
			t.Fatalf("sign-in with the real Keystone: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		tok := rec.last()
		if tok == "" {
			t.Fatal("no token recorded")
		}
		return tok
	}

	if resp, _ := do("GET", "/admin/api/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API before sign-in: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do("POST", "/admin/login", url.Values{"username": {"admin"}, "password": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without CSRF token: %d, want 403", resp.StatusCode)
	}
	tok := signIn()
	resp, body := do("GET", "/admin/api/status", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("API after sign-in: %d %s", resp.StatusCode, body)
	}
	var v struct {
		Env   string `json:"env"`
		Hosts []struct {
			Name string `json:"name"`
		} `json:"hosts"`
	}
	ckMust(t, json.Unmarshal([]byte(body), &v))
	if v.Env != tg.Env || len(v.Hosts) != len(tg.Hosts) {
		t.Errorf("status: env %q with %d hosts, want %q with %d", v.Env, len(v.Hosts), tg.Env, len(tg.Hosts))
	}

	// Revoke the session's token on keystone02 with an admin token of the test's own.
	ks2 := fmt.Sprintf("https://%s:%d/v3/auth/tokens", ks[1].FQDN, ks[1].Ports[inventory.PortKeystone])
	authBody, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": "admin", "domain": map[string]string{"name": "Default"}, "password": admSecret(t, tg, "keystone-admin-password")}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"name": "Default"}}}}})
	r, _ := admKeystoneCall(t, kc, http.MethodPost, ks2, map[string]string{"Content-Type": "application/json"}, authBody)
	own := r.Header.Get("X-Subject-Token")
	if r.StatusCode != http.StatusCreated || own == "" {
		t.Fatalf("test's own token: %d", r.StatusCode)
	}
	if r, b := admKeystoneCall(t, kc, http.MethodDelete, ks2, map[string]string{"X-Auth-Token": own, "X-Subject-Token": tok}, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke the session's token: %d %s", r.StatusCode, b)
	}
	if resp, _ := do("GET", "/admin/api/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after the token was revoked: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do("GET", "/admin/", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("page after the token was revoked: %d to %q, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Sign in again and sign out: the token is revoked in Keystone.
	tok = signIn()
	_, page := do("GET", "/admin/", nil)
	m := admCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no sign-out form on the dashboard")
	}
	if resp, _ := do("POST", "/admin/logout", url.Values{"csrf": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d", resp.StatusCode)
	}
	if r, _ := admKeystoneCall(t, kc, http.MethodGet, ks2, map[string]string{"X-Auth-Token": own, "X-Subject-Token": tok}, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("token after sign-out: Keystone answers %d, want 404 (revoked)", r.StatusCode)
	}
	if resp, _ := do("GET", "/admin/api/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after sign-out: %d, want 401", resp.StatusCode)
	}
}

// admServe serves the dashboard srv as the jump host does: over TLS with the jump host's
// certificate, here on a loopback port until the test ends. It returns the base URL (the
// jump host's FQDN and that port), the address to dial for it, and the project CA.
func admServe(t *testing.T, tg *target.Target, jump inventory.Host, srv *admin.Server) (base, addr string, roots *x509.CertPool) {
	t.Helper()
	store := pki.Store{Dir: filepath.Dir(filepath.Dir(tg.CACert))}
	pair, err := tls.LoadX509KeyPair(store.ServerCert(jump.Name), store.ServerKey(jump.Name))
	ckMust(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	ckMust(t, err)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	caPEM, err := os.ReadFile(tg.CACert)
	ckMust(t, err)
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return fmt.Sprintf("https://%s:%d", jump.FQDN, ln.Addr().(*net.TCPAddr).Port), ln.Addr().String(), roots
}
