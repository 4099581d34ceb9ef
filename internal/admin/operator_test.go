package admin

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// operatorFixture is the dashboard of an environment with a RabbitMQ node whose management
// API lists two queues (and answers nothing else, so that node's probes fail), shared
// Keystone key sets of known ages and a last deployment in which one host failed.
func operatorFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	keys := filepath.Join(dir, "keystone-keys")
	for set, ages := range map[string][]int{"fernet": {1, 10, 3}, "credential": {2, 40}} {
		d := filepath.Join(keys, set+"-keys")
		must(t, os.MkdirAll(d, 0o700))
		for i, days := range ages {
			p := filepath.Join(d, string(rune('0'+i)))
			must(t, os.WriteFile(p, []byte("k"), 0o600))
			at := now.Add(-time.Duration(days) * 24 * time.Hour)
			must(t, os.Chtimes(p, at, at))
		}
	}
	secrets := filepath.Join(dir, "secrets")
	must(t, os.MkdirAll(secrets, 0o700))
	must(t, os.WriteFile(filepath.Join(secrets, "rabbitmq-ssp-password"), []byte("rmq-pw\n"), 0o600))
	deploy := filepath.Join(dir, "last-up.json")
	must(t, os.WriteFile(deploy, []byte(`{"dir":"/srv/cso/.local","changed":true,"duration_ns":93500000000,
"hosts":[{"host":"keystone01","role":"keystone","changed":["keystone.conf","httpd"],"duration_ns":1500000000},
{"host":"rabbitmq-server-1","role":"rabbitmq","changed":[],"error":"boom: rabbitmq-server did not start","duration_ns":2000000000},
{"host":"backend01","role":"backend","changed":[],"skipped":"no application package","duration_ns":0}],
"health":[{"name":"a","ok":true},{"name":"b","ok":false}]}`), 0o644))
	return newFixtureCA(t, func(ca *checktest.CA, c *Config) {
		fq := "rabbitmq-server-1.test.cso.ss"
		rabbit := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "ssp_user" || p != "rmq-pw" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.URL.Path != "/api/queues" {
				http.NotFound(w, r)
				return
			}
			_ = json.NewEncoder(w).Encode([]check.Queue{
				{VHost: "/cso", Name: "ticketing", Type: "quorum", Messages: 7, Ready: 5, Unacked: 2, Consumers: 0},
				{VHost: "/cso", Name: "events", Type: "quorum", Consumers: 3},
			})
		}))
		rabbit.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ValidLeaf(fq)}}
		rabbit.StartTLS()
		t.Cleanup(rabbit.Close)
		c.Target.SecretsDir = secrets
		c.Target.LastDeploy = deploy
		c.Target.Hosts = append(c.Target.Hosts, inventory.Host{Name: "rabbitmq-server-1", Role: envfile.RoleRabbitMQ, Index: 1,
			FQDN: fq, Address: "127.0.0.1", Ports: map[string]int{inventory.PortManagement: rabbit.Listener.Addr().(*net.TCPAddr).Port}})
		c.KeystoneKeys = keys
		c.CacheFor = time.Nanosecond // every request is a run of its own, for the history
		if mutate != nil {
			mutate(c)
		}
	})
}

func TestOperatorDashboard(t *testing.T) {
	f := operatorFixture(t, nil)
	c, _ := f.signIn(t, "admin", f.adminPW)
	var page string
	var resp *http.Response
	for range 3 {
		resp, page = get(t, c, f.srv.URL+"/admin/", nil)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard: %d\n%s", resp.StatusCode, page)
	}
	// It reloads itself, and the CSP is the strict one of before (checkHeaders).
	checkHeaders(t, resp)
	if !strings.Contains(page, `<meta http-equiv="refresh" content="30">`) || strings.Contains(page, "<script") {
		t.Errorf("no meta refresh of 30 s, or a script, in the page")
	}
	// Charts: one per host, one per cluster, each with its text alternative.
	charts := regexp.MustCompile(`<svg class="chart" [^>]*role="img" aria-label="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(charts) != 2+2 {
		t.Errorf("%d charts, want 4 (keystone01, rabbitmq-server-1, keystone and rabbitmq clusters)", len(charts))
	}
	var rabbitChart string
	for _, m := range charts {
		if strings.HasPrefix(m[1], "rabbitmq-server-1:") {
			rabbitChart = m[1]
		}
	}
	if !regexp.MustCompile(`^rabbitmq-server-1: [1-9]\d* failing now, at most [1-9]\d* over the last 3 runs`).MatchString(rabbitChart) {
		t.Errorf("rabbitmq-server-1 chart %q: want its failing probes over 3 runs", rabbitChart)
	}
	if !strings.Contains(page, `<rect class="fail"`) || !strings.Contains(page, `<polyline class="latency"`) {
		t.Errorf("charts without bars or latency line")
	}
	// Queues: depth and consumers; a queue with messages and no consumer is marked.
	for _, want := range []string{
		`<tr class="warn"><td class="mono">ticketing <span class="muted">/cso quorum</span></td><td class="num">7</td><td class="num">5</td><td class="num">2</td><td class="num">0</td></tr>`,
		`<td class="mono">events <span class="muted">/cso quorum</span></td><td class="num">0</td><td class="num">0</td><td class="num">0</td><td class="num">3</td>`,
		`as rabbitmq-server-1 reports them`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("queues: page lacks %s", want)
		}
	}
	// Key ages: 0 staged, the highest primary, whose time is the last rotation.
	if !regexp.MustCompile(`<caption>fernet keys, last rotation ` + regexp.QuoteMeta(time.Now().Add(-72*time.Hour).UTC().Format("2006-01-02 15")) + `:\d\d:\d\dZ</caption>`).MatchString(page) {
		t.Errorf("fernet keys: no caption naming the primary's time as the last rotation")
	}
	for _, want := range []string{
		`<tr><td>0</td><td>staged</td><td class="num">1.0 d</td>`,
		`<tr><td>1</td><td>secondary</td><td class="num">10.0 d</td>`,
		`<tr><td>2</td><td>primary</td><td class="num">3.0 d</td>`,
		`<tr><td>1</td><td>primary</td><td class="num">40.0 d</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("key ages: page lacks %s", want)
		}
	}
	// The last deployment in words.
	for _, want := range []string{
		"A host failed.",
		`<dt>Duration</dt><dd>1m33.5s</dd>`,
		`<dt>Health</dt><dd>1 of 2 ok</dd>`,
		`<tr class="fail"><td>rabbitmq-server-1</td><td>rabbitmq</td><td>failed: boom: rabbitmq-server did not start</td><td>nothing</td><td class="num">2s</td></tr>`,
		`<tr><td>keystone01</td><td>keystone</td><td>ok</td><td>keystone.conf, httpd</td><td class="num">1.5s</td></tr>`,
		`<td>skipped: no application package</td>`,
		`<details><summary>The whole document (JSON)</summary>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("last deployment: page lacks %s", want)
		}
	}

	// The same facts in the API.
	_, body := get(t, c, f.srv.URL+"/admin/api/status", nil)
	var v View
	must(t, json.Unmarshal([]byte(body), &v))
	if len(v.Queues) != 2 || len(v.KeySets) != 2 || len(v.KeySets[0].Keys) != 3 || len(v.HostCharts) != 2 {
		t.Errorf("API: %d queues, key sets %+v, %d host charts", len(v.Queues), v.KeySets, len(v.HostCharts))
	}
}

func TestHistoryIsBounded(t *testing.T) {
	h := history{max: 3}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		h.add(sample{At: t0.Add(time.Duration(i) * time.Minute), Failing: map[string]int{"a": i},
			Latency: map[string]time.Duration{"keystone": time.Duration(i) * time.Millisecond}})
	}
	if len(h.samples) != 3 || h.samples[0].Failing["a"] != 7 || cap(h.samples) > 8 {
		t.Fatalf("history keeps %d samples (first %v, cap %d), want the last 3", len(h.samples), h.samples[0].Failing, cap(h.samples))
	}
	hosts, clusters := h.charts([]HostView{{Host: inventory.Host{Name: "a"}}})
	if len(hosts) != 1 || hosts[0].Alt != "a: 9 failing now, at most 9 over the last 3 runs, 12:07:00 to 12:09:00Z" {
		t.Errorf("host charts %+v", hosts)
	}
	if len(clusters) != 1 || !strings.Contains(clusters[0].Alt, "slowest probe 9.0 ms now") {
		t.Errorf("cluster charts %+v", clusters)
	}
	if n := strings.Count(string(hosts[0].SVG), "<rect "); n != 3 {
		t.Errorf("%d bars, want 3:\n%s", n, hosts[0].SVG)
	}
}

func TestMetrics(t *testing.T) {
	f := operatorFixture(t, nil)
	resp, body := get(t, f.client(), f.srv.URL+"/admin/metrics", nil)
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "cso_") {
		t.Errorf("metrics without a session: %d %q, want 401 and nothing", resp.StatusCode, body)
	}
	c, _ := f.signIn(t, "admin", f.adminPW)
	resp, body = get(t, c, f.srv.URL+"/admin/metrics", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, re := range []string{
		`(?m)^cso_check_status\{check="http /v3",group="service",host="keystone01",status="ok",target="keystone01:\d+"\} 1$`,
		`(?m)^cso_check_status\{check="http /api/overview",group="service",host="rabbitmq-server-1",status="fail",target="rabbitmq-server-1:\d+"\} 1$`,
		`(?m)^cso_check_latency_seconds\{check="tcp keystone",group="service",host="keystone01",target="keystone01:\d+"\} \d`,
		`(?m)^cso_checks\{status="fail"\} [1-9]`,
		`(?m)^cso_certificate_days_left\{check="cert keystone",target="keystone01:\d+"\} 36[45]$`,
		`(?m)^cso_keystone_key_age_seconds\{key="1",role="primary",set="credential"\} 3\.456\d*e\+06$`,
		`(?m)^cso_rabbitmq_queue_messages\{queue="ticketing",vhost="/cso"\} 7$`,
		`(?m)^cso_rabbitmq_queue_messages_ready\{queue="ticketing",vhost="/cso"\} 5$`,
		`(?m)^cso_rabbitmq_queue_messages_unacknowledged\{queue="ticketing",vhost="/cso"\} 2$`,
		`(?m)^cso_rabbitmq_queue_consumers\{queue="events",vhost="/cso"\} 3$`,
		`(?m)^cso_check_run_timestamp_seconds \d`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("metrics lack %s", re)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestRefreshAndHistoryBounds(t *testing.T) {
	tg := &target.Target{Env: "test", Kind: "local"}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Target: tg, Refresh: 500 * time.Millisecond}, "--refresh 500ms"},
		{Config{Target: tg, History: MaxHistory + 1}, "--history 10001"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
}
