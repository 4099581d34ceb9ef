package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/userfile"
)

// dbUser is one service's database account (LLD 2.6.2).
type dbUser struct{ user, db, secret string }

var dbUsers = []dbUser{
	{"keystone", "keystone", secretKeystoneDB},
	{"cso_user", "cso_portal", secretPortalDB},
}

func (c *Checker) mysqlProbes() []Probe {
	if c.t.MySQL == "" {
		return []Probe{{Check: "mysql", Target: "mysql", Group: GroupMySQL,
			Run: func(context.Context) Outcome { return fail("the target description names no MySQL endpoint") }}}
	}
	host, portS, err := net.SplitHostPort(c.t.MySQL)
	port, _ := strconv.Atoi(portS)
	if err != nil {
		return []Probe{{Check: "mysql", Target: c.t.MySQL, Group: GroupMySQL,
			Run: func(context.Context) Outcome { return fail("mysql %q is not host:port: %v", c.t.MySQL, err) }}}
	}
	ps := []Probe{{Check: "tcp mysql", Target: c.t.MySQL, Group: GroupService, Run: c.tcpProbe(host, port)}}
	for _, u := range dbUsers {
		ps = append(ps, Probe{Check: "mysql user " + u.user, Target: c.t.MySQL + "/" + u.db, Group: GroupMySQL,
			Run: func(ctx context.Context) Outcome { return c.mysqlConnect(ctx, u) }})
	}
	return ps
}

// mysqlConnect logs in as u and asks the server version.
func (c *Checker) mysqlConnect(ctx context.Context, u dbUser) Outcome {
	pw, err := c.secret(ctx, u.secret)
	if err != nil {
		return fail("%v", err)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = u.user, pw, u.db
	cfg.Net, cfg.Addr = "tcp", c.t.MySQL
	cfg.Timeout = c.opts.Timeout
	tlsNote, err := c.mysqlTLS(cfg)
	if err != nil {
		return fail("%v", err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fail("%v", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			switch me.Number {
			case 1045:
				return fail("access denied for %s: the password in secret %s does not match the database (%s)", u.user, u.secret, me.Message)
			case 1044, 1049:
				return fail("%s cannot use database %s: %s", u.user, u.db, me.Message)
			}
		}
		return fail("connect as %s to %s/%s: %s", u.user, c.t.MySQL, u.db, strings.TrimPrefix(netErr(err), "dial tcp "))
	}
	if tlsNote == mysqlInsecureNote {
		return warn("%s connected to database %s; server %s%s", u.user, u.db, version, tlsNote)
	}
	return ok("%s connected to database %s; server %s%s", u.user, u.db, version, tlsNote)
}

// LoadCABundle reads a PEM bundle of CA certificates (a regular file of at most
// target.MaxCertFileSize) into a pool; `cso check --mysql-ca` checks its flag with it
// before anything runs.
func LoadCABundle(path string) (*x509.CertPool, error) {
	pem, err := userfile.Read(path, target.MaxCertFileSize)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate: expected a bundle such as the RDS global-bundle.pem", userfile.Escape(path))
	}
	return pool, nil
}

// mysqlTLS sets the connection's TLS: the database is always reached over TLS (RDS and the
// local MariaDB both require it) and its certificate verified, with the agents' own code
// (agent.MySQLServer), for the host part of the target's mysql address: against mysql_ca
// (the RDS CA bundle; `cso check --mysql-ca`), or on the local target against the project
// CA, which signs the local MariaDB's certificate. Without a CA the probe cannot verify and
// fails saying so, unless Options.MySQLInsecure: then it connects unverified and the
// result says so (a warning, never ok).
func (c *Checker) mysqlTLS(cfg *mysql.Config) (note string, err error) {
	caFile := c.t.MySQLCA
	if caFile == "" && c.t.Kind != target.KindAWS {
		caFile = c.t.CACert
	}
	if caFile == "" {
		if !c.opts.MySQLInsecure {
			return "", errors.New("cannot verify the database's certificate: no CA bundle (mysql_ca in the target, or cso check --mysql-ca with the RDS bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); --mysql-insecure connects without verifying")
		}
		host, _, _ := net.SplitHostPort(c.t.MySQL)
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host,
			InsecureSkipVerify: true} //nolint:gosec // the operator asked (--mysql-insecure); reported as a warning
		return mysqlInsecureNote, nil
	}
	if _, err := LoadCABundle(caFile); err != nil {
		return "", fmt.Errorf("mysql_ca: %w (give the RDS CA bundle with cso check --mysql-ca FILE)", err)
	}
	tc, err := agent.MySQLServer{Addr: c.t.MySQL, CAFile: caFile}.TLSConfig()
	if err != nil {
		return "", err
	}
	cfg.TLS = tc
	return " (TLS, verified)", nil
}

// mysqlInsecureNote marks a login whose server certificate was not verified.
const mysqlInsecureNote = " (TLS; server certificate NOT verified: --mysql-insecure)"
