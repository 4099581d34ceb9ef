package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
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

	"github.com/go-sql-driver/mysql"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/bench"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/keystoneapi"
	"github.com/cso-ssp/platform/internal/local/localtest"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/target"
)

// These tests run real daemons (MariaDB, Apache mod_wsgi with Keystone) on 127.0.0.1 at
// ports shifted by CSO_LOCAL_TEST_PORT_BASE (default 1000).

func testPortBase() int {
	if v, err := strconv.Atoi(os.Getenv("CSO_LOCAL_TEST_PORT_BASE")); err == nil {
		return v
	}
	return 1000
}

func requireDaemons(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the local target runs daemons as their own users: run the tests as root")
	}
	for _, bin := range []string{"/usr/sbin/mariadbd", "mariadb-install-db", "/usr/sbin/apache2", "keystone-manage", "/usr/bin/memcached"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: run scripts/install-deps.sh --runtime", bin)
			}
			t.Skipf("%s is missing: run scripts/install-deps.sh --runtime", bin)
		}
	}
}

// tempDir is a temporary directory the daemons' users can reach (t.TempDir is 0700) with
// a short path: t.TempDir's carries the test's name, and mod_wsgi's sockets under
// hosts/keystone01/run/keystone-httpd must stay within the 107 bytes of a Unix socket path.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cso-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func testEnv(t *testing.T) *envfile.Env {
	t.Helper()
	env, err := envfile.Load("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func ksRoles() map[envfile.Role]func() agent.Role {
	return map[envfile.Role]func() agent.Role{envfile.RoleJump: jump.New, envfile.RoleKeystone: keystone.New}
}

func TestDryRunOnFreshTargetTouchesNothing(t *testing.T) {
	requireDaemons(t)
	dir := filepath.Join(tempDir(t), "fresh")
	var out bytes.Buffer
	res, err := Up(context.Background(), Options{Dir: dir, HA: true, PortBase: testPortBase(), Env: testEnv(t), Out: &out, Roles: ksRoles(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed {
		t.Fatal("a dry run on a fresh target lists no change")
	}
	for _, h := range res.Hosts {
		if h.Error != "" {
			t.Errorf("%s: %s", h.Host, h.Error)
		}
		if h.Skipped == "" && len(h.Changed) == 0 {
			t.Errorf("%s: no change listed on a fresh host", h.Host)
		}
	}
	if !strings.Contains(out.String(), "would create root CA") || !strings.Contains(out.String(), "keystone-manage db_sync") {
		t.Errorf("dry-run output does not list the changes:\n%s\n%+v", out.String(), res.Hosts)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("a dry run created %s", dir)
	}
}

// TestJumpAndKeystoneHA converges the jump host and two Keystone nodes from nothing and
// proves what issue #4 asks of them. The stack is the shared HA pair: its cold up (no host
// error, no failed health check) is asserted by whichever test brings it up first, this one
// when it runs alone; after the tests before it, it must be whole again.
func TestJumpAndKeystoneHA(t *testing.T) {
	requireDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o, _, cold := upShared(t, ctx, sharedHAKeystone, false)
	dir := o.Dir
	if !cold {
		t.Log("the shared HA pair was brought up from nothing by an earlier test of the package")
	}
	l, _ := NewLayout(dir)
	hosts := o.Hosts()
	ks := inventory.ByRole(hosts, envfile.RoleKeystone)
	secrets := l.Secrets()

	t.Run("keystone answers over TLS at / and /api/idm", func(t *testing.T) {
		pool, err := pki.PoolFile(pki.Store{Dir: l.SSLCerts()}.CACert())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range ks {
			for _, path := range []string{"/v3", "/api/idm/v3"} {
				c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: h.FQDN}}}
				resp, err := c.Get("https://127.0.0.1:" + strconv.Itoa(h.Ports[inventory.PortKeystone]) + path)
				if err != nil {
					t.Fatalf("%s %s: %v", h.Name, path, err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("%s %s: %s", h.Name, path, resp.Status)
				}
				if resp.Header.Get("Server") != "Apache" || resp.Header.Get("Strict-Transport-Security") == "" {
					t.Errorf("%s: banner %q, HSTS %q: want ServerTokens Prod and HSTS", h.Name, resp.Header.Get("Server"), resp.Header.Get("Strict-Transport-Security"))
				}
				if resp.TLS.Version < tls.VersionTLS12 {
					t.Errorf("%s: TLS version %x", h.Name, resp.TLS.Version)
				}
			}
			// TLS 1.1 is refused.
			conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(h.Ports[inventory.PortKeystone]), &tls.Config{RootCAs: pool, ServerName: h.FQDN, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
			if err == nil {
				conn.Close()
				t.Errorf("%s accepted TLS 1.1", h.Name)
			}
		}
	})

	// conf is a client's TLS configuration for Keystone node h: the project CA, h's name.
	conf := func(h inventory.Host) (*tls.Config, error) {
		pool, err := pki.PoolFile(pki.Store{Dir: l.SSLCerts()}.CACert())
		return &tls.Config{RootCAs: pool, ServerName: h.FQDN}, err
	}
	t.Run("tokens cross-validate between the nodes", func(t *testing.T) {
		pw, err := secrets.Get(ctx, agent.SecretKeystoneAdmin)
		if err != nil {
			t.Fatal(err)
		}
		tok := map[string]string{}
		cl := map[string]*http.Client{}
		base := map[string]string{}
		for _, h := range ks {
			cl[h.Name], _ = keystoneClient(conf, h)
			base[h.Name] = "https://" + h.FQDN + ":" + strconv.Itoa(h.Ports[inventory.PortKeystone])
			if tok[h.Name], err = IssueToken(ctx, cl[h.Name], base[h.Name], pw); err != nil {
				t.Fatalf("issue on %s: %v", h.Name, err)
			}
		}
		a, b := ks[0].Name, ks[1].Name
		if err := ValidateToken(ctx, cl[b], base[b], tok[b], tok[a]); err != nil {
			t.Errorf("token of %s on %s: %v", a, b, err)
		}
		if err := ValidateToken(ctx, cl[a], base[a], tok[a], tok[b]); err != nil {
			t.Errorf("token of %s on %s: %v", b, a, err)
		}
		if err := ValidateToken(ctx, cl[a], base[a], tok[a], tok[b][:len(tok[b])-4]+"AAAA"); err == nil {
			t.Error("a forged token validated")
		}
		for _, kind := range []string{"fernet-keys", "credential-keys"} {
			k1, _ := readKeySet(filepath.Join(l.Paths(a).Etc, "keystone", kind))
			k2, _ := readKeySet(filepath.Join(l.Paths(b).Etc, "keystone", kind))
			if len(k1) == 0 || !equalSets(k1, k2) {
				t.Errorf("%s differ between %s (%d keys) and %s (%d keys)", kind, a, len(k1), b, len(k2))
			}
		}
	})

	t.Run("each node's memcached answers and keystone.conf names the pool of both", func(t *testing.T) {
		var pool []string
		for _, h := range ks {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Ports[inventory.PortMemcached]))
			if err := keystone.MemcachedVersion(ctx, addr); err != nil {
				t.Errorf("%s memcached: %v", h.Name, err)
			}
			pool = append(pool, addr)
		}
		for _, h := range ks {
			conf, err := os.ReadFile(filepath.Join(l.Paths(h.Name).Etc, "keystone", "keystone.conf"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(conf), "memcache_servers = "+strings.Join(pool, ",")+"\n") {
				t.Errorf("%s keystone.conf does not name the pool %v", h.Name, pool)
			}
		}
	})

	// The reason for one pool (docs/decisions/roles.md): a token revoked on one node stops
	// validating on both at once, although both have its validation and its revocation check
	// cached. Revocation checks come from the cache (keystone.revocationCachePy), so
	// validating a cached token asks MariaDB nothing; the revoke region's invalidation makes
	// the next validation after the DELETE answer 404 on either node: the bound is zero.
	t.Run("a revocation on one node is seen at once by both nodes' caches", func(t *testing.T) {
		pw, err := secrets.Get(ctx, agent.SecretKeystoneAdmin)
		if err != nil {
			t.Fatal(err)
		}
		dbPW, err := secrets.Get(ctx, agent.SecretKeystoneDB)
		if err != nil {
			t.Fatal(err)
		}
		db, err := agent.OpenMySQL(agent.MySQLServer{Addr: l.MariaDBSocket()}, "keystone", dbPW, "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		questions := func() int {
			var name string
			var n int
			if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		a, b := ks[0], ks[1]
		ca, _ := keystoneClient(conf, a)
		cb, _ := keystoneClient(conf, b)
		baseA := "https://" + a.FQDN + ":" + strconv.Itoa(a.Ports[inventory.PortKeystone])
		baseB := "https://" + b.FQDN + ":" + strconv.Itoa(b.Ports[inventory.PortKeystone])
		ownA, err := IssueToken(ctx, ca, baseA, pw)
		if err != nil {
			t.Fatal(err)
		}
		ownB, err := IssueToken(ctx, cb, baseB, pw)
		if err != nil {
			t.Fatal(err)
		}
		subject, err := IssueToken(ctx, ca, baseA, pw)
		if err != nil {
			t.Fatal(err)
		}
		validate := func(c *http.Client, base, own string) error { return ValidateToken(ctx, c, base, own, subject) }
		is404 := func(err error) bool {
			var se *keystoneapi.StatusError
			return errors.As(err, &se) && se.Status == http.StatusNotFound
		}
		for range 3 { // cached on both now
			if err := validate(ca, baseA, ownA); err != nil {
				t.Fatalf("before the revocation on %s: %v", a.Name, err)
			}
			if err := validate(cb, baseB, ownB); err != nil {
				t.Fatalf("before the revocation on %s: %v", b.Name, err)
			}
		}
		// Uncached, each validation runs 3 revocation queries, each with oslo.db's SELECT 1
		// and two ROLLBACKs: 12 statements. Cached: none (the SHOW below is 1).
		const n = 30
		q0 := questions()
		for i := range n {
			c, base, own := ca, baseA, ownA
			if i%2 == 1 {
				c, base, own = cb, baseB, ownB
			}
			if err := validate(c, base, own); err != nil {
				t.Fatal(err)
			}
		}
		if q := questions() - q0; q >= n {
			t.Errorf("%d validations of cached tokens made %d MariaDB statements: revocation checks are not cached", n, q)
		}
		revokeOnA := func(token string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, baseA+"/v3/auth/tokens", nil)
			req.Header.Set("X-Auth-Token", ownA)
			req.Header.Set("X-Subject-Token", token)
			resp, err := ca.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("revoke on %s: %s", a.Name, resp.Status)
			}
		}
		revokeOnA(subject)
		if err := validate(cb, baseB, ownB); !is404(err) {
			t.Errorf("%s: a token %s revoked: %v, want 404", b.Name, a.Name, err)
		}
		if err := validate(ca, baseA, ownA); !is404(err) {
			t.Errorf("%s: a token it revoked: %v, want 404", a.Name, err)
		}
		// Only the revoked token: the callers' own tokens still validate on both nodes.
		if err := ValidateToken(ctx, cb, baseB, ownB, ownA); err != nil {
			t.Errorf("%s: an unrevoked token after the revocation: %v", b.Name, err)
		}
		if err := ValidateToken(ctx, ca, baseA, ownA, ownB); err != nil {
			t.Errorf("%s: an unrevoked token after the revocation: %v", a.Name, err)
		}

		// A caller's own token (X-Auth-Token) revoked on one node authenticates nothing on the
		// other from the next request on: Keystone validates it before it makes the request's
		// context, and must not read the cache as the previous request saw it
		// (docs/decisions/roles.md "Keystone per-request scope").
		caller, err := IssueToken(ctx, ca, baseA, pw)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := ValidateToken(ctx, cb, baseB, caller, ownB); err != nil {
				t.Fatalf("%s: a caller's token before its revocation: %v", b.Name, err)
			}
		}
		revokeOnA(caller)
		is401 := func(err error) bool {
			var se *keystoneapi.StatusError
			return errors.As(err, &se) && se.Status == http.StatusUnauthorized
		}
		if err := ValidateToken(ctx, cb, baseB, caller, ownB); !is401(err) {
			t.Errorf("%s: the next request with a caller's token %s revoked: %v, want 401", b.Name, a.Name, err)
		}
		if err := ValidateToken(ctx, ca, baseA, caller, ownA); !is401(err) {
			t.Errorf("%s: a request with a caller's token it revoked: %v, want 401", a.Name, err)
		}
	})

	// The load tool against the real pair: its counts, never its timing.
	t.Run("cso bench keystone counts every request on both nodes", func(t *testing.T) {
		tg, err := target.Load(l.TargetFile())
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := bench.KeystoneNodes(tg)
		if err != nil {
			t.Fatal(err)
		}
		pw, err := secrets.Get(ctx, agent.SecretKeystoneAdmin)
		if err != nil {
			t.Fatal(err)
		}
		o := bench.KeystoneOptions{Op: bench.OpValidate, Clients: 4, Requests: 120, Duration: 5 * time.Minute,
			User: "admin", Project: "admin", Domain: "Default", Password: pw}
		res, err := bench.Keystone(ctx, tg, nodes, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 120 || res.OK != 120 || res.Failed != 0 || res.ByStatus["200"] != 120 ||
			res.PerNode[ks[0].Name] != 60 || res.PerNode[ks[1].Name] != 60 {
			t.Errorf("validate: %+v", res)
		}
		o.Op, o.Requests, o.Clients = bench.OpIssue, 6, 2
		res, err = bench.Keystone(ctx, tg, nodes, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 6 || res.OK != 6 || res.ByStatus["201"] != 6 || res.PerNode[ks[0].Name] != 3 {
			t.Errorf("issue: %+v", res)
		}
	})

	t.Run("database users log in with their secrets and hold only their database", func(t *testing.T) {
		for _, u := range jump.DBUsers {
			pw, err := secrets.Get(ctx, u.Secret)
			if err != nil {
				t.Fatal(err)
			}
			for _, srv := range []agent.MySQLServer{l.MySQLServer(o.PortBase), {Addr: l.MariaDBSocket()}} {
				if err := agent.MySQLLogin(ctx, srv, u.User, pw); err != nil {
					t.Errorf("%s at %s: %v", u.User, srv.Addr, err)
				}
				if err := agent.MySQLLogin(ctx, srv, u.User, pw+"x"); err == nil {
					t.Errorf("%s logged in with a wrong password", u.User)
				}
			}
			// As RDS with require_secure_transport = 1: no TCP login without TLS.
			plainCfg := mysql.NewConfig()
			plainCfg.User, plainCfg.Passwd, plainCfg.Net, plainCfg.Addr, plainCfg.Timeout = u.User, pw, "tcp", MySQLAddr(o.PortBase), 10*time.Second
			if conn, err := mysql.NewConnector(plainCfg); err != nil {
				t.Fatal(err)
			} else if plain := sql.OpenDB(conn); plain.PingContext(ctx) == nil {
				t.Errorf("%s logged in over TCP without TLS", u.User)
				plain.Close()
			} else {
				plain.Close()
			}
			db, err := agent.OpenMySQL(l.MySQLServer(o.PortBase), u.User, pw, "")
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx, "SHOW GRANTS")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var g string
				rows.Scan(&g)
				g = strings.ReplaceAll(g, "`", "")
				if !strings.HasPrefix(g, "GRANT USAGE ON *.*") && !strings.HasPrefix(g, "GRANT ALL PRIVILEGES ON "+u.Database+".*") {
					t.Errorf("%s holds more than its database: %s", u.User, g)
				}
				if strings.Contains(g, "WITH GRANT OPTION") {
					t.Errorf("%s may grant: %s", u.User, g)
				}
			}
			rows.Close()
			db.Close()
		}
	})

	t.Run("key material is where it must be and nowhere else", func(t *testing.T) {
		store := pki.Store{Dir: l.SSLCerts()}
		for _, h := range hosts {
			st, err := os.Stat(store.ServerKey(h.Name))
			if err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("%s server key: %v %v, want 0640", h.Name, err, st)
			}
		}
		if st, err := os.Stat(jump.CAKeyPath(l.Paths("jump-server-1"))); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("CA key: %v, want 0600 on the jump host", err)
		}
		filepath.WalkDir(l.SSLCerts(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "ca.key" {
				t.Errorf("CA key in the shared store: %s", p)
			}
			return nil
		})
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		var out bytes.Buffer
		o2 := o
		o2.Out = &out
		start := time.Now()
		res, err := Up(ctx, o2)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("no-op re-up in %s", time.Since(start).Round(10*time.Millisecond))
		for _, h := range res.Hosts {
			if len(h.Changed) > 0 || h.Error != "" {
				t.Errorf("%s changed %v (error %q) on a converged host", h.Host, h.Changed, h.Error)
			}
		}
		o2.DryRun = true
		res, err = Up(ctx, o2)
		if err != nil || res.Changed {
			t.Errorf("dry run on a converged target: changed=%v err=%v", res.Changed, err)
		}
	})

	t.Run("no secret in logs, argument lists or other files", func(t *testing.T) {
		localtest.AssertNoSecretLeak(t, l.Dir, map[string]bool{
			l.AdminRC(): true,
			filepath.Join(l.Paths("keystone01").Etc, "keystone", "keystone.conf"): true,
			filepath.Join(l.Paths("keystone02").Etc, "keystone", "keystone.conf"): true,
		})
	})
}

func readKeySet(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		m[e.Name()] = string(b)
	}
	return m, nil
}

func equalSets(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInterruptedUpConverges interrupts `up` part-way (while the database, keys and Apache
// come up) and proves that the next run converges.
func TestInterruptedUpConverges(t *testing.T) {
	requireDaemons(t)
	ownStack(t)
	dir := filepath.Join(tempDir(t), "interrupted")
	env := testEnv(t)
	o := Options{Dir: dir, PortBase: testPortBase(), Env: env, Roles: ksRoles(), Executable: csoBinary(t)}
	downOnCleanup(t, dir)
	var out bytes.Buffer
	o.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), interruptAfter())
	res, err := Up(ctx, o)
	cancel()
	if err == nil && !res.Failed() {
		t.Log("the first run finished before the interruption; the second run must still change nothing")
	}
	out.Reset()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel2()
	res, err = Up(ctx2, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		for _, h := range res.Hosts {
			if h.Error != "" {
				t.Errorf("%s: %s", h.Host, h.Error)
			}
		}
		for _, r := range healthResults(res.Health) {
			if r.Status == check.Fail {
				t.Errorf("health %s %s: %s", r.Check, r.Target, r.Detail)
			}
		}
		t.Fatalf("the run after an interrupted one did not converge:\n%s", out.String())
	}
}

// interruptAfter is when TestInterruptedUpConverges interrupts the first run
// ($CSO_LOCAL_TEST_INTERRUPT, default 5s: Keystone's schema and Apache are coming up).
func interruptAfter() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CSO_LOCAL_TEST_INTERRUPT")); err == nil {
		return d
	}
	return 5 * time.Second
}

// healthResults are the closing check's results (none when it did not run).
func healthResults(r *check.Report) []check.Result {
	if r == nil {
		return nil
	}
	return r.Results
}

// keystoneClient is an HTTPS client of Keystone node h: the address is its loopback port,
// the TLS name its FQDN.
func keystoneClient(conf func(inventory.Host) (*tls.Config, error), h inventory.Host) (*http.Client, error) {
	c, err := conf(h)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", h.Ports[inventory.PortKeystone])
	tr := &http.Transport{
		TLSClientConfig: c,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr}, nil
}

var (
	csoOnce sync.Once
	csoPath string
	csoErr  error
)

// csoBinary builds the cso binary once per test run: the jump role runs the admin
// dashboard from it (a test binary is not one), and up's closing check probes the
// dashboard as `cso check` does.
func csoBinary(t *testing.T) string {
	t.Helper()
	csoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cso-local-bin-")
		if err != nil {
			csoErr = err
			return
		}
		// The daemons' users need not run it, but the supervisor's children must reach it.
		_ = os.Chmod(dir, 0o755)
		csoPath = filepath.Join(dir, "cso")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", csoPath, "./cmd/cso")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			csoErr = fmt.Errorf("go build ./cmd/cso: %v\n%s", err, out)
		}
	})
	if csoErr != nil {
		t.Fatal(csoErr)
	}
	return csoPath
}
