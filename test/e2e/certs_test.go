package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/pki"
)

// tlsEndpoint is one TLS port of the stack under load.
type tlsEndpoint struct {
	host, fqdn, name string
	addr             string
	// serials seen, with the time each was first served.
	mu       sync.Mutex
	firstNew map[string]time.Time
	shakes   atomic.Int64
	shakeErr atomic.Int64
	reqErr   atomic.Int64
	lastErr  atomic.Value
	maxReq   atomic.Int64 // slowest request, ns
}

// request is one exchange over a fresh TLS connection: HTTP GET (any answer below 500), or
// for AMQPS the protocol header answered by the broker's Connection.Start frame.
func (e *tlsEndpoint) request(c *tls.Conn) error {
	// Long: a request that Keystone answers late while its WSGI daemons reload is slow,
	// not failed (the latency is measured and reported).
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	if e.name == inventory.PortAMQPS {
		if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
			return err
		}
		hdr := make([]byte, 7)
		if _, err := io.ReadFull(c, hdr); err != nil {
			return err
		}
		if hdr[0] != 1 {
			return fmt.Errorf("frame type %d, want 1 (method: Connection.Start)", hdr[0])
		}
		return nil
	}
	path := map[string]string{inventory.PortKeystone: "/v3", inventory.PortManagement: "/api/overview", inventory.PortAdmin: "/health"}[e.name]
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, e.fqdn); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return fmt.Errorf("answer %q", line)
	}
	if code, err := strconv.Atoi(f[1]); err != nil || code >= 500 {
		return fmt.Errorf("answer %q", strings.TrimSpace(line))
	}
	return nil
}

// loadPause is each client's pause between two connections: about five handshakes a
// second per port, a load a shared two-core machine sustains while the daemons reload
// (with 20 ms, the Erlang CLI that clears RabbitMQ's PEM cache starved for minutes).
const loadPause = 200 * time.Millisecond

// load makes handshakes and one request in a loop until ctx ends, each on a new
// connection verified against the project CA for the host's name.
func (e *tlsEndpoint) load(ctx context.Context, roots *x509.CertPool) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		raw, err := d.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			if ctx.Err() == nil {
				e.shakeErr.Add(1)
				e.lastErr.Store("dial: " + err.Error())
			}
			continue
		}
		c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: e.fqdn, MinVersion: tls.VersionTLS12})
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = c.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			if ctx.Err() == nil {
				e.shakeErr.Add(1)
				e.lastErr.Store("handshake: " + err.Error())
			}
			continue
		}
		e.shakes.Add(1)
		serial := c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
		e.mu.Lock()
		if _, seen := e.firstNew[serial]; !seen {
			e.firstNew[serial] = time.Now()
		}
		e.mu.Unlock()
		reqStart := time.Now()
		if err := e.request(c); err != nil && ctx.Err() == nil {
			e.reqErr.Add(1)
			e.lastErr.Store("request: " + err.Error())
		}
		if d := int64(time.Since(reqStart)); d > e.maxReq.Load() {
			e.maxReq.Store(d)
		}
		c.Close()
		select {
		case <-ctx.Done():
		case <-time.After(loadPause):
		}
	}
}

// servicePIDs are the pid of every supervised daemon of the stack, by host/service.
func servicePIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	l, err := local.NewLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := os.ReadDir(filepath.Join(l.Dir, "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, h := range hosts {
		sup := agent.Supervisor{RunDir: l.Paths(h.Name()).Run}
		names, _ := sup.Services()
		for _, n := range names {
			if st, err := sup.State(n); err == nil {
				pids[h.Name()+"/"+n] = st.PID
			}
		}
	}
	return pids
}

type certsDoc struct {
	Certs []struct {
		Target string          `json:"target"`
		Host   string          `json:"host"`
		Status check.Status    `json:"status"`
		Cert   *check.CertInfo `json:"cert"`
	} `json:"certificates"`
}

// TestCertRenewalUnderLoad renews every host certificate of the HA stack twice, first to a
// short lifetime, then (as the renewal window asks) to a year, while clients make TLS
// handshakes and a request on every TLS port: no handshake fails, no daemon restarts
// (same pids), every port serves each new certificate, and `cso certs` shows the new
// expiry.
func TestCertRenewalUnderLoad(t *testing.T) {
	s := requireStack(t)
	for _, h := range s.Up.Hosts {
		if h.Error != "" {
			t.Fatalf("the cold up failed on %s (%s): a renewal proof needs a converged stack", h.Host, h.Error)
		}
	}
	caPEM, err := os.ReadFile(s.Target.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.Pool(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	var eps []*tlsEndpoint
	for _, h := range s.Target.Hosts {
		for name, port := range h.Ports {
			switch name {
			case inventory.PortKeystone, inventory.PortAMQPS, inventory.PortManagement, inventory.PortAdmin:
				eps = append(eps, &tlsEndpoint{host: h.Name, fqdn: h.FQDN, name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), firstNew: map[string]time.Time{}})
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].addr < eps[j].addr })
	if len(eps) < 9 {
		t.Fatalf("only %d TLS ports in the HA stack", len(eps))
	}
	pidsBefore := servicePIDs(t, s.Dir)

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Add(1) // one client per port: as many goroutines as ports
		go func() { defer wg.Done(); e.load(lctx, roots) }()
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
	// report logs the load's figures; deferred too, so a failed phase still shows them.
	reported := false
	var startShort, startYear time.Time
	var tookShort, tookYear time.Duration
	report := func() (shakes, shakeErr, reqErr int64) {
		if reported {
			return
		}
		reported = true
		stop()
		var reloadTimes, slowest []string
		for _, e := range eps {
			shakes += e.shakes.Load()
			shakeErr += e.shakeErr.Load()
			reqErr += e.reqErr.Load()
			e.mu.Lock()
			if len(e.firstNew) != 3 {
				t.Errorf("%s %s (%s) served %d certificates during the test, want 3 (old, short, renewed)", e.host, e.name, e.addr, len(e.firstNew))
			}
			var firsts []time.Time
			for _, at := range e.firstNew {
				firsts = append(firsts, at)
			}
			e.mu.Unlock()
			sort.Slice(firsts, func(i, j int) bool { return firsts[i].Before(firsts[j]) })
			if len(firsts) == 3 {
				reloadTimes = append(reloadTimes, fmt.Sprintf("%s/%s +%s +%s", e.host, e.name,
					firsts[1].Sub(startShort).Round(100*time.Millisecond), firsts[2].Sub(startYear).Round(100*time.Millisecond)))
			}
			slowest = append(slowest, fmt.Sprintf("%s/%s %s", e.host, e.name, time.Duration(e.maxReq.Load()).Round(10*time.Millisecond)))
			if n := e.shakeErr.Load() + e.reqErr.Load(); n > 0 {
				t.Logf("%s %s: %d failed handshakes, %d failed requests; last: %v", e.host, e.name, e.shakeErr.Load(), e.reqErr.Load(), e.lastErr.Load())
			}
		}
		t.Logf("load: %d TLS ports, %d handshakes, %d failed handshakes, %d failed requests; renewals took %s and %s",
			len(eps), shakes, shakeErr, reqErr, tookShort.Round(100*time.Millisecond), tookYear.Round(100*time.Millisecond))
		t.Logf("slowest request per port: %s", strings.Join(slowest, "; "))
		t.Logf("new certificate first served (after the start of each renewal): %s", strings.Join(reloadTimes, "; "))
		return
	}
	defer report()
	time.Sleep(3 * time.Second) // a baseline under load before anything changes

	renew := func(phase string, args ...string) (time.Time, time.Duration) {
		t.Helper()
		start := time.Now()
		out, errs, code, err := s.Run(ctx, append([]string{"certs", "renew", "--local-dir", s.Dir, "-o", "json"}, args...)...)
		took := time.Since(start)
		var res local.RenewResult
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil || err != nil {
			t.Fatalf("%s: exit %d, %v, %v\n%s\n%s", phase, code, err, jerr, out, errs)
		}
		if res.Up == nil {
			t.Fatalf("%s: no agent run (renewed %d)\n%s", phase, len(res.Renewed), errs)
		}
		for _, h := range res.Up.Hosts {
			if h.Error != "" {
				t.Fatalf("%s: host %s failed: %s\n%s", phase, h.Host, h.Error, errs)
			}
		}
		// One per host, and the local MariaDB's (reloaded with FLUSH SSL: its pid is
		// checked with the others' below).
		if len(res.Renewed) != len(s.Target.Hosts)+1 {
			t.Fatalf("%s: %d certificates renewed, want one per host (%d) and the database's", phase, len(res.Renewed), len(s.Target.Hosts))
		}
		t.Logf("%s: exit %d, %d certificates re-issued, agents' run with reloads in %s", phase, code, len(res.Renewed), took.Round(100*time.Millisecond))
		return start, took
	}
	certs := func() certsDoc {
		t.Helper()
		out, errs, _, err := s.Run(ctx, "certs", "--local-dir", s.Dir, "-o", "json")
		var doc certsDoc
		if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil || err != nil {
			t.Fatalf("cso certs: %v %v\n%s\n%s", err, jerr, out, errs)
		}
		return doc
	}

	// Phase 1: short-lived certificates (30 minutes): cso certs says they fail (under 7 days).
	startShort, tookShort = renew("renew to 30m", "--lifetime", "30m")
	for _, c := range certs().Certs {
		if c.Target == "ca" {
			continue
		}
		if c.Cert == nil || c.Cert.NotAfter.After(time.Now().Add(31*time.Minute)) || c.Status != check.Fail {
			t.Errorf("after the short renewal %s: %+v, want a 30-minute certificate that fails", c.Target, c.Cert)
		}
	}
	// Phase 2: the renewal window: every certificate expires within a day, all renewed.
	startYear, tookYear = renew("renew within 1 day", "--days", "1")
	time.Sleep(3 * time.Second) // load after the last reload
	stop()

	for _, c := range certs().Certs {
		if c.Cert == nil || c.Status != check.OK || (c.Target != "ca" && c.Cert.DaysLeft < 364) {
			t.Errorf("after the renewal %s: status %s, %+v; want ok and a year left", c.Target, c.Status, c.Cert)
		}
	}
	shakes, shakeErr, reqErr := report()
	if shakeErr > 0 {
		t.Errorf("%d TLS handshakes failed during the renewals", shakeErr)
	}
	if reqErr > 0 {
		t.Errorf("%d requests failed during the renewals", reqErr)
	}
	if shakes < int64(len(eps))*5 {
		t.Errorf("only %d handshakes: the load did not run", shakes)
	}
	pidsAfter := servicePIDs(t, s.Dir)
	for svc, pid := range pidsBefore {
		if pidsAfter[svc] != pid {
			t.Errorf("%s restarted (pid %d -> %d): a renewal must reload, not restart", svc, pid, pidsAfter[svc])
		}
	}
}
