package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/bench"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/target"
)

// rotRotations is how many scheduled rotations TestFernetRotationUnderLoad waits for.
const rotRotations = 3

// rotSchedule is the schedule of TestFernetRotationUnderLoad: the set rotates every half
// token lifetime, so max_active_keys is ceil(2) + 2 + 1 spare = 5 and the rotation after
// the third would remove key 1 while its tokens may live. In full (CSO_FAULTS=full) tokens
// live 3 minutes and the set rotates every 90 seconds; in CI 2 minutes and every minute
// (the shortest interval the env file allows), 90 s of waiting less. The refusal of the
// early rotation needs it to come within lifetime - interval of the third rotation (60 s
// in CI): it comes within seconds (the second node's agent run and the old tokens' checks).
func rotSchedule() (tokenLife, interval time.Duration) {
	if fullFaults() {
		return 3 * time.Minute, 90 * time.Second
	}
	return 2 * time.Minute, time.Minute
}

// TestFernetRotationUnderLoad is issue #12's fault 2 on the local HA pair: token validation
// load on both Keystone nodes (internal/bench, cross-node validations) runs across three
// scheduled rotations, each made by keystone01's agent when the interval has elapsed and
// installed by keystone02's agent. Keystone caches validated tokens (memcached), which would
// hide a missing key, so the test empties every node's memcached every 2 seconds and after
// each installation: validations decrypt with the nodes' key sets. Tokens issued before each
// rotation are validated on both nodes after every later rotation while they are unexpired.
// Then a rotation right after the last one is refused (it would remove a key of unexpired
// tokens) with the time it becomes safe, and with --force it proceeds. A control proves the
// checks can fail: a node without a token's key answers 404 for it.
func TestFernetRotationUnderLoad(t *testing.T) {
	requireDaemons(t)
	if testing.Short() {
		t.Skip("a local HA stack across three fernet rotations (about 8 minutes)")
	}
	ownStack(t) // its own: a schedule in its env file, and a fresh fernet key set
	root := tempDir(t)
	dir, envDir := filepath.Join(root, "stack"), filepath.Join(root, "envs")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rotTokenLife, rotInterval := rotSchedule()
	schedule := fmt.Sprintf("keystone:\n  token_expiration: %s\n  fernet_rotation:\n    interval: %s\n", rotTokenLife, rotInterval)
	envPath := filepath.Join(envDir, "env.dev.yaml")
	if err := os.WriteFile(envPath, append(base, schedule...), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if ks := env.KeystoneSettings(); ks.FernetMaxActiveKeys != 5 {
		t.Fatalf("max_active_keys %d, want ceil(%s/%s)+2+1 = 5", ks.FernetMaxActiveKeys, rotTokenLife, rotInterval)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	bin := csoBinary(t)
	downOnCleanup(t, dir)
	var upOut bytes.Buffer
	res, err := Up(ctx, Options{Dir: dir, HA: true, PortBase: testPortBase(), Env: env, Roles: ksRoles(), Executable: bin, Out: &upOut})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, upOut.String())
	}
	for _, h := range res.Hosts {
		if h.Error != "" {
			t.Fatalf("up: %s: %s", h.Host, h.Error)
		}
	}
	l, _ := NewLayout(dir)
	tg, err := target.Load(l.TargetFile())
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(l.Paths("keystone01").Etc, "keystone", "keystone.conf"))
	if err != nil || !strings.Contains(string(conf), fmt.Sprintf("expiration = %d\n", int(rotTokenLife.Seconds()))) || !strings.Contains(string(conf), "max_active_keys = 5\n") {
		t.Fatalf("keystone.conf lacks the env file's schedule (%v):\n%s", err, conf)
	}
	pwb, err := os.ReadFile(filepath.Join(l.SecretsDir(), agent.SecretKeystoneAdmin))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	ks := inventory.ByRole(tg.Hosts, envfile.RoleKeystone)
	shared := keystone.Paths(l.Paths(ks[0].Name), ks[0].Name)
	run := func(args ...string) (string, int) {
		c := exec.CommandContext(ctx, bin, append(args, "--env-dir", envDir)...)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("cso %s: %v", strings.Join(args, " "), err)
		}
		return string(out), code
	}

	// The cache flusher: memcached's flush_all on every node, so that validations decrypt.
	flush := func() error {
		for _, h := range ks {
			if err := memcachedFlush(net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Ports[inventory.PortMemcached]))); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		return nil
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total bench.Result
	var segments int
	var flushErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
				if err := flush(); err != nil {
					mu.Lock()
					flushErr = err
					mu.Unlock()
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		nodes, err := bench.KeystoneNodes(tg)
		if err != nil {
			mu.Lock()
			total.FirstError = err.Error()
			mu.Unlock()
			return
		}
		// Segments of 20 s: each issues fresh tokens (one per node) and validates them
		// across the nodes, well inside their lifetime (2 or 3 minutes).
		for loadCtx.Err() == nil {
			r, err := bench.Keystone(loadCtx, tg, nodes, bench.KeystoneOptions{Op: bench.OpValidate, Clients: 4, Requests: 200_000,
				Duration: 20 * time.Second, User: "admin", Project: "admin", Domain: "Default", Password: pw})
			mu.Lock()
			switch {
			case err != nil && loadCtx.Err() == nil:
				total.Failed++
				if total.FirstError == "" {
					total.FirstError = err.Error()
				}
			case err == nil:
				segments++
				total.Sent += r.Sent
				total.OK += r.OK
				total.Failed += r.Failed
				if total.FirstError == "" {
					total.FirstError = r.FirstError
				}
				for n, c := range r.PerNode {
					if total.PerNode == nil {
						total.PerNode = map[string]int{}
					}
					total.PerNode[n] += c
				}
			}
			mu.Unlock()
		}
	}()

	// Tokens issued before each rotation, validated on both nodes after every later one.
	type oldToken struct {
		tok, by string
		at      time.Time
	}
	clients := map[string]*http.Client{}
	urls := map[string]string{}
	for _, h := range ks {
		clients[h.Name] = rotationClient(t, tg, h)
		urls[h.Name] = "https://" + h.FQDN + ":" + strconv.Itoa(h.Ports[inventory.PortKeystone])
	}
	var olds []oldToken
	oldChecks := 0
	validateOld := func(after string) {
		if err := flush(); err != nil {
			t.Fatal(err)
		}
		for _, h := range ks {
			own, err := IssueToken(ctx, clients[h.Name], urls[h.Name], pw)
			if err != nil {
				t.Fatalf("%s: %v", after, err)
			}
			for _, o := range olds {
				if time.Until(o.at.Add(rotTokenLife)) < 10*time.Second {
					continue // expiring: its refusal would be Keystone's expiry, not a key
				}
				oldChecks++
				if err := ValidateToken(ctx, clients[h.Name], urls[h.Name], own, o.tok); err != nil {
					t.Errorf("%s: a token issued by %s at %s (unexpired) does not validate on %s: %v",
						after, o.by, o.at.Format(time.TimeOnly), h.Name, err)
				}
			}
		}
	}
	primary := func() keystone.KeyInfo {
		infos, err := keystone.ReadKeySet(shared, keystone.KindFernet)
		if err != nil {
			t.Fatal(err)
		}
		return infos[len(infos)-1]
	}
	rotatedAt := map[int]time.Time{}
	for r := 1; r <= rotRotations; r++ {
		for _, h := range ks {
			tok, err := IssueToken(ctx, clients[h.Name], urls[h.Name], pw)
			if err != nil {
				t.Fatal(err)
			}
			olds = append(olds, oldToken{tok: tok, by: h.Name, at: time.Now()})
		}
		// A run before the interval elapsed changes no key.
		p := primary()
		if time.Until(p.Since.Add(rotInterval)) > 15*time.Second {
			out, code := run("agent", "--local-dir", dir, "--host", ks[0].Name)
			if code != 0 || strings.Contains(out, "scheduled fernet rotation") || primary().Name != p.Name {
				t.Fatalf("keystone01's run before the interval elapsed: exit %d, primary %s -> %s\n%s", code, p.Name, primary().Name, out)
			}
		}
		if wait := time.Until(p.Since.Add(rotInterval)); wait > 0 {
			time.Sleep(wait)
		}
		out, code := run("agent", "--local-dir", dir, "--host", ks[0].Name)
		want := fmt.Sprintf("scheduled fernet rotation (every %s): key %d is the new primary", rotInterval, r+1)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("rotation %d: keystone01's scheduled run: exit %d, want %q\n%s", r, code, want, out)
		}
		rotatedAt[r] = primary().Since
		if out, code := run("agent", "--local-dir", dir, "--host", ks[1].Name); code != 0 {
			t.Fatalf("rotation %d: keystone02's run: exit %d\n%s", r, code, out)
		}
		validateOld(fmt.Sprintf("after rotation %d", r))
	}
	// Right after the third rotation the next one would remove key 1, which signed tokens
	// until key 3's rotation at the latest: refused, with the time it becomes safe.
	out, code := run("keys", "rotate", "fernet", "--local-dir", dir)
	safeAfter := rotatedAt[2].Add(rotTokenLife).UTC().Truncate(time.Second)
	if code == 0 || !strings.Contains(out, "refusing to rotate: the rotation would remove fernet key 1") ||
		!strings.Contains(out, "Safe after "+safeAfter.Format(time.RFC3339)) {
		t.Errorf("early rotation: exit %d, want refused with safe after %s\n%s", code, safeAfter.Format(time.RFC3339), out)
	}
	// --dry-run: keystone01's agent alone says the same, and nothing changes.
	out, code = run("keys", "rotate", "fernet", "--local-dir", dir, "--dry-run")
	if code != 1 || !strings.Contains(out, "refusing to rotate: the rotation would remove fernet key 1") || strings.Contains(out, "--host "+ks[1].Name) {
		t.Errorf("early rotation --dry-run: exit %d, want 1 with the refusal and no run of %s\n%s", code, ks[1].Name, out)
	}
	if p := primary(); p.Name != strconv.Itoa(rotRotations+1) {
		t.Errorf("the refused rotation changed the primary to %s", p.Name)
	}
	out, code = run("keys", "status", "--local-dir", dir)
	if code != 0 || !strings.Contains(out, "next rotation: ") || !strings.Contains(out, "keystone02  current") {
		t.Errorf("keys status: exit %d\n%s", code, out)
	}
	t.Logf("keys status after %d rotations:\n%s", rotRotations, out)
	// A token signed with key 4, the primary before the forced rotation: the control below.
	control, err := IssueToken(ctx, clients[ks[0].Name], urls[ks[0].Name], pw)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("key %d would become the primary and key 1 would be removed", rotRotations+2)
	out, code = run("keys", "rotate", "fernet", "--local-dir", dir, "--force", "--dry-run")
	if p := primary(); code != 0 || !strings.Contains(out, want) || p.Name != strconv.Itoa(rotRotations+1) {
		t.Errorf("forced rotation --dry-run: exit %d, primary %s; want 0, %q and primary %d unchanged\n%s", code, p.Name, want, rotRotations+1, out)
	}
	out, code = run("keys", "rotate", "fernet", "--local-dir", dir, "--force")
	if code != 0 || !strings.Contains(out, "every Keystone node (keystone01, keystone02) holds the new fernet key set") {
		t.Errorf("forced rotation: exit %d\n%s", code, out)
	}
	infos, _ := keystone.ReadKeySet(shared, keystone.KindFernet)
	var names []string
	for _, k := range infos {
		names = append(names, k.Name)
	}
	if strings.Join(names, ",") != "0,2,3,4,5" {
		t.Errorf("keys after the forced rotation: %v, want key 1 removed and 5 the primary", names)
	}
	validateOld("after the forced rotation")
	// The load ends before the control: the control takes key 4 away from keystone02 on
	// purpose, and a load segment begun before the forced rotation validates a token of
	// keystone01's signed with key 4 (keystone02 then answers 404 for it, and 401 when it is
	// the caller's own token), which is the control's fault, not the rotation's.
	stopLoad()
	wg.Wait()
	// The control: the validations above would have caught a missing key. Without key 4 in
	// keystone02's repository (and an empty cache) keystone02 refuses the control token
	// (404); once its agent repaired the repository it validates again.
	key4 := filepath.Join(tg.FernetKeyDirs[ks[1].Name], "4")
	if err := os.Remove(key4); err != nil {
		t.Fatal(err)
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	own, err := IssueToken(ctx, clients[ks[1].Name], urls[ks[1].Name], pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateToken(ctx, clients[ks[1].Name], urls[ks[1].Name], own, control); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("control: keystone02 without key 4 answered %v for a token signed with key 4; want 404 (else the checks above prove nothing)", err)
	}
	if out, code := run("agent", "--local-dir", dir, "--host", ks[1].Name); code != 0 {
		t.Fatalf("keystone02's repair run: exit %d\n%s", code, out)
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	if err := ValidateToken(ctx, clients[ks[1].Name], urls[ks[1].Name], own, control); err != nil {
		t.Errorf("control: after the repair keystone02 still refuses the token signed with key 4: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("validation load across %d rotations (%d scheduled, 1 forced): %d segments of 20 s, %d validations sent, %d ok, %d failed, per node %v; %d validations of tokens issued before a rotation",
		rotRotations+1, rotRotations, segments, total.Sent, total.OK, total.Failed, total.PerNode, oldChecks)
	if flushErr != nil {
		t.Errorf("memcached flush: %v", flushErr)
	}
	if total.Failed > 0 || total.OK == 0 || segments < 3 {
		t.Errorf("validation load: %d failed of %d (%s), %d segments; want none failed", total.Failed, total.Sent, total.FirstError, segments)
	}
	for _, h := range ks {
		if total.PerNode[h.Name] == 0 {
			t.Errorf("no validation load on %s", h.Name)
		}
	}
}

// memcachedFlush empties a memcached (flush_all over its text protocol on loopback).
func memcachedFlush(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("flush_all\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "OK" {
		return fmt.Errorf("flush_all: %q", line)
	}
	return nil
}

// rotationClient is an HTTPS client of Keystone node h verified against the project CA.
func rotationClient(t *testing.T, tg *target.Target, h inventory.Host) *http.Client {
	t.Helper()
	c, err := keystoneClient(func(h inventory.Host) (*tls.Config, error) {
		pool, err := pki.PoolFile(tg.CACert)
		return &tls.Config{RootCAs: pool, ServerName: h.FQDN}, err
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 30 * time.Second
	return c
}
