package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"io"
	"net"
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

// The stand-in serves TLS with the certificate it is given: a client that trusts the
// test CA verifies it for 127.0.0.1, one that trusts another CA is refused, and a client
// without TLS still gets in (require_secure_transport OFF, RDS's default).
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
		MySQL: addr, MySQLAdminUser: MySQLAdminUser,
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

	query := func(roots []byte) (cipher string, err error) {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.Timeout = MySQLAdminUser, pw, "tcp", addr, 10*time.Second
		if roots != nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(roots)
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1", RootCAs: pool}
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return "", err
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		var name string
		err = db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher)
		return cipher, err
	}
	if cipher, err := query(caPEM); err != nil || cipher == "" {
		t.Errorf("TLS verified against the test CA: cipher %q, %v", cipher, err)
	}
	if _, err := query(otherPEM); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS verified against another CA: %v, want a certificate error", err)
	}
	if cipher, err := query(nil); err != nil || cipher != "" {
		t.Errorf("without TLS: cipher %q, %v; want a plain connection (require_secure_transport OFF)", cipher, err)
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
