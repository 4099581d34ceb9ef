package admin

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cso-ssp/platform/internal/admin/admintest"
)

func TestBrowserSignIn(t *testing.T) {
	f := newFixture(t, nil)
	ctx := admintest.Chromium(t, f.srv.Certificate(), "MAP * 127.0.0.1", 60*time.Second)
	base := f.srv.URL
	must(t, chromedp.Do(ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitReady(chromedp.ID("username"))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	must(t, err)
	page, err := admintest.SignIn(ctx, "admin", f.adminPW)
	must(t, err)
	body, cookieJS, shot := page.Body, page.Cookies, page.Screenshot
	// The stylesheet applies under the page's Content-Security-Policy (style-src 'self').
	if page.HeaderBackground != "rgb(36, 41, 47)" {
		t.Errorf("header background %q: the stylesheet did not apply", page.HeaderBackground)
	}
	if !strings.Contains(title, "Sign in") {
		t.Errorf("first page title %q: want the sign-in page", title)
	}
	for _, want := range []string{"keystone01", "Keystone cluster", "RabbitMQ cluster", "Certificates", "Sign out"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if cookieJS != "" {
		t.Errorf("cookies visible to scripts: %q (must be HttpOnly)", cookieJS)
	}
	if len(shot) < 1000 {
		t.Errorf("screenshot of %d bytes", len(shot))
	}
	if p := os.Getenv("CSO_ADMIN_SHOT"); p != "" { // to look at the page while working on it
		_ = os.WriteFile(p, shot, 0o644)
	}
}

// TestBrowserPhone: the signed-in dashboard on a 390-pixel-wide phone screen, with charts,
// queues, key ages and a deployment summary, passes the automated accessibility check
// (contrast, names and labels, no horizontal scrolling, every control reached by Tab);
// so does the sign-in form.
func TestBrowserPhone(t *testing.T) {
	f := operatorFixture(t, nil)
	ctx := admintest.Chromium(t, f.srv.Certificate(), "MAP * 127.0.0.1", 90*time.Second)
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(f.srv.URL+"/admin/"), chromedp.WaitReady(chromedp.ID("username"))))
	audit := func(page string) {
		t.Helper()
		a, err := admintest.AuditPage(ctx)
		must(t, err)
		if a.Texts < 3 || a.Focusable < 2 {
			t.Errorf("%s: audit measured %d texts and %d focusable elements: not the page", page, a.Texts, a.Focusable)
		}
		for _, p := range a.Problems {
			t.Errorf("%s: %s", page, p)
		}
		for _, u := range a.Unreached {
			t.Errorf("%s: not reached with Tab: %s", page, u)
		}
	}
	audit("sign-in form")
	must(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/admin/login"), chromedp.WaitReady(chromedp.ID("username"))))
	page, err := admintest.SignIn(ctx, "admin", f.adminPW)
	must(t, err)
	for _, want := range []string{"Recent checks", "Queues", "ticketing", "Key ages", "A host failed."} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("phone dashboard lacks %q", want)
		}
	}
	audit("dashboard")
	if p := os.Getenv("CSO_ADMIN_SHOT_PHONE"); p != "" {
		_ = os.WriteFile(p, page.Screenshot, 0o644)
	}
}
