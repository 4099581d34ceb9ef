package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/admin"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
	"github.com/cso-ssp/platform/internal/target"
)

// ckResult is one row of `cso check --output json`.
type ckResult struct {
	Check, Target, Status, Detail string
}

type ckReport struct {
	Env        string     `json:"env"`
	DurationMS float64    `json:"duration_ms"`
	Results    []ckResult `json:"results"`
}

// ckRun runs the cso binary's `cso check --output json` with args and returns its exit
// code, report and stderr.
func ckRun(t testing.TB, s *Stack, args ...string) (int, ckReport, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, code, err := s.Run(ctx, append([]string{"check", "--output", "json", "--timeout", "30s"}, args...)...)
	if err != nil {
		t.Fatalf("cso check %v: %v", args, err)
	}
	var rep ckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("cso check %v: exit %d, output is not a JSON report: %v\n%s\n%s", args, code, err, out, errOut)
	}
	return code, rep, errOut
}

func (r ckReport) find(check, target string) (ckResult, bool) {
	for _, x := range r.Results {
		if x.Check == check && x.Target == target {
			return x, true
		}
	}
	return ckResult{}, false
}

func (r ckReport) failures() []string {
	var f []string
	for _, x := range r.Results {
		if x.Status != "ok" {
			f = append(f, fmt.Sprintf("%s %s %s: %s", x.Status, x.Check, x.Target, x.Detail))
		}
	}
	return f
}

// expectFail asserts that the report has result check/target failed with want in its detail.
func ckExpectFail(t testing.TB, code int, r ckReport, check, target, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	x, ok := r.find(check, target)
	switch {
	case !ok:
		t.Errorf("no result %q %q", check, target)
	case x.Status != "fail" || !strings.Contains(x.Detail, want):
		t.Errorf("%s %s: %s %q, want fail containing %q", check, target, x.Status, x.Detail, want)
	default:
		t.Logf("detected: %s %s: %s", check, target, x.Detail)
	}
}

// failing returns the check and target of every result that is not ok.
func (r ckReport) failing() map[string]bool {
	m := map[string]bool{}
	for _, x := range r.Results {
		if x.Status != "ok" {
			m[x.Check+" "+x.Target] = true
		}
	}
	return m
}

// baseline records what fails before a test breaks something, so that the test can tell
// afterwards that it restored what it broke (the whole stack is asserted green by
// TestCheckLocalStackGreen).
func ckBaseline(t testing.TB, s *Stack) map[string]bool {
	t.Helper()
	_, rep, _ := ckRun(t, s, "--local-dir", s.Dir)
	return rep.failing()
}

// waitRestored runs the check until nothing fails beyond before (bounded in time).
func ckWaitRestored(t testing.TB, s *Stack, before map[string]bool) {
	t.Helper()
	const limit = 2 * time.Minute
	start := time.Now()
	for {
		_, rep, _ := ckRun(t, s, "--local-dir", s.Dir)
		var extra []string
		for _, x := range rep.Results {
			if x.Status != "ok" && !before[x.Check+" "+x.Target] {
				extra = append(extra, fmt.Sprintf("%s %s: %s", x.Check, x.Target, x.Detail))
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("stack not restored %s after the test: %s", limit, strings.Join(extra, "; "))
		}
		time.Sleep(2 * time.Second)
	}
}

func ckLoadTarget(t testing.TB, dir string) *target.Target {
	t.Helper()
	tg, err := target.Load(filepath.Join(dir, target.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func ckHost(t testing.TB, tg *target.Target, name string) inventory.Host {
	t.Helper()
	h, ok := inventory.Find(tg.Hosts, name)
	if !ok {
		t.Fatalf("no host %s in the target", name)
	}
	return h
}

func TestCheckLocalStackGreen(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	code, rep, stderr := ckRun(t, s, "--local-dir", dir)
	if code != 0 {
		t.Fatalf("cso check on the HA stack: exit %d (%s)\n%s", code, stderr, strings.Join(rep.failures(), "\n"))
	}
	// Every host and every cluster check is there.
	tg := ckLoadTarget(t, dir)
	for _, h := range tg.Hosts {
		if _, ok := rep.find("setup status", h.Name); !ok {
			t.Errorf("no setup status of %s", h.Name)
		}
	}
	for _, c := range []string{"keystone fernet keys", "keystone credential keys", "rabbitmq nodes running", "rabbitmq partitions", "rabbitmq alarms", "shared store"} {
		found := false
		for _, r := range rep.Results {
			found = found || r.Check == c
		}
		if !found {
			t.Errorf("no %q result", c)
		}
	}
	if _, ok := rep.find("keystone cross-validation", "keystone01 -> keystone02"); !ok {
		t.Error("no cross-validation keystone01 -> keystone02")
	}
	t.Logf("%d checks green in %.0f ms", len(rep.Results), rep.DurationMS)
}

func TestCheckDetectsStoppedRabbitMQNode(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	l, err := local.NewLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := ckHost(t, tg, inventory.HostName(envfile.RoleRabbitMQ, 3))
	node := rabbitmq.NodeFor(h, l.Paths(h.Name))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := ckBaseline(t, s)
	if _, err := rabbitmq.Ctl(ctx, node, nil, "stop_app"); err != nil {
		t.Fatalf("stop %s: %v", node.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := rabbitmq.Ctl(ctx, node, nil, "start_app"); err != nil {
			t.Errorf("restart %s: %v", node.Name, err)
		}
		ckWaitRestored(t, s, before)
	})
	code, rep, _ := ckRun(t, s, "--local-dir", dir)
	ckExpectFail(t, code, rep, "rabbitmq nodes running", "rabbitmq cluster", "not running: "+node.Name)
	ckExpectFail(t, code, rep, "tcp management", fmt.Sprintf("%s:%d", h.Name, h.Ports[inventory.PortManagement]), "connection refused")
}

// copyDir copies the regular files of src into dst (created), keeping mode and owner.
func ckCopyDir(t testing.TB, src, dst string) {
	t.Helper()
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, st.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		p := filepath.Join(dst, e.Name())
		if err := os.WriteFile(p, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		ckChownLike(t, p, info)
	}
}

// replaceDir makes dir hold exactly the files of saved.
func ckReplaceDir(t testing.TB, saved, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	ckCopyDir(t, saved, dir)
}

func TestCheckDetectsFernetKeyDrift(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	l, err := local.NewLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := ckBaseline(t, s)
	keys := tg.FernetKeyDirs["keystone02"]
	saved := filepath.Join(t.TempDir(), "fernet-keys")
	ckCopyDir(t, keys, saved)
	t.Cleanup(func() {
		ckReplaceDir(t, saved, keys)
		ckWaitRestored(t, s, before)
	})
	// Rotate on keystone02 only, with Keystone's own tool, twice: one rotation still
	// validates with max_active_keys (measured on the local stack), two do not.
	conf := keystone.Paths(l.Paths("keystone02"), "keystone02").Conf
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "keystone-manage", "--config-file", conf, "fernet_rotate",
			"--keystone-user", "keystone", "--keystone-group", "keystone").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("keystone-manage fernet_rotate on keystone02: %v\n%s", err, out)
		}
	}
	code, rep, _ := ckRun(t, s, "--local-dir", dir)
	// The key-set comparison is what finds the drift. The cross-validation probe (a token
	// issued on one node, validated on the other) cannot any more: Keystone caches every
	// token it issues ([token] caching; keystone/token/provider.py) in the memcached pool
	// both nodes share, so keystone01 answers keystone02's fresh token from the cache
	// without decrypting it (docs/decisions/check-admin.md).
	ckExpectFail(t, code, rep, "keystone fernet keys", "keystone cluster", "keystone02 differs from keystone01: key 0 differs")
}

func TestCheckDetectsWrongDatabasePassword(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	before := ckBaseline(t, s)
	secret := filepath.Join(tg.SecretsDir, "keystone-db-password")
	orig, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(secret, orig, 0o600); err != nil {
			t.Errorf("restore %s: %v", secret, err)
		}
		ckWaitRestored(t, s, before)
	})
	if err := os.WriteFile(secret, append([]byte("x"), orig...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, rep, _ := ckRun(t, s, "--local-dir", dir)
	ckExpectFail(t, code, rep, "mysql user keystone", tg.MySQL+"/keystone",
		"access denied for keystone: the password in secret keystone-db-password does not match the database")
	if x, _ := rep.find("mysql user cso_user", tg.MySQL+"/cso_portal"); x.Status != "ok" {
		t.Errorf("cso_user should still connect: %+v", x)
	}
}

// TestCheckDetectsExpiredCertificate serves the jump host's dashboard with a certificate
// that the test signs with the stack's CA but that expired two days ago, and points a copy
// of the target description at it.
func TestCheckDetectsExpiredCertificate(t *testing.T) {
	s := requireStack(t)
	dir := s.Dir
	tg := ckLoadTarget(t, dir)
	jump := ckHost(t, tg, inventory.HostName(envfile.RoleJump, 1))
	caCert, err := os.ReadFile(tg.CACert)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(tg.HostDirs[jump.Name], "data", "cso-pki", "ca.key"))
	if err != nil {
		t.Fatalf("the stack's CA key (the test signs with it): %v", err)
	}
	ca, err := pki.LoadCA(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.HostSpec(jump.Name, jump.FQDN, jump.Aliases, "127.0.0.1"), time.Now().Add(-pki.ServerValidity-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cdir := t.TempDir()
	certFile, keyFile := filepath.Join(cdir, "server.crt"), filepath.Join(cdir, "server.key")
	ckMust(t, os.WriteFile(certFile, certPEM, 0o644))
	ckMust(t, os.WriteFile(keyFile, keyPEM, 0o600))

	srv, err := admin.New(admin.Config{TargetFile: filepath.Join(dir, target.FileName)})
	ckMust(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ckMust(t, err)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.ServeTLS(ln, certFile, keyFile) }()
	t.Cleanup(func() { _ = hs.Close() })

	port := ln.Addr().(*net.TCPAddr).Port
	for i := range tg.Hosts {
		if tg.Hosts[i].Name == jump.Name {
			tg.Hosts[i].Ports = map[string]int{inventory.PortAdmin: port}
		}
	}
	copyFile := filepath.Join(cdir, target.FileName)
	ckMust(t, tg.Save(copyFile))
	code, rep, _ := ckRun(t, s, "--target", copyFile)
	tgt := fmt.Sprintf("%s:%d", jump.Name, port)
	expired := time.Now().Add(-48 * time.Hour).UTC().Format("2006-01-02")
	ckExpectFail(t, code, rep, "cert admin", tgt, fmt.Sprintf("certificate of %s:%d (CN %s) expired %s", jump.FQDN, port, jump.FQDN, expired))
	ckExpectFail(t, code, rep, "tls admin", tgt, "x509: certificate has expired or is not yet valid")
}

func ckMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ckChownLike(t testing.TB, path string, info fs.FileInfo) {
	t.Helper()
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkCheck times `cso check` (the binary, every probe, table output) on the local HA
// stack. The target is under two seconds per run.
func BenchmarkCheck(b *testing.B) {
	s := requireStack(b)
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _, code, err := s.Run(ctx, "check", "--local-dir", s.Dir)
		cancel()
		if err != nil || code != 0 {
			b.Fatalf("cso check: exit %d %v", code, err)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
