package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

const signer = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/dev-ha-frontend-lb/50dc6c495c0c9188"

type fixture struct {
	srv       *httptest.Server
	ks        *checktest.Keystone
	adminPW   string
	t         *target.Target
	albKey    *ecdsa.PrivateKey
	keyFetch  atomic.Int32
	jwksGets  atomic.Int32
	poolMu    sync.Mutex // the pool's current key and its id (rotated by a test)
	poolKey   *rsa.PrivateKey
	poolKeyID string
}

func (f *fixture) poolSigner() (*rsa.PrivateKey, string) {
	f.poolMu.Lock()
	defer f.poolMu.Unlock()
	return f.poolKey, f.poolKeyID
}

// The test user pool and the ALB's app client.
const (
	poolRegion = "eu-west-2"
	poolID     = "eu-west-2_test"
	poolIssuer = "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_test"
	appClient  = "client-id"
	poolKid    = "pool-kid+/="
)

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	return newFixtureCA(t, func(_ *checktest.CA, c *Config) {
		if mutate != nil {
			mutate(c)
		}
	})
}

// newFixtureCA is newFixture for mutations that need the environment's CA (more servers).
func newFixtureCA(t *testing.T, mutate func(*checktest.CA, *Config)) *fixture {
	t.Helper()
	f := &fixture{adminPW: randomID()}
	ca := checktest.ValidCA(t)
	cluster := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{
		"admin":  {Password: f.adminPW, Roles: []string{"admin", "member"}},
		"viewer": {Password: f.adminPW + "v", Roles: []string{"member"}},
	})
	fq := "keystone01.test.cso.ss"
	f.ks = cluster.NewKeystone(t, ca.ValidLeaf(fq))
	dir := t.TempDir()
	logFile := filepath.Join(dir, "keystone-setup-progress.log")
	var lines []string
	for i := range 40 {
		lines = append(lines, "progress line "+strings.Repeat("x", i%3)+" #"+string(rune('A'+i%26)))
	}
	lines[39] = "setup finished <script>alert(1)</script>"
	must(t, os.WriteFile(logFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	deploy := filepath.Join(dir, "last-deploy.json")
	must(t, os.WriteFile(deploy, []byte(`{"env":"test","result":"ok","finished":"2026-11-26T06:00:00Z"}`), 0o644))
	f.t = &target.Target{Env: "test", Kind: "local", CACert: ca.File, StatusDir: filepath.Join(dir, "status"),
		SharedDir: dir, LastDeploy: deploy, Logs: map[string][]string{"keystone01": {logFile}},
		Hosts: []inventory.Host{{Name: "keystone01", Role: envfile.RoleKeystone, FQDN: fq, Address: "127.0.0.1",
			Ports: map[string]int{inventory.PortKeystone: f.ks.Server.Listener.Addr().(*net.TCPAddr).Port}}}}
	must(t, status.Dir{Path: f.t.StatusDir}.Put(t.Context(), status.Host{Host: "keystone01", State: status.StateRunning,
		Agent: &buildinfo.Info{Version: "v1.2.3", Revision: "0123456789abcdef"}, Step: "bootstrap", Steps: []status.Step{{Name: "packages", State: status.StateDone}, {Name: "bootstrap", State: status.StateRunning}}}))

	f.albKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&f.albKey.PublicKey)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.keyFetch.Add(1)
		if r.URL.Path != "/eu-west-2/good-kid" {
			http.NotFound(w, r)
			return
		}
		_ = pem.Encode(w, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}))
	t.Cleanup(keys.Close)

	f.poolKey, f.poolKeyID = poolSigningKey(t), poolKid
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.jwksGets.Add(1)
		if r.URL.Path != "/"+poolID+"/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		key, kid := f.poolSigner()
		pub := key.PublicKey
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)

	cfg := Config{Target: f.t, ALB: &ALBConfig{Region: "eu-west-2", Signer: signer, KeyURL: keys.URL + "/{region}/{kid}"},
		Cognito: &CognitoConfig{Region: poolRegion, UserPoolID: poolID, ClientID: appClient, Group: "cso-admins",
			JWKSURL: jwks.URL + "/" + poolID + "/.well-known/jwks.json"}}
	cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, nil))
	mutate(ca, &cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewTLSServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// tlog sends the server's log to the test's log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client is a browser-like client: a cookie jar, no redirects followed.
func (f *fixture) client() *http.Client {
	c := f.srv.Client()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, url string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(url, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", page)
	}
	return m[1]
}

// signIn signs in as user and returns the client holding the session.
func (f *fixture) signIn(t *testing.T, user, password string) (*http.Client, *http.Response) {
	t.Helper()
	c := f.client()
	_, page := get(t, c, f.srv.URL+"/admin/login", nil)
	resp, _ := post(t, c, f.srv.URL+"/admin/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {user}, "password": {password}})
	return c, resp
}

func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"X-Frame-Options":           "DENY",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, k, got, v)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	resp, body := get(t, c, f.srv.URL+"/health", nil)
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/health: %d %q", resp.StatusCode, body)
	}
	checkHeaders(t, resp)
	for _, path := range []string{"/admin", "/admin/static/../api/status"} {
		// The router's own redirects (to /admin/, to a cleaned path) carry no data.
		resp, body := get(t, c, f.srv.URL+path, nil)
		if resp.StatusCode/100 != 3 || strings.Contains(body, "keystone01") {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/admin/", "/", "/admin/nothing"} {
		resp, _ := get(t, c, f.srv.URL+path, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
			t.Errorf("GET %s: %d to %q, want 303 to /admin/login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
		checkHeaders(t, resp)
	}
	resp, body = get(t, c, f.srv.URL+"/admin/api/status", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) || strings.Contains(body, "keystone01") {
		t.Errorf("API without session: %d %s", resp.StatusCode, body)
	}
	checkHeaders(t, resp)
	// A forged session cookie is no session.
	resp, _ = get(t, c, f.srv.URL+"/admin/api/status", map[string]string{"Cookie": sessionCookie + "=" + randomID()})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged session: %d", resp.StatusCode)
	}
	resp, _ = post(t, c, f.srv.URL+"/admin/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout without session: %d", resp.StatusCode)
	}
	resp, body = get(t, c, f.srv.URL+"/admin/static/style.css", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, ".badge") {
		t.Errorf("stylesheet: %d", resp.StatusCode)
	}
}

func TestKeystoneSignIn(t *testing.T) {
	f := newFixture(t, nil)
	// Without the CSRF cookie/field pair the form is refused, and no token is asked for.
	c := f.client()
	resp, _ := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {"admin"}, "password": {f.adminPW}})
	if resp.StatusCode != http.StatusForbidden || len(f.ks.Issued()) != 0 {
		t.Errorf("login without CSRF: %d, %d tokens issued", resp.StatusCode, len(f.ks.Issued()))
	}
	// Wrong password and missing role are refused without a session.
	for _, tc := range []struct{ user, pw, msg string }{
		{"admin", "wrong", "Keystone did not accept these credentials."},
		{"viewer", f.adminPW + "v", "viewer has no admin role on project admin."},
	} {
		c, resp := f.signIn(t, tc.user, tc.pw)
		b, _ := io.ReadAll(resp.Body)
		_ = b
		if resp.StatusCode == http.StatusSeeOther {
			t.Errorf("%s/%s: signed in", tc.user, tc.pw)
		}
		resp2, _ := get(t, c, f.srv.URL+"/admin/api/status", nil)
		if resp2.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: API after refused sign-in: %d", tc.user, resp2.StatusCode)
		}
	}
	c, resp = f.signIn(t, "admin", f.adminPW)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/", sc)
	}
	resp, body := get(t, c, f.srv.URL+"/admin/api/status", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("API with session: %d %s", resp.StatusCode, body)
	}
	var v View
	must(t, json.Unmarshal([]byte(body), &v))
	if v.Env != "test" || len(v.Hosts) != 1 || v.Hosts[0].Name != "keystone01" || len(v.Keystone) == 0 || len(v.Certs) == 0 {
		t.Errorf("status JSON: %+v", v)
	}
	if cv := v.Certs[len(v.Certs)-1]; cv.DaysLeft < 300 || cv.NotAfter.IsZero() || cv.Status != "ok" {
		t.Errorf("certificate view %+v: want about 365 days left", cv)
	}
	if h := v.Hosts[0]; h.Agent != "v1.2.3 0123456789ab" {
		t.Errorf("host view: agent version %q, want the one its status document carries", h.Agent)
	}
	if h := v.Hosts[0]; h.Setup == nil || h.Done != 1 || h.Total != 2 || len(h.Logs) != 1 || len(h.Logs[0].Lines) != 15 {
		t.Errorf("host view: setup %+v, %d/%d, logs %+v", h.Setup, h.Done, h.Total, h.Logs)
	}
	resp, page := get(t, c, f.srv.URL+"/admin/", nil)
	checkHeaders(t, resp)
	for _, want := range []string{"keystone01", "Keystone cluster", "RabbitMQ cluster", "Certificates", "keystone token",
		"running</span> 1/2 steps · bootstrap", `<th scope="col" class="wide">Agent</th>`, ">v1.2.3 0123456789ab</td>", "setup finished &lt;script&gt;", `&#34;result&#34;: &#34;ok&#34;`, "Sign out"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("log line rendered unescaped")
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Revalidate = time.Nanosecond })
	c, resp := f.signIn(t, "admin", f.adminPW)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, f.srv.URL+"/admin/api/status", nil); resp.StatusCode != 200 {
		t.Fatalf("before revocation: %d", resp.StatusCode)
	}
	// Revoke the session's token in Keystone, as an operator would with DELETE /v3/auth/tokens.
	tok := f.ks.Issued()[0]
	req, _ := http.NewRequest(http.MethodDelete, f.ks.Server.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("X-Subject-Token", tok)
	r, err := f.ks.Server.Client().Do(req)
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %v %v", r, err)
	}
	if resp, _ := get(t, c, f.srv.URL+"/admin/api/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after revocation API: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, c, f.srv.URL+"/admin/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after revocation page: %d, want 303", resp.StatusCode)
	}
}

func TestValidationIsCached(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Revalidate = time.Hour })
	c, _ := f.signIn(t, "admin", f.adminPW)
	before := f.ks.ValidationCount()
	for range 3 {
		if resp, _ := get(t, c, f.srv.URL+"/admin/api/status", nil); resp.StatusCode != 200 {
			t.Fatalf("API: %d", resp.StatusCode)
		}
	}
	// The dashboard's own check run validates tokens too (cross-validation needs two nodes;
	// with one there is none), so any increase here is from the session.
	if n := f.ks.ValidationCount() - before; n != 0 {
		t.Errorf("%d validations within the revalidation interval, want 0", n)
	}
}

func TestSignOutRevokes(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Revalidate = time.Hour })
	c, _ := f.signIn(t, "admin", f.adminPW)
	_, page := get(t, c, f.srv.URL+"/admin/", nil)
	if resp, _ := post(t, c, f.srv.URL+"/admin/logout", url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, _ := post(t, c, f.srv.URL+"/admin/logout", url.Values{"csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, f.srv.URL+"/admin/api/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out: %d", resp.StatusCode)
	}
	// The token is revoked in Keystone, not only forgotten here.
	tok := f.ks.Issued()[0]
	req, _ := http.NewRequest(http.MethodGet, f.ks.Server.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("X-Subject-Token", tok)
	r, err := f.ks.Server.Client().Do(req)
	if err != nil || r.StatusCode == http.StatusOK {
		t.Errorf("token still valid after sign-out: %v %v", r, err)
	}
}

func (f *fixture) albToken(t *testing.T, mutate func(h map[string]any, c jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": "1234", "email": "ops@example.com", "exp": time.Now().Add(2 * time.Minute).Unix(),
		"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_test"}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "good-kid"
	tok.Header["signer"] = signer
	tok.Header["client"] = "client-id"
	if mutate != nil {
		mutate(tok.Header, claims)
	}
	s, err := tok.SignedString(f.albKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestALBHeader(t *testing.T) {
	f := newFixture(t, nil)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	valid := f.albToken(t, nil)
	parts := strings.Split(valid, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 0x01
	if sig[len(sig)/2] == '-' || sig[len(sig)/2] == '_' {
		sig[len(sig)/2] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	forgedClaims := func() string { // same header, other claims, original signature
		c := jwt.MapClaims{"email": "intruder@example.com", "exp": time.Now().Add(time.Hour).Unix()}
		b, _ := json.Marshal(c)
		return parts[0] + "." + strings.TrimRight(jwtEncode(b), "=") + "." + parts[2]
	}()
	otherKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"email": "x@example.com", "exp": time.Now().Add(time.Minute).Unix()})
		tok.Header["kid"], tok.Header["signer"] = "good-kid", signer
		s, _ := tok.SignedString(other)
		return s
	}()
	hs256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"email": "x@example.com", "exp": time.Now().Add(time.Minute).Unix()})
		tok.Header["kid"], tok.Header["signer"] = "good-kid", signer
		s, _ := tok.SignedString([]byte("guessable"))
		return s
	}()
	cases := []struct {
		name  string
		token string
		code  int
	}{
		{"valid", valid, 200},
		{"padded base64 as the ALB sends it", f.paddedToken(t), 200},
		{"tampered signature", tampered, 401},
		{"claims changed", forgedClaims, 401},
		{"signed by another key", otherKey, 401},
		{"HS256", hs256, 401},
		{"expired", f.albToken(t, func(_ map[string]any, c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), 401},
		{"no expiry", f.albToken(t, func(_ map[string]any, c jwt.MapClaims) { delete(c, "exp") }), 401},
		{"wrong signer", f.albToken(t, func(h map[string]any, _ jwt.MapClaims) { h["signer"] = strings.Replace(signer, "50dc", "60dc", 1) }), 401},
		{"unknown kid", f.albToken(t, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "other-kid" }), 401},
		{"kid escaping the key URL", f.albToken(t, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "../../evil" }), 401},
		{"garbage", "not-a-jwt", 401},
	}
	c := f.client()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{ALBHeader: tc.token, AccessTokenHeader: f.accessToken(t, nil)}
			resp, body := get(t, c, f.srv.URL+"/admin/api/status", hdr)
			if resp.StatusCode != tc.code {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if tc.code == 200 {
				resp, page := get(t, c, f.srv.URL+"/admin/", hdr)
				if resp.StatusCode != 200 || !strings.Contains(page, "ops@example.com") || strings.Contains(page, "Sign out") {
					t.Errorf("dashboard via ALB: %d", resp.StatusCode)
				}
			}
		})
	}
	if n := f.keyFetch.Load(); n > 3 {
		t.Errorf("key endpoint asked %d times; keys should be cached by kid", n)
	}
}

func TestALBHeaderWithoutALBConfig(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ALB, c.Cognito = nil, nil })
	resp, _ := get(t, f.client(), f.srv.URL+"/admin/", map[string]string{ALBHeader: f.albToken(t, nil)})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ALB header without ALB verification configured: %d, want 401", resp.StatusCode)
	}
}

func jwtEncode(b []byte) string {
	return strings.TrimRight(base64URL(b), "=")
}

// paddedToken signs a token whose segments carry '=' padding, as the ALB's do.
func (f *fixture) paddedToken(t *testing.T) string {
	h, _ := json.Marshal(map[string]any{"alg": "ES256", "kid": "good-kid", "signer": signer, "typ": "JWT"})
	// Pick a payload whose encoding needs padding.
	var p []byte
	for pad := 0; ; pad++ {
		p, _ = json.Marshal(map[string]any{"sub": "1234", "email": "ops@example.com", "exp": time.Now().Add(time.Minute).Unix(), "x": strings.Repeat("y", pad)})
		if len(p)%3 != 0 {
			break
		}
	}
	signing := base64URL(h) + "." + base64URL(p)
	sig, err := jwt.SigningMethodES256.Sign(signing, f.albKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := signing + "." + base64URL(sig)
	if !strings.Contains(tok, "=") {
		t.Fatal("test token has no padding")
	}
	return tok
}

func base64URL(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

func TestSignInThrottled(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxFailures = 3 })
	for i := range 3 {
		if _, resp := f.signIn(t, "admin", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i, resp.StatusCode)
		}
	}
	// Even the right password is refused now, and Keystone is not asked.
	issued := len(f.ks.Issued())
	if _, resp := f.signIn(t, "admin", f.adminPW); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 3 failures: %d, want 429", resp.StatusCode)
	}
	if len(f.ks.Issued()) != issued {
		t.Error("Keystone was asked while throttled")
	}
}

func TestKeystoneUnreachableFailsClosed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Revalidate = time.Nanosecond })
	c, resp := f.signIn(t, "admin", f.adminPW)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	f.ks.Server.Close()
	resp, body := get(t, c, f.srv.URL+"/admin/api/status", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "keystone01.test") {
		t.Errorf("session check without Keystone: %d %s, want 503 without data", resp.StatusCode, body)
	}
}

func TestTargetWrittenLater(t *testing.T) {
	file := filepath.Join(t.TempDir(), "target.json")
	s, err := New(Config{TargetFile: file})
	if err != nil {
		t.Fatalf("the dashboard must start before the target description exists: %v", err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %v %v", resp, err)
	}
	// Sign-in says why it cannot work yet instead of failing obscurely.
	c := &http.Client{Transport: srv.Client().Transport}
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	_, page := get(t, c, srv.URL+"/admin/login", nil)
	resp, page = post(t, c, srv.URL+"/admin/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"admin"}, "password": {"x"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "target description") {
		t.Errorf("sign-in before the target exists: %d\n%s", resp.StatusCode, page)
	}
}

// On AWS the dashboard cannot read another host's log files: the newest progress lines
// come from the agent's status document instead.
func TestLogTailFromStatusDocument(t *testing.T) {
	var progress []string
	for i := range status.LogLines {
		progress = append(progress, fmt.Sprintf("2026-11-26T06:00:%02dZ keystone01 step %d", i, i))
	}
	f := newFixture(t, func(c *Config) {
		c.Target.Logs = nil
		must(t, status.Dir{Path: c.Target.StatusDir}.Put(t.Context(), status.Host{Host: "keystone01", State: status.StateDone,
			Steps: []status.Step{{Name: "packages", State: status.StateDone}}, Log: progress}))
	})
	c, _ := f.signIn(t, "admin", f.adminPW)
	resp, body := get(t, c, f.srv.URL+"/admin/api/status", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("API: %d %s", resp.StatusCode, body)
	}
	var v View
	must(t, json.Unmarshal([]byte(body), &v))
	if len(v.Hosts) != 1 || len(v.Hosts[0].Logs) != 1 {
		t.Fatalf("host logs: %+v", v.Hosts)
	}
	lv := v.Hosts[0].Logs[0]
	if lv.File != "agent progress (from its status document)" || strings.Join(lv.Lines, "\n") != strings.Join(progress[len(progress)-15:], "\n") {
		t.Errorf("log view %+v", lv)
	}
}

// TestSkippedChecksHaveTheirOwnRow: a backend host without an application package shows
// its probes as skipped (own row class and badge, the agent's reason), counted in the
// summary, its panel folded; the overall status stays that of the other checks.
func TestSkippedChecksHaveTheirOwnRow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	reason := "no application package: the backend services are not installed (set application.package in env.yaml)"
	f := newFixture(t, func(c *Config) {
		c.Target.Hosts = append(c.Target.Hosts, inventory.Host{Name: "backend01", Role: envfile.RoleBackend, Index: 1,
			FQDN: "backend01.test.cso.ss", Address: "127.0.0.1", Ports: map[string]int{"cso-api": port}})
		must(t, status.Dir{Path: c.Target.StatusDir}.Put(t.Context(), status.Host{Host: "backend01", Role: "backend",
			Agent: &buildinfo.Info{Version: "v1.2.3", Revision: "0123456789abcdef"}, State: status.StateDone, Steps: []status.Step{{Name: "packages", State: status.StateDone},
				{Name: "application package", State: status.StateSkipped, Detail: reason}}}))
	})
	c, _ := f.signIn(t, "admin", f.adminPW)
	resp, body := get(t, c, f.srv.URL+"/admin/api/status", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("API: %d %s", resp.StatusCode, body)
	}
	var v View
	must(t, json.Unmarshal([]byte(body), &v))
	if v.Summary.Skipped != 2 || v.Summary.Worst == check.Skip {
		t.Errorf("summary %+v, want 2 skipped and skip not the overall status", v.Summary)
	}
	var backend *HostView
	for i := range v.Hosts {
		if v.Hosts[i].Name == "backend01" {
			backend = &v.Hosts[i]
		}
	}
	if backend == nil || backend.Status != check.Skip {
		t.Fatalf("backend01 host view %+v, want status skip", backend)
	}

	_, page := get(t, c, f.srv.URL+"/admin/", nil)
	row := `<tr class="skip"><td>tcp cso-api</td><td class="mono">backend01:` + strconv.Itoa(port) + `</td><td><span class="badge skip">SKIP</span></td>`
	if !strings.Contains(page, row) || !strings.Contains(page, html.EscapeString(reason)) {
		t.Errorf("no skip row %q with the reason in the page:\n%s", row, page)
	}
	if !strings.Contains(page, `<div class="skipped"><b>2</b> skipped</div>`) {
		t.Errorf("summary does not count the skipped checks:\n%s", page)
	}
	if !strings.Contains(page, `<details class="host">
<summary id="host-backend01">`) {
		t.Errorf("the panel of a host with only skipped checks should be folded:\n%s", page)
	}
	resp, css := get(t, c, f.srv.URL+"/admin/static/style.css", nil)
	if resp.StatusCode != 200 || !strings.Contains(css, ".badge.skip") || !strings.Contains(css, "tr.skip td") {
		t.Errorf("stylesheet has no skip colours: %d", resp.StatusCode)
	}
}

func TestMain(m *testing.M) { awstest.Main(m) }
