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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/admin"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/target"
)

// agreeTimeout is every probe's timeout in the three views compared: local up's own (the
// views must differ by nothing but the moment they ran).
const agreeTimeout = local.CheckTimeout

// TestOneHealthModel: `cso local up`'s closing checks, `cso check -o json` and the
// dashboard's /admin/api/status report the same checks with the same verdicts and reasons,
// with the fixture application package and without one. The stack runs with the package;
// the test re-runs up without it (the application hosts then publish "no application
// package") and restores it before it returns.
func TestOneHealthModel(t *testing.T) {
	s := requireStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	noPackage := filepath.Join(s.Repo, "environments") // env.dev.yaml as committed: no package

	compare := func(t *testing.T, envDir string, wantSkips bool) {
		up := agreeUp(ctx, t, s, envDir)
		cli := agreeCheck(ctx, t, s)
		dash := agreeDashboard(ctx, t, s)
		views := map[string][]check.Result{"local up": up, "cso check": cli, "dashboard": dash}
		want := agreeIndex(up)
		skips := 0
		for _, r := range up {
			if r.Status == check.Skip {
				skips++
			}
		}
		if (skips > 0) != wantSkips {
			t.Errorf("local up reported %d skipped checks; want skips: %v", skips, wantSkips)
		}
		for name, rs := range views {
			got := agreeIndex(rs)
			for k, w := range want {
				g, ok := got[k]
				switch {
				case !ok:
					t.Errorf("%s has no check %s (local up: %s)", name, k, w)
				case g.status != w.status || (w.status != check.OK && g.detail != w.detail):
					t.Errorf("%s: %s\n  %s: %s\n  local up: %s", k, name, name, g, w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s reports %s, which local up does not", name, k)
				}
			}
		}
		t.Logf("%d checks agree, %d skipped", len(want), skips)
	}

	t.Run("with the fixture application package", func(t *testing.T) { compare(t, s.EnvDir, false) })
	t.Run("without an application package", func(t *testing.T) {
		defer func() {
			// Restore the shared stack with its package, whatever happened.
			if _, code := agreeUpRun(ctx, t, s, s.EnvDir); code != 0 {
				t.Errorf("restoring the stack with its application package: exit %d", code)
			}
		}()
		compare(t, noPackage, true)
	})
}

type agreeVerdict struct {
	status check.Status
	detail string
}

func (v agreeVerdict) String() string { return fmt.Sprintf("%s (%s)", v.status, v.detail) }

// agreeIndex keys results by check and target.
func agreeIndex(rs []check.Result) map[string]agreeVerdict {
	m := map[string]agreeVerdict{}
	for _, r := range rs {
		m[r.Check+" "+r.Target] = agreeVerdict{r.Status, r.Detail}
	}
	return m
}

// agreeUpRun runs `cso local up --ha -o json` with the environment files of envDir.
func agreeUpRun(ctx context.Context, t *testing.T, s *Stack, envDir string) (*local.UpResult, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, s.Bin, append(s.UpArgs("-o", "json"), "--env-dir", envDir)...)
	cmd.Dir = s.Repo
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var res local.UpResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("cso local up -o json: %v\n%s", err, out)
	}
	return &res, code
}

func agreeUp(ctx context.Context, t *testing.T, s *Stack, envDir string) []check.Result {
	t.Helper()
	res, code := agreeUpRun(ctx, t, s, envDir)
	if res.Health == nil || len(res.Health.Results) == 0 {
		t.Fatalf("cso local up (exit %d) ran no checks", code)
	}
	if want := 0; res.Health.Failed() {
		want = 1
		if code != want {
			t.Errorf("cso local up: exit %d with failed checks, want %d", code, want)
		}
	}
	return res.Health.Results
}

func agreeCheck(ctx context.Context, t *testing.T, s *Stack) []check.Result {
	t.Helper()
	out, _, code, err := s.Run(ctx, "check", "--local-dir", s.Dir, "--timeout", agreeTimeout.String(), "-o", "json")
	ckMust(t, err)
	var rep check.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) == 0 {
		t.Fatalf("cso check -o json (exit %d): %v\n%s", code, err, out)
	}
	if (code != 0) != rep.Failed() {
		t.Errorf("cso check: exit %d, %d failed", code, rep.Summary.Fail)
	}
	return rep.Results
}

// agreeDashboard signs in to a dashboard of the stack (served here as the jump host serves
// it, with the jump host's certificate and the real Keystone) and reads /admin/api/status.
func agreeDashboard(ctx context.Context, t *testing.T, s *Stack) []check.Result {
	t.Helper()
	tg := ckLoadTarget(t, s.Dir)
	jump := ckHost(t, tg, inventory.HostName(envfile.RoleJump, 1))
	ks := inventory.ByRole(tg.Hosts, envfile.RoleKeystone)
	kc, err := check.HTTPClient(tg, 20*time.Second)
	ckMust(t, err)
	srv, err := admin.New(admin.Config{TargetFile: filepath.Join(s.Dir, target.FileName), KeystoneClient: kc,
		CacheFor: time.Nanosecond, CheckTimeout: agreeTimeout,
		KeystoneURLs: []string{fmt.Sprintf("https://%s:%d", ks[0].FQDN, ks[0].Ports[inventory.PortKeystone])}})
	ckMust(t, err)
	base, addr, roots := admServe(t, tg, jump, srv)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: jump.FQDN},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}}
	get := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Do(req.WithContext(ctx))
		ckMust(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/login", nil)
	_, page := get(req)
	m := admCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF field on the sign-in page")
	}
	form := url.Values{"csrf": {m[1]}, "username": {"admin"}, "password": {admSecret(t, tg, "keystone-admin-password")}}
	req, _ = http.NewRequest(http.MethodPost, base+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := get(req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/admin/api/status", nil)
	resp, body := get(req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/admin/api/status: %d %s", resp.StatusCode, body)
	}
	var v struct {
		Results []check.Result `json:"results"`
		Summary check.Summary  `json:"summary"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Results) == 0 {
		t.Fatalf("/admin/api/status: %v\n%s", err, body)
	}
	return v.Results
}
