package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// TestDatabaseCertRenewalReloads is `cso certs renew` (RenewCerts) on a local target under a
// small database load: MariaDB's new certificate is loaded with FLUSH SSL, not a restart.
// Connections opened before the renewal keep their session (same connection id) and
// answer throughout; new connections, each verified against the project CA, see the new
// certificate once the agents' run is over; not one query fails, MariaDB keeps its pid, and
// Keystone, whose connection pool to the database stays open, issues tokens throughout.
func TestDatabaseCertRenewalReloads(t *testing.T) {
	ctx, o, l := renewalStack(t, "a renewal under load")
	sup := agent.Supervisor{RunDir: l.Paths(MySQLHost).Run}
	before, err := sup.State("mariadb")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := l.Secrets().Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.PoolFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		t.Fatal(err)
	}

	// Every TLS handshake with the database records the serial of the certificate served.
	var mu sync.Mutex
	var serials []string // in the order first seen
	tlsConf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			s := cs.PeerCertificates[0].SerialNumber.Text(16)
			mu.Lock()
			if len(serials) == 0 || serials[len(serials)-1] != s {
				serials = append(serials, s)
			}
			mu.Unlock()
			return nil
		}}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.Timeout = MySQLAdminUser, pw, "tcp", MySQLAddr(o.PortBase), 10*time.Second
	cfg.TLS = tlsConf
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	fresh := sql.OpenDB(connector) // no idle connection: every query dials and shakes hands
	fresh.SetMaxIdleConns(0)
	defer fresh.Close()

	// Three connections opened before the renewal, held throughout.
	const held = 3
	conns := make([]*sql.Conn, held)
	ids := make([]int64, held)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		if err := conns[i].QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	oldSerial := serials[len(serials)-1]
	mu.Unlock()

	ks := inventory.ByRole(o.Hosts(), envfile.RoleKeystone)[0]
	k := newKSAPI(t, l, ks)
	ksPW, err := l.Secrets().Get(ctx, agent.SecretKeystoneAdmin)
	if err != nil {
		t.Fatal(err)
	}

	var queries, failed, tokens, tokenFailed atomic.Int64
	var lastErr atomic.Value
	fail := func(what string, err error) {
		failed.Add(1)
		lastErr.Store(what + ": " + err.Error())
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pause := func() bool {
		select {
		case <-lctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
			return true
		}
	}
	for i, c := range conns {
		wg.Go(func() {
			for pause() {
				var id int64
				if err := c.QueryRowContext(lctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
					if lctx.Err() == nil {
						fail(fmt.Sprintf("held connection %d", i), err)
					}
					continue
				}
				if id != ids[i] {
					fail(fmt.Sprintf("held connection %d", i), fmt.Errorf("connection id %d, was %d: reconnected", id, ids[i]))
				}
				queries.Add(1)
			}
		})
	}
	wg.Go(func() {
		for pause() {
			var one int
			if err := fresh.QueryRowContext(lctx, "SELECT 1").Scan(&one); err != nil {
				if lctx.Err() == nil {
					fail("new connection", err)
				}
				continue
			}
			queries.Add(1)
		}
	})
	wg.Go(func() {
		for pause() {
			if _, err := IssueToken(lctx, k.c, k.base, ksPW); err != nil {
				if lctx.Err() == nil {
					tokenFailed.Add(1)
					lastErr.Store("keystone token: " + err.Error())
				}
				continue
			}
			tokens.Add(1)
		}
	})
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

	var out bytes.Buffer
	start := time.Now()
	res, err := RenewCerts(ctx, RenewOptions{Options: Options{Dir: o.Dir, HA: o.HA, PortBase: o.PortBase, Env: o.Env, Roles: o.Roles, Executable: o.Executable, Out: &out}})
	took := time.Since(start)
	if err != nil || res.Up == nil || res.Up.Failed() {
		t.Fatalf("renew: %v\n%s", err, out.String())
	}
	var newSerial string
	for _, r := range res.Renewed {
		if r.Host == MySQLHost {
			newSerial = r.Serial
		}
	}
	if newSerial == "" || newSerial == oldSerial {
		t.Fatalf("the database certificate was not renewed (renewed %+v)", res.Renewed)
	}
	time.Sleep(2 * time.Second) // load after the reload
	stop()

	t.Logf("renewal with the agents' run in %s; %d queries, %d failed; %d Keystone tokens, %d failed; serials served %v",
		took.Round(100*time.Millisecond), queries.Load(), failed.Load(), tokens.Load(), tokenFailed.Load(), serials)
	if n := failed.Load() + tokenFailed.Load(); n > 0 {
		t.Errorf("%d queries or token requests failed during the renewal; last: %v", n, lastErr.Load())
	}
	if queries.Load() < 20 || tokens.Load() < 2 {
		t.Errorf("only %d queries and %d tokens: the load did not run", queries.Load(), tokens.Load())
	}
	mu.Lock()
	last := serials[len(serials)-1]
	mu.Unlock()
	if last != newSerial {
		t.Errorf("new connections are served certificate %s after the renewal, want the new one %s", last, newSerial)
	}
	after, err := sup.State("mariadb")
	if err != nil || after.PID != before.PID || after.StartTicks != before.StartTicks {
		t.Errorf("MariaDB restarted (pid %d -> %d, %v): a renewal must reload it", before.PID, after.PID, err)
	}
	for i, c := range conns {
		var id int64
		var name, cipher string
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil || id != ids[i] {
			t.Errorf("held connection %d after the renewal: id %d (was %d), %v", i, id, ids[i], err)
		}
		if err := c.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
			t.Errorf("held connection %d: cipher %q, %v; want its TLS session kept", i, cipher, err)
		}
	}
}
