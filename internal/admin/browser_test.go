package admin

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium starts Debian's headless Chromium trusting only the trusted certificate (by its
// public key, so the test needs no CA install) and mapping every host name to 127.0.0.1.
func chromium(t *testing.T, trusted *x509.Certificate) context.Context {
	t.Helper()
	const bin = "/usr/bin/chromium"
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: run scripts/install-deps.sh", bin)
		}
		t.Skipf("%s missing: run scripts/install-deps.sh", bin)
	}
	sum := sha256.Sum256(trusted.RawSubjectPublicKeyInfo)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:])),
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

func TestBrowserSignIn(t *testing.T) {
	f := newFixture(t, nil)
	ctx := chromium(t, f.srv.Certificate())
	base := f.srv.URL
	// NodeReady and SetValue: the default NodeVisible wait and SendKeys never returned here
	// (chromedp v0.23.0 with Debian's Chromium), although the element had its box.
	must(t, chromedp.Do(ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitReady(chromedp.ID("username"))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	must(t, err)
	must(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("username"), "admin", chromedp.NodeReady),
		chromedp.SetValue(chromedp.ID("password"), f.adminPW, chromedp.NodeReady),
		chromedp.Submit(chromedp.ID("password"), chromedp.NodeReady),
		chromedp.WaitReady(chromedp.ID("hosts")),
	))
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	must(t, err)
	cookieJS, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	must(t, err)
	// The stylesheet applies under the page's Content-Security-Policy (style-src 'self').
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string]("getComputedStyle(document.querySelector('header')).backgroundColor"))
	must(t, err)
	if bg != "rgb(36, 41, 47)" {
		t.Errorf("header background %q: the stylesheet did not apply", bg)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
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
