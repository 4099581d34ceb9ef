// Package local is the local target: the whole platform tier on one machine, on 127.0.0.1,
// with the very roles the EC2 hosts run. MariaDB stands in for RDS, a directory for each
// EFS file system and one for the S3 bucket; every "host" gets its own tree:
//
//	<dir>/.cso-local             marker: `up` created this directory, `down --purge` may remove it
//	<dir>/target.json            what checks and the dashboard read (internal/target)
//	<dir>/admin-openrc           Keystone admin credentials (0600)
//	<dir>/secrets/<name>         generated secrets (0600 each, directory 0700)
//	<dir>/shared/ssl-certs/      EFS /opt/ssl-certs stand-in (CA, host certificates)
//	<dir>/shared/scripts/        EFS /opt/scripts stand-in
//	<dir>/bucket/                S3 bucket stand-in (scripts/, packages/)
//	<dir>/status/<host>.json     status store
//	<dir>/hosts/<host>/{etc,data,log,run}
//	<dir>/hosts/mysql/           MariaDB (datadir, socket, log)
//
// Daemons run under the agent's Supervisor; `down` stops what the pid files name.
package local

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
)

// Layout is the directory of one local target.
type Layout struct{ Dir string }

// NewLayout makes dir absolute: daemons and Debian's wrappers change directory, a relative
// path would then point elsewhere.
func NewLayout(dir string) (Layout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Layout{}, fmt.Errorf("local directory %s: %w", dir, err)
	}
	return Layout{Dir: abs}, nil
}

func (l Layout) TargetFile() string       { return filepath.Join(l.Dir, "target.json") }
func (l Layout) Marker() string           { return filepath.Join(l.Dir, MarkerName) }
func (l Layout) AdminRC() string          { return filepath.Join(l.Dir, "admin-openrc") }
func (l Layout) SecretsDir() string       { return filepath.Join(l.Dir, "secrets") }
func (l Layout) SSLCerts() string         { return filepath.Join(l.Dir, "shared", "ssl-certs") }
func (l Layout) Scripts() string          { return filepath.Join(l.Dir, "shared", "scripts") }
func (l Layout) Bucket() string           { return filepath.Join(l.Dir, "bucket") }
func (l Layout) StatusDir() string        { return filepath.Join(l.Dir, "status") }
func (l Layout) HostRoot(h string) string { return filepath.Join(l.Dir, "hosts", h) }
func (l Layout) Secrets() *agent.LocalSecrets {
	return &agent.LocalSecrets{Dir: l.SecretsDir()}
}
func (l Layout) Store() status.Store { return status.Dir{Path: l.StatusDir()} }

// Paths returns the tree of host h.
func (l Layout) Paths(h string) agent.Paths {
	root := l.HostRoot(h)
	return agent.Paths{
		Root: root, SSLCerts: l.SSLCerts(), Scripts: l.Scripts(),
		Etc: filepath.Join(root, "etc"), Data: filepath.Join(root, "data"),
		Log: filepath.Join(root, "log"), Run: filepath.Join(root, "run"),
		Status: l.StatusDir(), Bucket: l.Bucket(), SecretDir: l.SecretsDir(),
	}
}

// Platform returns the local platform of host h (its supervisor keeps state in h's run dir).
func (l Layout) Platform(h string) *agent.Local {
	p := l.Paths(h)
	return agent.NewLocal(p.Run, p.Log)
}

// MySQLAdminUser is the administrative user of the local MariaDB (the RDS master user).
const MySQLAdminUser = "cso_admin"

// MySQLHost is the name of the MariaDB "host" tree.
const MySQLHost = "mysql"

// MySQLAddr is the address of the local MariaDB.
func MySQLAddr(portBase int) string {
	return fmt.Sprintf("127.0.0.1:%d", inventory.LocalMySQLPort+portBase)
}

// MySQLServer is the local MariaDB as its clients reach it: TLS verified against the
// project CA, which issues the database's certificate.
func (l Layout) MySQLServer(portBase int) agent.MySQLServer {
	return agent.MySQLServer{Addr: MySQLAddr(portBase), CAFile: pki.Store{Dir: l.SSLCerts()}.CACert()}
}

// Runtime builds the runtime that converges host h of the local target.
func (l Layout) Runtime(env *envfile.Env, hosts []inventory.Host, h inventory.Host, portBase int, progress io.Writer, dryRun bool) *agent.Runtime {
	return &agent.Runtime{
		Env: env, Host: h, Hosts: hosts, Paths: l.Paths(h.Name), Platform: l.Platform(h.Name),
		Secrets: l.Secrets(), Progress: progress, DryRun: dryRun,
		MySQL: MySQLAddr(portBase), MySQLAdminUser: MySQLAdminUser,
		MySQLCAFile: l.MySQLServer(portBase).CAFile,
		Bucket:      agent.DirBucket{Dir: l.Bucket()},
	}
}
