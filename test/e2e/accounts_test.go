package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/admin"
	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/target"
)

// acCounter counts the password authentications (POST /v3/auth/tokens) the dashboard sends
// to Keystone.
type acCounter struct {
	base  http.RoundTripper
	posts atomic.Int32
}

func (c *acCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/v3/auth/tokens") {
		c.posts.Add(1)
	}
	return c.base.RoundTrip(req)
}

// TestKeystoneDefaultPolicyAdminManagesAnyDomain: with the default (legacy) policy settings
// a project-scoped admin token, the LLD's way, creates a domain, a project and a user in it,
// grants a role and reads the project back (Keystone 22 with enforce_new_defaults = true
// refuses that read: docs/decisions/roles.md "Keystone policy").
func TestKeystoneDefaultPolicyAdminManagesAnyDomain(t *testing.T) {
	s := requireStack(t)
	tg := ckLoadTarget(t, s.Dir)
	ks := keystoneNodes(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tok, err := local.IssueToken(ctx, ks[0].c, ks[0].base, admSecret(t, tg, agent.SecretKeystoneAdmin))
	ckMust(t, err)
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var data []byte
		if body != nil {
			data, _ = json.Marshal(body)
		}
		r, b := admKeystoneCall(t, ks[1].c, method, ks[1].base+path, map[string]string{"X-Auth-Token": tok, "Content-Type": "application/json"}, data)
		if r.StatusCode != want {
			t.Fatalf("%s %s with a project-scoped admin token: HTTP %d %s, want %d", method, path, r.StatusCode, b, want)
		}
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		return doc
	}
	id := func(doc map[string]any, kind string) string {
		m, _ := doc[kind].(map[string]any)
		v, _ := m["id"].(string)
		return v
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	dom := id(call(http.MethodPost, "/v3/domains", map[string]any{"domain": map[string]any{"name": "cso-e2e-" + suffix}}, http.StatusCreated), "domain")
	t.Cleanup(func() {
		call(http.MethodPatch, "/v3/domains/"+dom, map[string]any{"domain": map[string]any{"enabled": false}}, http.StatusOK)
		call(http.MethodDelete, "/v3/domains/"+dom, nil, http.StatusNoContent)
	})
	proj := id(call(http.MethodPost, "/v3/projects", map[string]any{"project": map[string]any{"name": "p-" + suffix, "domain_id": dom}}, http.StatusCreated), "project")
	user := id(call(http.MethodPost, "/v3/users", map[string]any{"user": map[string]any{"name": "u-" + suffix, "domain_id": dom}}, http.StatusCreated), "user")
	roles := call(http.MethodGet, "/v3/roles?name=member", nil, http.StatusOK)
	list, _ := roles["roles"].([]any)
	if len(list) != 1 {
		t.Fatalf("role member: %v", roles)
	}
	role, _ := list[0].(map[string]any)["id"].(string)
	call(http.MethodPut, "/v3/projects/"+proj+"/users/"+user+"/roles/"+role, nil, http.StatusNoContent)
	if got := id(call(http.MethodGet, "/v3/projects/"+proj, nil, http.StatusOK), "project"); got != proj {
		t.Errorf("GET /v3/projects/%s gave project %q", proj, got)
	}
	call(http.MethodDelete, "/v3/users/"+user, nil, http.StatusNoContent)
	call(http.MethodDelete, "/v3/projects/"+proj, nil, http.StatusNoContent)
}

// TestAutomationSurvivesAdminLockout is the issue's proof on the real Keystone: 30 parallel
// bad sign-ins at the dashboard reach Keystone at most admin.DefaultMaxFailures times (fewer
// than its lockout); then the human admin is locked by failed authentications, and `cso
// check` and the dashboard's probes, which use the automation identity cso-automation, stay
// green. The admin's failure count is reset at the end, so the stack is usable again.
func TestAutomationSurvivesAdminLockout(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	ks := keystoneNodes(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	adminPW := admSecret(t, tg, agent.SecretKeystoneAdmin)

	// The Keystone database tells how many failures reached Keystone.
	db, err := agent.OpenMySQL(agent.MySQLServer{Addr: tg.MySQL, CAFile: tg.CACert}, "keystone", admSecret(t, tg, agent.SecretKeystoneDB), "keystone")
	ckMust(t, err)
	failures := func() int {
		t.Helper()
		var n *int
		ckMust(t, db.QueryRowContext(ctx, "SELECT failed_auth_count FROM local_user WHERE name = 'admin' AND domain_id = 'default'").Scan(&n))
		if n == nil {
			return 0
		}
		return *n
	}
	t.Cleanup(func() {
		// Unlock the human admin for whatever runs next on this stack.
		if _, err := db.ExecContext(context.Background(), "UPDATE local_user SET failed_auth_count = 0, failed_auth_at = NULL WHERE name = 'admin' AND domain_id = 'default'"); err != nil {
			t.Errorf("unlock admin: %v", err)
		}
		db.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if _, err := local.IssueToken(cctx, ks[0].c, ks[0].base, adminPW); err != nil {
			t.Errorf("admin still locked after the reset: %v", err)
		}
	})

	// The automation identity exists, with the options the jump role gives it.
	auPW := admSecret(t, tg, agent.SecretKeystoneAutomation)
	if _, err := local.IssueTokenAs(ctx, ks[0].c, ks[0].base, agent.KeystoneAutomationUser, auPW); err != nil {
		t.Fatalf("the automation identity cannot sign in: %v", err)
	}
	adminTok, err := local.IssueToken(ctx, ks[0].c, ks[0].base, adminPW)
	ckMust(t, err)
	r, b := admKeystoneCall(t, ks[0].c, http.MethodGet, ks[0].base+"/v3/users?domain_id=default&name="+agent.KeystoneAutomationUser, map[string]string{"X-Auth-Token": adminTok}, nil)
	var users struct {
		Users []struct {
			Options map[string]any `json:"options"`
		} `json:"users"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal(b, &users) != nil || len(users.Users) != 1 {
		t.Fatalf("GET the automation user: %d %s", r.StatusCode, b)
	}
	if v, _ := users.Users[0].Options["ignore_lockout_failure_attempts"].(bool); !v {
		t.Errorf("%s options %v: ignore_lockout_failure_attempts is not set", agent.KeystoneAutomationUser, users.Users[0].Options)
	}

	// The dashboard, as the jump host runs it, with a counter on its Keystone transport.
	jump := ckHost(t, tg, inventory.HostName(envfile.RoleJump, 1))
	kc, err := check.HTTPClient(tg, 20*time.Second)
	ckMust(t, err)
	counter := &acCounter{base: kc.Transport}
	srv, err := admin.New(admin.Config{TargetFile: filepath.Join(dir, target.FileName), CheckTimeout: 30 * time.Second,
		KeystoneClient: &http.Client{Transport: counter, Timeout: 20 * time.Second}})
	ckMust(t, err)
	base, addr, roots := admServe(t, tg, jump, srv)
	newBrowser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 90 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: jump.FQDN},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}}
	}
	csrfOf := func(c *http.Client) string {
		t.Helper()
		resp, err := c.Get(base + "/admin/login")
		ckMust(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := admCSRF.FindStringSubmatch(string(b))
		if m == nil {
			t.Fatal("no CSRF field on the sign-in page")
		}
		return m[1]
	}

	// An operator signed in before the attack: the session outlives the lockout.
	operator := newBrowser()
	resp, err := operator.PostForm(base+"/admin/login", url.Values{"csrf": {csrfOf(operator)}, "username": {"admin"}, "password": {adminPW}})
	ckMust(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator sign-in: %d", resp.StatusCode)
	}
	if n := failures(); n != 0 {
		t.Fatalf("admin has %d failed authentications after a successful one", n)
	}

	// 30 parallel bad sign-ins.
	const n = 30
	browsers, tokens := make([]*http.Client, n), make([]string, n)
	for i := range browsers {
		browsers[i] = newBrowser()
		tokens[i] = csrfOf(browsers[i])
	}
	before := counter.posts.Load()
	codes := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := browsers[i].PostForm(base+"/admin/login", url.Values{"csrf": {tokens[i]}, "username": {"admin"}, "password": {fmt.Sprintf("wrong-%d", i)}})
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, c := range codes {
		ckMust(t, errs[i])
		count[c]++
	}
	reached, recorded := int(counter.posts.Load()-before), failures()
	t.Logf("%d parallel bad sign-ins at the dashboard: %d reached Keystone, Keystone recorded %d failures for admin, answers %v", n, reached, recorded, count)
	if reached > admin.DefaultMaxFailures || recorded > admin.DefaultMaxFailures || count[http.StatusTooManyRequests] < n-admin.DefaultMaxFailures {
		t.Errorf("want at most %d reaching Keystone and the rest refused with 429", admin.DefaultMaxFailures)
	}
	if recorded >= 5 {
		t.Errorf("the dashboard's burst locked admin in Keystone (%d failures)", recorded)
	}

	// Now lock the human admin at Keystone itself (as anyone reaching /api/idm could).
	for i := 0; failures() < 5 && i < 10; i++ {
		if _, err := local.IssueToken(ctx, ks[i%2].c, ks[i%2].base, "wrong"); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if _, err := local.IssueToken(ctx, ks[0].c, ks[0].base, adminPW); err == nil {
		t.Fatalf("admin is not locked after %d failures", failures())
	} else {
		t.Logf("admin locked out (%d failures): the right password gets %v", failures(), err)
	}

	// cso check: every Keystone result is green, and it says whose token it used.
	code, rep, errOut := ckRun(t, s, "--local-dir", dir)
	nKeystone := 0
	for _, r := range rep.Results {
		if !strings.HasPrefix(r.Check, "keystone ") {
			continue
		}
		nKeystone++
		if r.Status != "ok" {
			t.Errorf("cso check with admin locked: %s %s: %s %s", r.Check, r.Target, r.Status, r.Detail)
		}
		if r.Check == "keystone token" && !strings.Contains(r.Detail, agent.KeystoneAutomationUser) {
			t.Errorf("keystone token %s: %q does not name %s", r.Target, r.Detail, agent.KeystoneAutomationUser)
		}
	}
	if nKeystone < 4 {
		t.Errorf("cso check reported %d Keystone results (exit %d): %s", nKeystone, code, errOut)
	}

	// The dashboard's probes, through the session opened before the lockout.
	resp, err = operator.Get(base + "/admin/api/status")
	ckMust(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard API with admin locked: %d %s", resp.StatusCode, body)
	}
	var v struct {
		Keystone []check.Result `json:"keystone"`
	}
	ckMust(t, json.Unmarshal(body, &v))
	if len(v.Keystone) < 4 {
		t.Errorf("dashboard shows %d Keystone results", len(v.Keystone))
	}
	for _, r := range v.Keystone {
		if r.Status != check.OK {
			t.Errorf("dashboard probe with admin locked: %s %s: %s %s", r.Check, r.Target, r.Status, r.Detail)
		}
	}
}
