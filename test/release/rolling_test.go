// Package release proves rolling application releases on real daemons (issue 14, proof
// 2): `cso local up --app-ha` (two frontends and two backends behind the nginx stand-in
// for the ALB; one Keystone and one RabbitMQ node, so that the machine can bear it), then `cso app deploy` of a new fixture version under a steady HTTPS load
// through the stand-in, and of a deliberately broken version.
package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/release"
	"github.com/cso-ssp/platform/internal/target"
)

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("no go.mod above " + dir)
	return ""
}

func requireMachine(t *testing.T) {
	why := ""
	if os.Geteuid() != 0 {
		why = "the local target runs daemons as their own users: run as root"
	}
	for _, bin := range []string{"/usr/sbin/mariadbd", "/usr/sbin/apache2", "/usr/bin/memcached", "/usr/sbin/rabbitmq-server", "/usr/sbin/nginx", "javac"} {
		if _, err := exec.LookPath(bin); err != nil && why == "" {
			why = bin + " is missing: run scripts/install-deps.sh"
		}
	}
	if testing.Short() {
		why = "-short: a whole local HA stack"
	}
	if why != "" {
		if os.Getenv("CI") == "true" && !testing.Short() {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}

type cso struct {
	t              *testing.T
	bin, envDir, r string
}

func (c cso) run(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	cmd := exec.CommandContext(ctx, c.bin, append(args, "--env-dir", c.envDir)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Dir = &o, &e, c.r
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("cso %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// load sends GETs through the ALB stand-in until stopped, and counts them.
type load struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	failures      []string
	byPort        map[int]int64
}

type fixtureAnswer struct {
	Service string `json:"service"`
	Port    int    `json:"port"`
}

func (l *load) run(ctx context.Context, c *http.Client, url string) {
	for ctx.Err() == nil {
		resp, err := c.Get(url)
		l.total.Add(1)
		if err != nil {
			if ctx.Err() != nil {
				l.total.Add(-1) // cut by the end of the test, not a failure
				return
			}
			l.fail(err.Error())
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		var a fixtureAnswer
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil {
			l.fail(fmt.Sprintf("GET %s: HTTP %d %q", url, resp.StatusCode, body))
			continue
		}
		l.mu.Lock()
		l.byPort[a.Port]++
		l.mu.Unlock()
	}
}

func (l *load) fail(s string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, time.Now().UTC().Format("15:04:05.000")+" "+s)
	}
	l.mu.Unlock()
}

func appStatus(t *testing.T, ctx context.Context, c cso, dir string) release.Status {
	t.Helper()
	out, errOut, code := c.run(ctx, "app", "status", "--local-dir", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("cso app status: exit %d: %s", code, errOut)
	}
	var st release.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cso app status -o json: %v\n%s", err, out)
	}
	return st
}

func sumOf(t *testing.T, pkg string) string {
	t.Helper()
	p, err := apppkg.Open(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p.SHA256
}

// TestRollingReleaseUnderLoad is issue 14's proof 2.
func TestRollingReleaseUnderLoad(t *testing.T) {
	requireMachine(t)
	repo := repoRoot(t)
	tmp, err := os.MkdirTemp("", "cso-release-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	// Its own ports: go test runs packages side by side, and test/e2e's stack uses port
	// base 0, internal/local's 1000 to 2100, the role packages' 2000 to 5000.
	portBase := 6000
	if v := os.Getenv("CSO_LOCAL_TEST_PORT_BASE"); v != "" {
		if portBase, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	c := cso{t: t, bin: filepath.Join(tmp, "cso"), envDir: filepath.Join(tmp, "environments"), r: repo}
	build := exec.CommandContext(ctx, "go", "build", "-o", c.bin, "./cmd/cso")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	v1 := fixture.Build(t, filepath.Join(tmp, "pkg"))
	v2 := fixture.Build(t, filepath.Join(tmp, "pkg"), func(m *apppkg.Manifest) { m.Version = "2.0.0-test" })
	// The broken release forgot its jar: every service exits at start.
	broken := fixture.Build(t, filepath.Join(tmp, "pkg"), func(m *apppkg.Manifest) {
		m.Version = "3.0.0-broken"
		for i := range m.Services {
			for j, a := range m.Services[i].Command {
				m.Services[i].Command[j] = strings.ReplaceAll(a, "cso-fixture.jar", "missing.jar")
			}
		}
	})
	src, err := os.ReadFile(filepath.Join(repo, "environments", "env.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.envDir, "env.dev.yaml"), append(src, []byte("application:\n  package: "+v1+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "local")
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer dcancel()
		if _, e, code := c.run(dctx, "local", "down", "--dir", dir, "--purge"); code != 0 {
			t.Errorf("cso local down --purge: exit %d: %s", code, e)
		}
		os.RemoveAll(tmp)
	})

	start := time.Now()
	upArgs := []string{"local", "up", "--app-ha", "--local-dir", dir, "--port-base", strconv.Itoa(portBase), "--env", "dev"}
	out, errOut, code := c.run(ctx, upArgs...)
	for try := 2; code != 0 && try <= 4; try++ {
		// The bring-up of the platform tier is not what this test proves, and a machine
		// shared by many stacks can exceed one of its bounded waits: up resumes where it
		// stopped.
		t.Logf("cso local up --app-ha: exit %d after %s; running it again\n%s", code, time.Since(start).Round(time.Second), grepLines(out+errOut, "FAILED  "))
		out, errOut, code = c.run(ctx, upArgs...)
	}
	if code != 0 {
		t.Fatalf("cso local up --app-ha: exit %d\n%s\n%s", code, out, lastLines(errOut+out, 60))
	}
	t.Logf("cso local up --app-ha: %s", time.Since(start).Round(time.Second))
	tg, err := target.Load(filepath.Join(dir, target.FileName))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := local.NewLayout(dir)
	alb := local.ALB{L: l, Hosts: tg.Hosts, PortBase: portBase}
	client, err := alb.Client(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var frontPorts []int
	for _, h := range tg.Hosts {
		if h.Role == "frontend" {
			frontPorts = append(frontPorts, h.Ports[inventory.PortManagementUI], h.Ports[inventory.PortPortalUI])
		}
	}
	if len(frontPorts) != 4 {
		t.Fatalf("want two frontends, the target has ports %v", frontPorts)
	}

	// The stand-in routes as the listener rules: /api/idm/* to Keystone, /admin/* to the
	// jump server's dashboard, /ui/* to the frontends.
	for path, want := range map[string]int{"/api/idm/v3": 200, "/admin/": 0, "/ui/management/x": 200, "/ui/portal/x": 200} {
		resp, err := client.Get(alb.URL() + path)
		if err != nil {
			t.Fatalf("GET %s through the ALB stand-in: %v", path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case want != 0 && resp.StatusCode != want:
			t.Errorf("GET %s through the ALB stand-in: HTTP %d %q", path, resp.StatusCode, body)
		case path == "/api/idm/v3" && !strings.Contains(string(body), `"version"`):
			t.Errorf("/api/idm/v3 did not reach Keystone: %q", body)
		// The client follows redirects: the dashboard sends an anonymous /admin/ to its sign-in page.
		case path == "/admin/" && resp.StatusCode != http.StatusUnauthorized && (resp.StatusCode < 300 || resp.StatusCode >= 400) &&
			!(resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/admin/login" && strings.Contains(string(body), "<form")):
			t.Errorf("/admin/ did not reach the dashboard (401 or a redirect to sign-in): HTTP %d", resp.StatusCode)
		}
	}

	// Steady load: 4 clients with keep-alive connections, each alternating the two UIs.
	lo := &load{byPort: map[int]int64{}}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		path := []string{"/ui/management/orders", "/ui/portal/catalog"}[i%2]
		wg.Add(1)
		go func() { defer wg.Done(); lo.run(lctx, client, alb.URL()+path) }()
	}
	loadStart := time.Now()
	stop := func() time.Duration {
		stopLoad()
		wg.Wait()
		return time.Since(loadStart)
	}
	defer stop()

	// 1. A new version rolls across the four hosts.
	time.Sleep(3 * time.Second)
	before := lo.total.Load()
	start = time.Now()
	out, errOut, code = c.run(ctx, "app", "deploy", "--local-dir", dir, v2)
	rollout := time.Since(start)
	if code != 0 {
		stop()
		t.Fatalf("cso app deploy %s: exit %d\n%s\n%s", filepath.Base(v2), code, out, lastLines(errOut, 80))
	}
	t.Logf("rollout of 2.0.0-test: %s, %d requests during it\n%s", rollout.Round(time.Second), lo.total.Load()-before, grepLines(errOut, "frontend-server-", "backend-server-"))
	want2 := sumOf(t, v2)
	st := appStatus(t, ctx, c, dir)
	if st.Current == nil || st.Current.SHA256 != want2 || st.Rollout == nil || st.Rollout.State != apppkg.RolloutDone {
		t.Errorf("after the rollout the record says current %+v, rollout %+v", st.Current, st.Rollout)
	}
	for _, h := range st.Hosts {
		if h.SHA256 != want2 || h.Version != "2.0.0-test" {
			t.Errorf("%s runs %s %s after the rollout, want 2.0.0-test", h.Host, h.Version, h.SHA256)
		}
	}

	// 2. A broken version is rolled back on the first host it reaches; the others are untouched.
	start = time.Now()
	_, errOut, code = c.run(ctx, "app", "deploy", "--local-dir", dir, broken)
	rollback := time.Since(start)
	if code != 1 {
		t.Errorf("cso app deploy of a broken version: exit %d, want 1\n%s", code, lastLines(errOut, 40))
	}
	t.Logf("broken 3.0.0-broken: exit %d after %s\n%s", code, rollback.Round(time.Second), grepLines(errOut, "frontend-server-", "backend-server-", "rolled back"))
	st = appStatus(t, ctx, c, dir)
	if st.Current == nil || st.Current.SHA256 != want2 {
		t.Errorf("after the failed rollout the desired version is %+v, want still 2.0.0-test", st.Current)
	}
	if st.Rollout == nil || st.Rollout.State != apppkg.RolloutRolledBack || st.Rollout.Package.Version != "3.0.0-broken" {
		t.Fatalf("the failed rollout is recorded as %+v", st.Rollout)
	}
	for _, hr := range st.Rollout.Hosts {
		want := "pending"
		if hr.Host == "frontend-server-1" {
			want = "rolled-back"
		}
		if hr.State != want {
			t.Errorf("rollout record: %s is %s (%s), want %s", hr.Host, hr.State, hr.Detail, want)
		}
	}
	for _, h := range st.Hosts {
		if h.SHA256 != want2 || h.State != "done" {
			t.Errorf("%s runs %s (%s, run %s) after the broken rollout, want 2.0.0-test", h.Host, h.Version, h.SHA256, h.State)
		}
	}
	text, _, _ := c.run(ctx, "app", "status", "--local-dir", dir)
	if !strings.Contains(text, "rolled-back") || !strings.Contains(text, "3.0.0-broken") {
		t.Errorf("cso app status does not show the rolled-back release:\n%s", text)
	}

	elapsed := stop()
	t.Logf("load through the ALB stand-in: %d requests in %s, %d failed; answers by frontend service port %v",
		lo.total.Load(), elapsed.Round(time.Second), lo.failed.Load(), lo.byPort)
	if lo.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rollouts:\n%s", lo.failed.Load(), lo.total.Load(), strings.Join(lo.failures, "\n"))
	}
	if lo.total.Load() < 100 {
		t.Errorf("only %d requests were sent: the load did not run", lo.total.Load())
	}
	for _, p := range frontPorts {
		if lo.byPort[p] == 0 {
			t.Errorf("no request reached the frontend service on port %d: the stand-in did not balance", p)
		}
	}

	// 3. A rollout while one is unfinished (its cso died holding the deploy lock) changes
	// nothing: exit 2 naming the holder. --break-lock says who held it, then frees it.
	rec := filepath.Join(l.Bucket(), filepath.FromSlash(apppkg.ReleaseKey))
	saved, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if dead, _, err := lease.TryAcquire(ctx, lease.Dir{Dir: l.Bucket()}, lease.DeployKey, "alice@laptop", "cso app deploy (died)", 0, time.Now()); err != nil || dead == nil {
		t.Fatalf("take the deploy lock as a dead rollout: %v", err)
	}
	pkgsBefore, _ := filepath.Glob(filepath.Join(l.Bucket(), "packages", "*"))
	_, errOut, code = c.run(ctx, "app", "deploy", "--local-dir", dir, v1)
	if code != 2 || !strings.Contains(errOut, "unfinished") || !strings.Contains(errOut, "held by alice@laptop") {
		t.Errorf("cso app deploy during an unfinished rollout: exit %d, want 2 naming its holder: %s", code, errOut)
	}
	after, _ := os.ReadFile(rec)
	pkgsAfter, _ := filepath.Glob(filepath.Join(l.Bucket(), "packages", "*"))
	if !bytes.Equal(after, saved) || len(pkgsAfter) != len(pkgsBefore) {
		t.Errorf("the refused deploy changed the bucket: record changed %v, packages %d -> %d", !bytes.Equal(after, saved), len(pkgsBefore), len(pkgsAfter))
	}
	out, errOut, code = c.run(ctx, "app", "deploy", "--break-lock", "--local-dir", dir)
	if code != 0 || !strings.Contains(out, "held by alice@laptop since") {
		t.Errorf("cso app deploy --break-lock: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if _, errOut, code = c.run(ctx, "app", "deploy", "--break-lock", "--local-dir", dir); code != 2 || !strings.Contains(errOut, "no rollout holds the deploy lock") {
		t.Errorf("cso app deploy --break-lock without a held lock: exit %d, want 2: %s", code, errOut)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepLines keeps the rollout's own lines (one per host state).
func grepLines(s string, subs ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(line, sub) && !strings.Contains(line, "step ") {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
