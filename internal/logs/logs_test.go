package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
	"github.com/cso-ssp/platform/internal/target"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h": now.Add(-time.Hour), "90m": now.Add(-90 * time.Minute), "2d": now.Add(-48 * time.Hour),
		"": now.Add(-DefaultSince), "2026-12-05T10:00:00Z": time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-1h", "0s", "1x", "2.5d", "2026-12-05"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}

func TestLineTime(t *testing.T) {
	for line, want := range map[string]string{
		"2026-12-05T18:00:01Z keystone01 converging":                            "2026-12-05T18:00:01Z",
		"=== 2026-12-05T18:00:02Z supervisor: starting /usr/sbin/apache2":       "2026-12-05T18:00:02Z",
		"2026-12-05 18:00:03.123456+00:00 [info] <0.229.0> Starting RabbitMQ":   "2026-12-05T18:00:03.123456Z",
		`127.0.0.1 - - [05/Dec/2026:18:00:04 +0000] "GET /v3 HTTP/1.1" 200 265`: "2026-12-05T18:00:04Z",
		"[Sat Dec 05 18:00:05.123456 2026] [wsgi:error] [pid 1] boom":           "2026-12-05T18:00:05.123456Z",
		"2026/12/05 18:00:06 [error] 12#12: *1 connect() failed":                "2026-12-05T18:00:06Z",
	} {
		got := lineTime(line)
		w, _ := time.Parse(time.RFC3339Nano, want)
		// Formats without a zone are local time (oslo.log, nginx's error log, Apache's).
		if !got.Equal(w) && !got.Equal(time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.Local)) {
			t.Errorf("lineTime(%q) = %v, want %v", line, got, w)
		}
	}
	if !lineTime("    at foo.bar(Baz.java:1)").IsZero() {
		t.Error("a continuation line got a time")
	}
}

// localTarget writes a local target's description and log files in the layout the roles
// use: a Keystone node and a RabbitMQ node.
func localTarget(t *testing.T) (dir string, ks, mq inventory.Host) {
	t.Helper()
	dir = t.TempDir()
	env, err := envfile.Load("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hosts := inventory.Local(env, inventory.LocalOptions{PortBase: 14936})
	ks = inventory.ByRole(hosts, envfile.RoleKeystone)[0]
	mq = inventory.ByRole(hosts, envfile.RoleRabbitMQ)[0]
	l, _ := local.NewLayout(dir)
	tg := &target.Target{Env: env.Name, Kind: target.KindLocal, Hosts: hosts, StatusDir: l.StatusDir()}
	if err := tg.Save(l.TargetFile()); err != nil {
		t.Fatal(err)
	}
	kp := keystone.Paths(l.Paths(ks.Name), ks.Name)
	node := rabbitmq.NodeFor(mq, l.Paths(mq.Name))
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(kp.HTTPDLogDir, "keystone.log"),
		"127.0.0.1 - - [05/Dec/2026:18:00:01 +0000] \"POST /v3/auth/tokens HTTP/1.1\" 201 5000\n"+
			"127.0.0.1 - - [05/Dec/2026:18:00:04 +0000] \"GET /v3/auth/tokens HTTP/1.1\" 404 120\n")
	write(filepath.Join(kp.HTTPDLogDir, "keystone-error.log"), "[Sat Dec 05 18:00:02.000000 2026] [wsgi:error] [pid 7] Traceback (most recent call last):\n  File \"x.py\", line 1\n")
	write(filepath.Join(l.Paths(ks.Name).Log, "keystone01-httpd.log"), "=== 2026-12-05T18:00:00Z supervisor: starting /usr/sbin/apache2 -DFOREGROUND\n")
	write(filepath.Join(node.LogBase, node.Name+".log"), "2026-12-05 18:00:03.000000+00:00 [info] <0.1.0> Server startup complete\n")
	return dir, ks, mq
}

func collect(t *testing.T, r Reader, q Query) []Line {
	t.Helper()
	var got []Line
	if err := r.Read(context.Background(), q, func(l Line) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLocalReadsTheRolesFilesMergedByTime(t *testing.T) {
	dir, ks, mq := localTarget(t)
	r, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC)
	services, err := r.Services(ks.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agent", "keystone", "keystone-httpd", "keystone-httpd-error", "keystone01-httpd"} {
		if !contains(services, want) {
			t.Errorf("services of %s = %v, want %s among them", ks.Name, services, want)
		}
	}
	got := collect(t, r, Query{Host: ks.Name, Since: since})
	var msgs []string
	for _, l := range got {
		if l.Host != ks.Name {
			t.Errorf("line of host %q", l.Host)
		}
		msgs = append(msgs, l.Service+": "+l.Message[:min(len(l.Message), 30)])
	}
	want := []string{
		"keystone01-httpd: === 2026-12-05T18:00:00Z super",
		`keystone-httpd: 127.0.0.1 - - [05/Dec/2026:18:`,
		"keystone-httpd-error: [Sat Dec 05 18:00:02.000000 20",
		`keystone-httpd-error:   File "x.py", line 1`, // a continuation keeps its place
		`keystone-httpd: 127.0.0.1 - - [05/Dec/2026:18:`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	// One log, grep, since and the limit.
	if got := collect(t, r, Query{Host: ks.Name, Service: "keystone-httpd", Grep: "404", Since: since}); len(got) != 1 || !strings.Contains(got[0].Message, "GET /v3/auth/tokens") {
		t.Errorf("--grep 404: %+v", got)
	}
	if got := collect(t, r, Query{Host: ks.Name, Since: time.Date(2026, 12, 5, 18, 0, 3, 0, time.UTC)}); len(got) != 1 {
		t.Errorf("--since 18:00:03: %+v", got)
	}
	if got := collect(t, r, Query{Host: ks.Name, Since: since, Limit: 2}); len(got) != 2 || !strings.Contains(got[1].Message, "404") {
		t.Errorf("--limit 2 keeps the newest two: %+v", got)
	}
	if got := collect(t, r, Query{Host: mq.Name, Service: "rabbitmq", Since: since}); len(got) != 1 || !strings.Contains(got[0].Message, "Server startup complete") {
		t.Errorf("rabbitmq: %+v", got)
	}
	// Unknown host and service name the valid ones.
	err = r.Read(context.Background(), Query{Host: "keystone09"}, func(Line) error { return nil })
	var ue *UnknownError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), ks.Name) {
		t.Errorf("unknown host: %v", err)
	}
	err = r.Read(context.Background(), Query{Host: ks.Name, Service: "nginx-access"}, func(Line) error { return nil })
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "keystone-httpd-error") {
		t.Errorf("unknown service: %v", err)
	}
}

func TestLocalFollowSeesAppendedLinesAndStops(t *testing.T) {
	dir, ks, _ := localTarget(t)
	r, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := local.NewLayout(dir)
	file := filepath.Join(keystone.Paths(l.Paths(ks.Name), ks.Name).HTTPDLogDir, "keystone.log")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []Line
	done := make(chan error, 1)
	go func() {
		done <- r.Read(ctx, Query{Host: ks.Name, Service: "keystone-httpd", Grep: "GET", Follow: true, Poll: 50 * time.Millisecond, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			func(l Line) error { mu.Lock(); got = append(got, l); mu.Unlock(); return nil })
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	deadline := time.Now().Add(5 * time.Second)
	for count() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f, _ := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("127.0.0.1 - - [05/Dec/2026:18:01:00 +0000] \"POST /x\" 201 1\n127.0.0.1 - - [05/Dec/2026:18:01:01 +0000] \"GET /new")
	f.Sync()
	time.Sleep(200 * time.Millisecond)
	if c := count(); c != 1 {
		t.Errorf("an unterminated line or a non-matching one was printed: %d lines", c)
	}
	f.WriteString(" HTTP/1.1\" 200 1\n")
	f.Close()
	for count() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !strings.HasSuffix(got[1].Message, `GET /new HTTP/1.1" 200 1`) {
		t.Fatalf("followed lines: %+v", got)
	}
	var b bytes.Buffer
	WriteJSON(&b, got[1])
	var obj map[string]any
	if err := json.Unmarshal(b.Bytes(), &obj); err != nil || obj["host"] != ks.Name || obj["service"] != "keystone-httpd" || obj["time"] != "2026-12-05T18:01:01Z" {
		t.Errorf("JSON line %s: %v", b.String(), err)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
