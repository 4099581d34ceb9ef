// Package admintest drives the admin dashboard in Debian's headless Chromium, for the
// dashboard's own tests and the end-to-end test on the local stack.
package admintest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium starts headless Chromium trusting exactly the certificate trusted (by its
// public key: the project CA is not in Chromium's store) and resolving host names by
// hostRules (e.g. "MAP * 127.0.0.1"). The browser ends with the test, or after timeout.
// Without Chromium the test fails under CI and is skipped elsewhere, naming the install.
func Chromium(t testing.TB, trusted *x509.Certificate, hostRules string, timeout time.Duration) context.Context {
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
		chromedp.Flag("host-resolver-rules", hostRules),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel3)
	return ctx
}

// Page is what the signed-in dashboard shows.
type Page struct {
	Body    string // the page's text
	Cookies string // document.cookie: must be empty (HttpOnly session)
	// HeaderBackground is the header's computed colour: the stylesheet applied under the
	// page's Content-Security-Policy.
	HeaderBackground string
	Screenshot       []byte // PNG of the whole page
}

// SignIn fills the sign-in form of the page ctx shows, waits for the dashboard and reads
// it. SetValue with NodeReady: the default NodeVisible wait and SendKeys never returned
// with chromedp v0.23.0 and Debian's Chromium, although the elements had their boxes.
func SignIn(ctx context.Context, user, password string) (Page, error) {
	var p Page
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("username"), user, chromedp.NodeReady),
		chromedp.SetValue(chromedp.ID("password"), password, chromedp.NodeReady),
		chromedp.Submit(chromedp.ID("password"), chromedp.NodeReady),
		chromedp.WaitReady(chromedp.ID("hosts")),
	); err != nil {
		return p, err
	}
	var err error
	if p.Body, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
		return p, err
	}
	if p.Cookies, err = chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie")); err != nil {
		return p, err
	}
	if p.HeaderBackground, err = chromedp.Run(ctx, chromedp.Evaluate[string]("getComputedStyle(document.querySelector('header')).backgroundColor")); err != nil {
		return p, err
	}
	p.Screenshot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	return p, err
}
