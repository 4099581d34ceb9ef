package local

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/jump"
)

// RoleDatabase is the pseudo-role of the local MariaDB (RDS on AWS).
const RoleDatabase envfile.Role = "database"

// mariaDB runs MariaDB as the RDS stand-in: its own datadir, socket and port, bound to
// 127.0.0.1, in the foreground under the supervisor, with an administrative user whose
// password is a generated secret. It always serves TLS and refuses TCP connections without
// it (--require-secure-transport, as RDS with the platform's parameter group): with tls
// the material given, else (store) the certificate the local jump host's project CA
// issues for it in the shared certificate store.
type mariaDB struct {
	port  int
	tls   *DatabaseTLS
	store string // the shared certificate store (pki.Store) when tls is nil
}

// DatabaseTLS is the TLS material the local MariaDB serves, in PEM: its server certificate
// (naming the address clients dial), the certificate's key and the CA that signed it.
type DatabaseTLS struct{ CertPEM, KeyPEM, CAPEM []byte }

func (mariaDB) Role() envfile.Role { return RoleDatabase }

// Database is the role of the local MariaDB on port: the RDS stand-in of `cso local up`,
// serving the certificate that the project CA issues for it in store (the jump host's
// work; this role waits for it). Its admin password is the runtime's SecretMySQLAdmin.
func Database(port int, store pki.Store) agent.Role { return mariaDB{port: port, store: store.Dir} }

// DatabaseWithTLS is the local MariaDB serving the TLS material tls, as RDS does: tests that
// rehearse an AWS deploy give it a certificate of their own CA (the RDS CA bundle's part).
// Like RDS with the platform's parameter group (require_secure_transport = 1), it refuses
// a TCP connection without TLS (docs/decisions/roles.md).
func DatabaseWithTLS(port int, tls DatabaseTLS) agent.Role { return mariaDB{port: port, tls: &tls} }

// DatabaseCertWait bounds the wait for the database's certificate from the jump host (it
// first generates the RSA 4096 CA).
const DatabaseCertWait = 10 * time.Minute

func (m mariaDB) datadir(p agent.Paths) string { return filepath.Join(p.Data, "mysql") }
func (m mariaDB) socket(p agent.Paths) string  { return filepath.Join(p.Run, "mysqld.sock") }
func (m mariaDB) tlsDir(p agent.Paths) string  { return filepath.Join(p.Etc, "mysql", "ssl") }

// tlsFiles are the server's copies of its TLS material (mariadbd reads them as mysql).
func (m mariaDB) tlsFiles(p agent.Paths) (cert, key, ca string) {
	d := m.tlsDir(p)
	return filepath.Join(d, "server-cert.pem"), filepath.Join(d, "server-key.pem"), filepath.Join(d, "ca.pem")
}

// MariaDBSocket is the unix socket of the local MariaDB.
func (l Layout) MariaDBSocket() string { return mariaDB{}.socket(l.Paths(MySQLHost)) }

func (m mariaDB) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	p := rt.Paths
	data := m.datadir(p)
	tlsTasks, err := m.tlsTasks(p)
	if err != nil {
		return nil, err
	}
	return []agent.Step{
		{Name: "layout", Tasks: []agent.Task{
			agent.Dir{Path: p.Root, Mode: 0o755},
			agent.Dir{Path: p.Data, Mode: 0o755},
			agent.Dir{Path: data, Mode: 0o750, Owner: "mysql", Group: "mysql"},
			agent.Dir{Path: p.Log, Mode: 0o750, Owner: "mysql", Group: "mysql"},
		}},
		{Name: "tls", Tasks: tlsTasks},
		{Name: "install-db", Tasks: []agent.Task{installDBTask(data)}},
		{Name: "service", Tasks: []agent.Task{rt.Platform.Service(m.serviceSpec(p))}},
		{Name: "admin-user", Tasks: []agent.Task{m.adminTask()}},
	}, nil
}

// serviceSpec is mariadbd under the platform's supervisor: TLS always, and a TCP connection
// without it refused (RDS's require_secure_transport = 1); the unix socket counts as secure
// transport in MariaDB, so the root login over the socket (adminTask) still works.
func (m mariaDB) serviceSpec(p agent.Paths) agent.ServiceSpec {
	cert, key, ca := m.tlsFiles(p)
	return agent.ServiceSpec{
		Name: "mariadb",
		// mariadbd logs to --log-error, not syslog (the --skip-syslog of mysqld_safe is not
		// an option of the server itself).
		Command: []string{"/usr/sbin/mariadbd", "--no-defaults",
			"--datadir=" + m.datadir(p), "--socket=" + m.socket(p), "--port=" + fmt.Sprint(m.port),
			"--bind-address=127.0.0.1", "--skip-name-resolve", "--user=mysql",
			"--pid-file=" + filepath.Join(p.Run, "mysqld.pid"),
			"--log-error=" + filepath.Join(p.Log, "mariadb.log"),
			"--skip-log-bin", "--innodb-buffer-pool-size=128M", "--max-connections=300",
			"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
			"--ssl-cert=" + cert, "--ssl-key=" + key, "--ssl-ca=" + ca, "--require-secure-transport=ON"},
		Ready: func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", m.socket(p))
			if err != nil {
				return err
			}
			c.Close()
			c, err = d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", m.port))
			if err != nil {
				return err
			}
			return c.Close()
		},
		ReadyTimeout: 60 * time.Second,
		StopTimeout:  30 * time.Second,
		// Socket and pid file: mariadbd (switched to mysql) creates them.
		RuntimeDirs: []agent.RuntimeDir{{Path: p.Run, Owner: "mysql", Mode: 0o755}},
		// A renewed certificate is loaded without a restart: FLUSH SSL (MariaDB >= 10.4,
		// MDEV-16266) re-reads the files named by --ssl-* for new connections and leaves the
		// open ones, whose TLS sessions are already set up, alone. It needs the RELOAD
		// privilege; MariaDB's root account has it and logs in over the socket by unix_socket
		// authentication as the agent's user, as adminTask does (docs/decisions/roles.md).
		ReloadFiles: []string{cert, key, ca},
		Reload:      agent.Reload{Command: []string{"mariadb", "--no-defaults", "--socket=" + m.socket(p), "-u", "root", "--batch", "-e", "FLUSH SSL"}},
	}
}

// tlsTasks install the server's TLS material: the TLS given (DatabaseWithTLS), or the
// jump host's certificate from the store (Database).
func (m mariaDB) tlsTasks(p agent.Paths) ([]agent.Task, error) {
	cert, key, ca := m.tlsFiles(p)
	tasks := []agent.Task{
		agent.Dir{Path: p.Etc, Mode: 0o755},
		agent.Dir{Path: filepath.Dir(m.tlsDir(p)), Mode: 0o755},
		agent.Dir{Path: m.tlsDir(p), Mode: 0o750, Owner: "mysql", Group: "mysql"},
	}
	switch {
	case m.tls != nil:
		if len(m.tls.CertPEM) == 0 || len(m.tls.KeyPEM) == 0 || len(m.tls.CAPEM) == 0 {
			return nil, fmt.Errorf("database TLS: certificate, key and CA are all required")
		}
		return append(tasks,
			agent.File{Path: ca, Content: m.tls.CAPEM, Mode: 0o644, Owner: "mysql", Group: "mysql"},
			agent.File{Path: cert, Content: m.tls.CertPEM, Mode: 0o644, Owner: "mysql", Group: "mysql"},
			agent.File{Path: key, Content: m.tls.KeyPEM, Mode: 0o600, Owner: "mysql", Group: "mysql", Secret: true}), nil
	case m.store != "":
		return append(tasks, storeTLSTask{store: pki.Store{Dir: m.store}, cert: cert, key: key, ca: ca}), nil
	default:
		return nil, fmt.Errorf("database TLS: no certificate (neither TLS material nor a certificate store)")
	}
}

// installDBTask initialises the data directory once (installDB).
func installDBTask(data string) agent.Task {
	return agent.FuncTask{
		TaskName: "initialise " + data,
		CheckFunc: func(context.Context, *agent.Runtime) (agent.Change, error) {
			if _, err := os.Stat(filepath.Join(data, "mysql", "user.frm")); err == nil {
				return agent.NoChange, nil
			}
			if _, err := os.Stat(filepath.Join(data, "mysql", "global_priv.MAD")); err == nil {
				return agent.NoChange, nil
			}
			return agent.Change{Needed: true, Summary: "initialise MariaDB data directory " + data}, nil
		},
		ApplyFunc: func(ctx context.Context, _ *agent.Runtime) error { return installDB(ctx, data) },
	}
}

// installDB initialises the data directory atomically: mariadb-install-db writes into a
// sibling directory that is renamed into place only when it succeeded, so an interrupted
// or killed run never leaves a half-written directory that the next run would take for an
// initialised one (InnoDB then refuses to start: "data structure corruption"). A data
// directory that exists without the system tables is moved aside, never deleted.
func installDB(ctx context.Context, data string) error {
	tmp := data + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	// The layout step's owner and mode, so that the next run finds nothing to change.
	if err := (agent.Dir{Path: tmp, Mode: 0o750, Owner: "mysql", Group: "mysql"}).Apply(ctx, nil); err != nil {
		return err
	}
	if _, err := (agent.Command{Args: []string{"mariadb-install-db", "--no-defaults", "--datadir=" + tmp,
		"--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"},
		Timeout: 2 * time.Minute}).Run(ctx); err != nil {
		return err
	}
	if ents, err := os.ReadDir(data); err == nil && len(ents) > 0 {
		aside := fmt.Sprintf("%s.incomplete-%d", data, time.Now().Unix())
		if err := os.Rename(data, aside); err != nil {
			return err
		}
	} else if err == nil {
		if err := os.Remove(data); err != nil {
			return err
		}
	}
	return os.Rename(tmp, data)
}

// adminTask creates the admin user through the socket as root (unix_socket authentication:
// no password exists for root) and gives it its generated password over stdin.
func (m mariaDB) adminTask() agent.Task {
	return agent.FuncTask{
		TaskName: "database admin user " + MySQLAdminUser,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			want := agent.Change{Needed: true, Summary: "create database admin user " + MySQLAdminUser}
			pw, ok, err := rt.Secrets.(agent.SecretLookup).Lookup(ctx, agent.SecretMySQLAdmin)
			if err != nil || !ok {
				return want, err
			}
			for _, srv := range []agent.MySQLServer{rt.Database(), {Addr: m.socket(rt.Paths)}} {
				if agent.MySQLLogin(ctx, srv, MySQLAdminUser, pw) != nil {
					return want, nil
				}
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			pw, err := rt.Secrets.Get(ctx, agent.SecretMySQLAdmin)
			if err != nil {
				return err
			}
			// A new account is created locked and unlocked only once it holds its grants: the
			// jump host waits for this login and would otherwise get in before the GRANT and
			// be refused its first CREATE DATABASE.
			var sql []byte
			for _, h := range []string{"localhost", "127.0.0.1"} {
				acct := agent.QuoteAccount(MySQLAdminUser, h)
				sql = fmt.Appendf(sql, "CREATE USER IF NOT EXISTS %s IDENTIFIED BY '%s' ACCOUNT LOCK;\nGRANT ALL PRIVILEGES ON *.* TO %s WITH GRANT OPTION;\nALTER USER %s IDENTIFIED BY '%s' ACCOUNT UNLOCK;\n",
					acct, pw, acct, acct, pw)
			}
			_, err = agent.Command{Args: []string{"mariadb", "--no-defaults", "--socket=" + m.socket(rt.Paths), "-u", "root", "--batch"},
				Stdin: sql, Timeout: time.Minute}.Run(ctx)
			return err
		},
	}
}

// storeTLSTask installs the database's certificate, key and CA from the shared certificate
// store, where the local jump host's project CA issues them (jump.DatabaseCertName): it
// waits for them, bounded and visibly, as the other roles wait for theirs.
type storeTLSTask struct {
	store         pki.Store
	cert, key, ca string
}

func (t storeTLSTask) Name() string { return "database certificate from " + t.store.Dir }

// files are the installed copies and their sources in the store.
func (t storeTLSTask) files() []agent.File {
	return []agent.File{
		{Path: t.ca, Mode: 0o644, Owner: "mysql", Group: "mysql"},
		{Path: t.cert, Mode: 0o644, Owner: "mysql", Group: "mysql"},
		{Path: t.key, Mode: 0o600, Owner: "mysql", Group: "mysql", Secret: true},
	}
}

func (t storeTLSTask) sources() []string {
	return []string{t.store.CACert(), t.store.ServerCert(jump.DatabaseCertName), t.store.ServerKey(jump.DatabaseCertName)}
}

// read returns the installable files with the store's content, or an error naming what is
// missing.
func (t storeTLSTask) read() ([]agent.File, error) {
	fs := t.files()
	for i, src := range t.sources() {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		fs[i].Content = data
	}
	return fs, nil
}

func (t storeTLSTask) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	fs, err := t.read()
	if err != nil {
		return agent.Change{Needed: true, Summary: "wait for the database certificate from the jump host (" + err.Error() + ")"}, nil
	}
	for _, f := range fs {
		c, err := f.Check(ctx, rt)
		if err != nil || c.Needed {
			return agent.Change{Needed: true, Summary: "install the database certificate from " + t.store.Dir}, err
		}
	}
	return agent.NoChange, nil
}

func (t storeTLSTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	var fs []agent.File
	if err := agent.WaitFor(ctx, rt, "the database certificate in "+t.store.Dir+" (the jump host issues it)", DatabaseCertWait,
		func(context.Context) error {
			var err error
			fs, err = t.read()
			return err
		}); err != nil {
		return err
	}
	for _, f := range fs {
		if err := f.Apply(ctx, rt); err != nil {
			return err
		}
	}
	return nil
}
