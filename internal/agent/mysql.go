package agent

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLServer is how a client reaches the database server and knows it is the one: a TCP
// connection always uses TLS and verifies the server's certificate against CAFile (the RDS
// CA bundle on AWS, the project CA on the local target) for the host part of Addr (the RDS
// endpoint, whose name the RDS certificate carries; 127.0.0.1 locally). There is no
// unverified mode: a client without a CA refuses to connect.
type MySQLServer struct {
	Addr   string // host:port, or an absolute unix socket path (the local MariaDB's own socket)
	CAFile string // PEM bundle that signs the server's certificate
}

// Database is the runtime's database server.
func (rt *Runtime) Database() MySQLServer {
	return MySQLServer{Addr: rt.MySQL, CAFile: rt.MySQLCAFile}
}

// maxCABundle bounds the CA bundle read (the RDS global bundle is about 160 KiB).
const maxCABundle = 4 << 20

// TLSConfig is the verified TLS configuration of a TCP connection to s.
func (s MySQLServer) TLSConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, fmt.Errorf("database %q is not host:port: %w", s.Addr, err)
	}
	if s.CAFile == "" {
		return nil, fmt.Errorf("database %s: no CA bundle to verify its certificate with (the RDS CA bundle on AWS, the project CA locally): refusing an unverified connection", s.Addr)
	}
	f, err := os.Open(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("database %s: CA bundle: %w", s.Addr, err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCABundle+1))
	if err != nil {
		return nil, fmt.Errorf("database %s: CA bundle %s: %w", s.Addr, s.CAFile, err)
	}
	pool := x509.NewCertPool()
	if len(pem) > maxCABundle || !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("database %s: CA bundle %s holds no PEM certificate (or is over %d bytes)", s.Addr, s.CAFile, maxCABundle)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: host}, nil
}

// OpenMySQL opens a connection pool to s as user. The password travels in the driver's
// configuration, never in a DSN string that could be logged.
func OpenMySQL(s MySQLServer, user, password, database string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = user, password, database
	if strings.HasPrefix(s.Addr, "/") {
		cfg.Net, cfg.Addr = "unix", s.Addr
	} else {
		tc, err := s.TLSConfig()
		if err != nil {
			return nil, err
		}
		cfg.Net, cfg.Addr, cfg.TLS = "tcp", s.Addr, tc
	}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 60*time.Second, 60*time.Second
	cfg.InterpolateParams = true // CREATE USER ... IDENTIFIED BY ? is not preparable
	cfg.AllowNativePasswords = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(30 * time.Second)
	return db, nil
}

// MySQLLogin reports whether user can log in to s with password.
func MySQLLogin(ctx context.Context, s MySQLServer, user, password string) error {
	db, err := OpenMySQL(s, user, password, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// WaitMySQL waits (bounded, with progress) until s accepts a login of user.
func WaitMySQL(ctx context.Context, rt *Runtime, s MySQLServer, user, password string, timeout time.Duration) error {
	return WaitFor(ctx, rt, "database "+s.Addr+" (user "+user+")", timeout, func(ctx context.Context) error {
		return MySQLLogin(ctx, s, user, password)
	})
}

// NativePasswordHash is MySQL's mysql_native_password hash of password, as stored in
// mysql.user: "*" and the upper-case hex of SHA1(SHA1(password)).
func NativePasswordHash(password string) string {
	a := sha1.Sum([]byte(password))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// QuoteIdent quotes a MySQL identifier.
func QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// QuoteAccount quotes 'user'@'host' for account statements (names here are ours, never
// user input; quotes are doubled all the same).
func QuoteAccount(user, host string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return fmt.Sprintf("%s@%s", q(user), q(host))
}
