package local

import (
	"context"
	"database/sql"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
)

func TestDatabaseWithTLSNeedsAllMaterial(t *testing.T) {
	l, err := NewLayout(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rt := &agent.Runtime{Paths: l.Paths(MySQLHost), Platform: l.Platform(MySQLHost)}
	_, err = DatabaseWithTLS(3306, DatabaseTLS{CertPEM: []byte("x"), CAPEM: []byte("y")}).Steps(rt)
	if err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("Steps with no key: %v, want an error naming the key", err)
	}
}

// The stand-in serves TLS with the certificate it is given and requires it, as RDS with
// the platform's parameter group does: the agent's client (agent.MySQLServer) verifies it
// against the test CA for 127.0.0.1; the same client trusting another CA, or dialling a
// name the certificate does not carry (localhost), is refused; a client without TLS is
// refused by the server (require_secure_transport), and one without a CA refuses itself.
func TestDatabaseWithTLSServesVerifiableTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	requireDaemons(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Skip("the mariadb client is missing")
	}
	root := tempDir(t)
	now := time.Now()
	caPEM, caKey, err := pki.NewCA("dbtls", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.ServerSpec{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, now)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _, err := pki.NewCA("other", now)
	if err != nil {
		t.Fatal(err)
	}
	caFile, otherFile := filepath.Join(root, "ca.pem"), filepath.Join(root, "other.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherFile, otherPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := NewLayout(root)
	if err != nil {
		t.Fatal(err)
	}
	secrets := &agent.LocalSecrets{Dir: filepath.Join(root, "secrets")}
	rt := &agent.Runtime{
		Env: testEnv(t), Host: inventory.Host{Name: MySQLHost, Role: RoleDatabase, Index: 1, Address: "127.0.0.1"},
		Paths: l.Paths(MySQLHost), Platform: l.Platform(MySQLHost), Secrets: secrets,
		MySQL: addr, MySQLAdminUser: MySQLAdminUser, MySQLCAFile: caFile,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := Down(dctx, root, false, io.Discard); err != nil {
			t.Logf("stop MariaDB: %v", err)
		}
	})
	if _, err := agent.Run(ctx, rt, DatabaseWithTLS(port, DatabaseTLS{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM}),
		status.Dir{Path: filepath.Join(root, "status")}); err != nil {
		t.Fatal(err)
	}
	pw, err := secrets.Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		t.Fatal(err)
	}

	// The agent's client: verified TLS, and the session says it is encrypted.
	db, err := agent.OpenMySQL(rt.Database(), MySQLAdminUser, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
		t.Errorf("agent client against the test CA: cipher %q, %v; want a verified TLS session", cipher, err)
	}
	if err := agent.MySQLLogin(ctx, agent.MySQLServer{Addr: addr, CAFile: otherFile}, MySQLAdminUser, pw); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("agent client trusting another CA: %v, want a certificate error", err)
	}
	localhost := net.JoinHostPort("localhost", strconv.Itoa(port))
	if err := agent.MySQLLogin(ctx, agent.MySQLServer{Addr: localhost, CAFile: caFile}, MySQLAdminUser, pw); err == nil || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("agent client dialling a name the certificate lacks: %v, want a host name error", err)
	}
	if err := agent.MySQLLogin(ctx, agent.MySQLServer{Addr: addr}, MySQLAdminUser, pw); err == nil || !strings.Contains(err.Error(), "no CA bundle") {
		t.Errorf("agent client without a CA: %v, want a refusal to connect unverified", err)
	}

	// A client without TLS: the server refuses it (require_secure_transport).
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.Timeout = MySQLAdminUser, pw, "tcp", addr, 10*time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain := sql.OpenDB(conn)
	defer plain.Close()
	if err := plain.PingContext(ctx); err == nil {
		t.Error("a plain TCP connection was accepted; want it refused (require_secure_transport)")
	} else {
		t.Logf("plain connection refused: %v", err)
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
