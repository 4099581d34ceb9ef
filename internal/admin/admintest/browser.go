// Package admintest drives the admin dashboard in Debian's headless Chromium, for the
// dashboard's own tests and the end-to-end test on the local stack.
package admintest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
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

// Audit is what the automated accessibility check found on the page ctx shows.
type Audit struct {
	Problems []string `json:"problems"` // contrast, names and labels, page width
	Texts    int      `json:"texts"`    // visible text elements whose contrast was measured
	// Focusable counts the visible links, buttons, summaries and fields; Unreached lists
	// those that pressing Tab never reached.
	Focusable int      `json:"focusable"`
	Unreached []string `json:"unreached"`
}

// auditJS measures the WCAG 2 contrast ratio of every visible text against the background
// it is drawn on (4.5:1, 3:1 for large text), names and labels of controls and charts, and
// that the page is no wider than the viewport; it marks the focusable elements for the Tab
// walk.
const auditJS = `(() => {
  const problems = [];
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const bgOf = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const seen = new Set();
  let texts = 0;
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (w.nextNode()) {
    const n = w.currentNode, el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || el.closest('svg') || !visible(el)) continue;
    seen.add(el);
    const cs = getComputedStyle(el), fg = parse(cs.color), bg = bgOf(el);
    const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    texts++;
    if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': <' + el.tagName.toLowerCase() + ' class="' + el.className + '"> "' + n.textContent.trim().slice(0, 40) + '" ' + cs.color + ' on rgb(' + bg.r + ', ' + bg.g + ', ' + bg.b + ')');
  }
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    if (!el.labels.length && !el.getAttribute('aria-label')) problems.push('field without a label: ' + el.outerHTML.slice(0, 80));
  for (const el of document.querySelectorAll('button, a[href], summary'))
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push('control without a name: ' + el.outerHTML.slice(0, 80));
  for (const el of document.querySelectorAll('svg'))
    if (el.getAttribute('role') !== 'img' || !el.getAttribute('aria-label')) problems.push('chart without role img and a text alternative');
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  if (document.documentElement.scrollWidth > window.innerWidth)
    problems.push('page ' + document.documentElement.scrollWidth + ' px wide in a ' + window.innerWidth + ' px viewport');
  let focusable = 0;
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), summary, [tabindex]')) {
    if (!visible(el) || el.disabled || el.tabIndex < 0) continue;
    el.setAttribute('data-audit', String(focusable++));
  }
  return {problems, texts, focusable, unreached: []};
})()`

// AuditPage runs the accessibility check on the page ctx shows, then walks it with the Tab
// key (at most twice as many presses as focusable elements) and lists what was not reached.
func AuditPage(ctx context.Context) (Audit, error) {
	a, err := chromedp.Run(ctx, chromedp.Evaluate[Audit](auditJS))
	if err != nil {
		return a, err
	}
	reached := map[string]bool{}
	for i := 0; i < 2*a.Focusable+2 && len(reached) < a.Focusable; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			return a, err
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.activeElement && document.activeElement.getAttribute('data-audit') || ''"))
		if err != nil {
			return a, err
		}
		if id != "" {
			reached[id] = true
		}
	}
	for i := range a.Focusable {
		if !reached[strconv.Itoa(i)] {
			desc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector('[data-audit=\"%d\"]').outerHTML.slice(0, 100)", i)))
			a.Unreached = append(a.Unreached, desc)
		}
	}
	return a, nil
}
