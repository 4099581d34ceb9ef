package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// TestKeystoneCertRenewalLosesNoRequest: three certificate renewals of a Keystone node
// (RenewCerts, as `cso certs renew --local-dir`) under a load of new TLS connections, each
// with a GET /v3 (4 clients, 20 ms apart): not one request fails. Before the TLS front and
// the WSGI back were split, each renewal's graceful restart restarted mod_wsgi's daemons and
// lost several requests (503 "Unable to connect to WSGI daemon process", 500 "Truncated or
// oversized response headers"). The front keeps its pid (reloaded, not restarted) and serves
// each new certificate; the back and its WSGI daemons are untouched (same pids). Keystone
// builds its links for the public https URL the client asked for, through the proxy, at /
// and at /api/idm.
func TestKeystoneCertRenewalLosesNoRequest(t *testing.T) {
	ctx, o, l := renewalStack(t, "three renewals under load")
	ks := inventory.ByRole(o.Hosts(), envfile.RoleKeystone)[0]
	sup := l.Platform(ks.Name).Supervisor
	roots, err := pki.PoolFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://%s:%d", ks.FQDN, ks.Ports[inventory.PortKeystone])
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ks.Ports[inventory.PortKeystone]))

	// Every request on a new TCP and TLS connection; the serial of each certificate served
	// is recorded in the order first seen.
	var mu sync.Mutex
	var serials []string
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: ks.FQDN, MinVersion: tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error {
				s := cs.PeerCertificates[0].SerialNumber.Text(16)
				mu.Lock()
				if !slices.Contains(serials, s) {
					serials = append(serials, s)
				}
				mu.Unlock()
				return nil
			}},
	}}

	// Keystone's links name the public URL, at / and at /api/idm.
	for _, prefix := range []string{"", "/api/idm"} {
		self, err := versionSelf(ctx, client, base+prefix+"/v3")
		if err != nil {
			t.Fatal(err)
		}
		if want := base + prefix + "/v3/"; self != want {
			t.Errorf("GET %s/v3: self link %q, want %q", prefix, self, want)
		}
	}

	front, err := sup.State("keystone-tls")
	if err != nil {
		t.Fatal(err)
	}
	back, err := sup.State("keystone-httpd")
	if err != nil {
		t.Fatal(err)
	}
	daemons := wsgiDaemons(t, back.PID)
	if len(daemons) == 0 {
		t.Fatalf("no mod_wsgi daemon process under Keystone's Apache (pid %d)", back.PID)
	}

	var requests, failed atomic.Int64
	var lastErr atomic.Value
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-lctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := versionSelf(lctx, client, base+"/v3"); err != nil {
					if lctx.Err() == nil {
						failed.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				requests.Add(1)
			}
		})
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			wg.Wait()
		}
	}
	defer stop()
	time.Sleep(2 * time.Second) // a baseline under load

	// Three renewals, bounded: the load runs at most a minute and a half.
	deadline := time.Now().Add(90 * time.Second)
	var renewed []string
	for i := range 3 {
		if time.Now().After(deadline) {
			t.Fatalf("renewal %d not started after %s of load", i+1, 90*time.Second)
		}
		var out bytes.Buffer
		start := time.Now()
		res, err := RenewCerts(ctx, RenewOptions{Hosts: []string{ks.Name},
			Options: Options{Dir: o.Dir, PortBase: o.PortBase, Env: o.Env, Roles: o.Roles, Executable: o.Executable, Out: &out}})
		if err != nil || res.Up == nil || res.Up.Failed() || len(res.Renewed) != 1 {
			t.Fatalf("renewal %d: %v\n%s", i+1, err, out.String())
		}
		renewed = append(renewed, res.Renewed[0].Serial)
		t.Logf("renewal %d with the agents' run in %s", i+1, time.Since(start).Round(100*time.Millisecond))
		time.Sleep(time.Second) // load after the reload
	}
	stop()

	t.Logf("%d requests, %d failed; serials served %v", requests.Load(), failed.Load(), serials)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests failed during three certificate renewals; last: %v", n, lastErr.Load())
	}
	if requests.Load() < 100 {
		t.Errorf("only %d requests: the load did not run", requests.Load())
	}
	mu.Lock()
	for _, s := range renewed {
		if !slices.Contains(serials, s) {
			t.Errorf("the renewed certificate %s was never served (served %v)", s, serials)
		}
	}
	mu.Unlock()
	if st, err := sup.State("keystone-tls"); err != nil || st.PID != front.PID || st.StartTicks != front.StartTicks {
		t.Errorf("the TLS front restarted (pid %d -> %d, %v): a renewal must reload it", front.PID, st.PID, err)
	}
	if st, err := sup.State("keystone-httpd"); err != nil || st.PID != back.PID || st.StartTicks != back.StartTicks {
		t.Errorf("Keystone's Apache restarted (pid %d -> %d, %v): a renewal must not concern it", back.PID, st.PID, err)
	}
	if after := wsgiDaemons(t, back.PID); !slices.Equal(after, daemons) {
		t.Errorf("Keystone's WSGI daemons changed from %v to %v: a renewal restarted them", daemons, after)
	}
}

// versionSelf is GET url (Keystone's version document) and its self link; an answer other
// than 200 is an error.
func versionSelf(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	var doc struct {
		Version struct {
			Links []struct{ Rel, Href string }
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("GET %s: %v", url, err)
	}
	for _, l := range doc.Version.Links {
		if l.Rel == "self" {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("GET %s: no self link in %.200s", url, body)
}

// wsgiDaemons are the pids of mod_wsgi's daemon processes of the Apache whose parent process
// is pid (their command line is the display name "(wsgi:<group>)"), sorted.
func wsgiDaemons(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		if !bytes.HasPrefix(cmd, []byte("(wsgi:")) {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		out = append(out, child)
	}
	slices.Sort(out)
	return out
}
