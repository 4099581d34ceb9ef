package agent

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// OpenMySQL opens a connection pool to addr (host:port, or an absolute unix socket path)
// as user. The password travels in the driver's configuration, never in a DSN string
// that could be logged.
func OpenMySQL(addr, user, password, database string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = user, password, database
	if strings.HasPrefix(addr, "/") {
		cfg.Net, cfg.Addr = "unix", addr
	} else {
		cfg.Net, cfg.Addr = "tcp", addr
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

// MySQLLogin reports whether user can log in to addr with password.
func MySQLLogin(ctx context.Context, addr, user, password string) error {
	db, err := OpenMySQL(addr, user, password, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// WaitMySQL waits (bounded, with progress) until addr accepts a login of user.
func WaitMySQL(ctx context.Context, rt *Runtime, addr, user, password string, timeout time.Duration) error {
	return WaitFor(ctx, rt, "database "+addr+" (user "+user+")", timeout, func(ctx context.Context) error {
		return MySQLLogin(ctx, addr, user, password)
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
