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
