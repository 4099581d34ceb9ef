// Package keystone is the Keystone identity role (LLD 3.3): keystone.conf with the
// generated secrets injected, the database schema (db_sync), fernet and credential key
// sets created once on the first node and installed identically on every node through the
// shared store, bootstrap of the admin user, and Apache mod_wsgi serving
// keystone-wsgi-public over TLS from the project CA at / and at /api/idm. Progress goes to
// keystone-setup-progress.log.
package keystone

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// New returns the keystone role.
func New() agent.Role { return role{} }

type role struct{}

func (role) Role() envfile.Role { return envfile.RoleKeystone }

// User and Group run the Keystone WSGI processes and keystone-manage.
const (
	User  = "keystone"
	Group = "keystone"
)

// Timeouts of the waits this role does.
const (
	DBWaitTimeout   = 3 * time.Minute
	KeyWaitTimeout  = 5 * time.Minute
	CertWaitTimeout = 10 * time.Minute
	ReadyTimeout    = 2 * time.Minute
	ManageTimeout   = 5 * time.Minute
)

// Layout is where the role puts things on a host.
type Layout struct {
	ConfDir, Conf, WSGI, HTTPDConf string
	// TLSConf and TLSRunDir are the TLS front's configuration and runtime directory (the
	// back, Keystone in mod_wsgi, has HTTPDConf and RunDir).
	TLSConf, TLSRunDir                      string
	FernetKeys, CredentialKeys              string
	SharedDir, SharedFernet, SharedCred     string
	LogDir, HTTPDLogDir, RunDir, DataDir    string
	CertFile, KeyFile, CAFile, DBSyncMarker string
	// Where Keystone itself comes from, by platform (docs/decisions/roles.md): Venv is the
	// Python virtual environment holding Keystone on Amazon Linux 2023 ("" on the local
	// platform, where Debian's python3-keystone provides it), ManageBin the keystone-manage
	// that every keystone-manage call runs, WSGIModule the mod_wsgi that Apache loads (built
	// by pip into the venv on Amazon Linux, Debian's libapache2-mod-wsgi-py3 locally).
	Venv, ManageBin, WSGIModule string
}

// Paths returns the file layout of a host with the local platform's Keystone (Debian's
// python3-keystone). Roles converging a host use PathsOn with the host's platform.
func Paths(p agent.Paths, host string) Layout { return PathsOn(p, host, agent.DebianDistro) }

// PathsOn returns the layout of a host on distribution d.
func PathsOn(p agent.Paths, host string, d agent.Distro) Layout {
	own := p.OwnTLS(host)
	conf := filepath.Join(p.Etc, "keystone")
	// The key sets' own store: an EFS access point of their own on EC2 (only the Keystone
	// hosts and the jump server mount it), inside the shared store locally.
	shared := p.KeystoneKeys
	if shared == "" {
		shared = filepath.Join(p.SSLCerts, "keystone")
	}
	l := Layout{
		ConfDir: conf, Conf: filepath.Join(conf, "keystone.conf"), WSGI: filepath.Join(conf, "keystone-wsgi-public.py"),
		HTTPDConf:  filepath.Join(p.Etc, "httpd", "keystone-httpd.conf"),
		TLSConf:    filepath.Join(p.Etc, "httpd", "keystone-tls.conf"),
		TLSRunDir:  filepath.Join(p.Run, "keystone-tls"),
		FernetKeys: filepath.Join(conf, "fernet-keys"), CredentialKeys: filepath.Join(conf, "credential-keys"),
		SharedDir: shared, SharedFernet: filepath.Join(shared, "fernet-keys"), SharedCred: filepath.Join(shared, "credential-keys"),
		LogDir: filepath.Join(p.Log, "keystone"), HTTPDLogDir: filepath.Join(p.Log, "httpd"),
		RunDir: filepath.Join(p.Run, "keystone-httpd"), DataDir: filepath.Join(p.Data, "keystone"),
		CertFile: own.Cert, KeyFile: own.Key, CAFile: own.CA,
		DBSyncMarker: filepath.Join(p.Data, "keystone", "db_sync.done"),
		// Debian's keystone-manage, found on the agent's PATH (/usr/bin), and mod_wsgi.
		ManageBin:  "keystone-manage",
		WSGIModule: "/usr/lib/apache2/modules/mod_wsgi.so",
	}
	if d.KeystoneFromPip {
		l = l.withVenv(VenvDir)
	}
	return l
}

// withVenv is l with Keystone taken from the virtual environment venv.
func (l Layout) withVenv(venv string) Layout {
	l.Venv = venv
	l.ManageBin = filepath.Join(venv, "bin", "keystone-manage")
	l.WSGIModule = ModWSGIPath(venv)
	return l
}

// keystoneInfoGlob matches the metadata directory of the installed Keystone
// (keystone-<version>.dist-info or .egg-info).
func (l Layout) keystoneInfoGlob() string {
	if l.Venv != "" {
		return filepath.Join(venvSitePackagesGlob(l.Venv), "keystone-*info")
	}
	return "/usr/lib/python3/dist-packages/keystone-*info"
}

// first reports whether h is the node that creates the shared key sets and the schema.
func first(h inventory.Host) bool { return h.Index == 1 }

// packages are the platform's package names for Keystone, Apache mod_wsgi and memcached. Amazon
// Linux 2023 has neither a Keystone nor a mod_wsgi package: there the packages are Apache,
// mod_ssl, pip and what pip needs to build mod_wsgi (apxs from httpd-devel, Python.h and
// libpython from python3-devel, gcc); Keystone and mod_wsgi go into a virtual environment
// (install.go).
func packages(d agent.Distro) []string {
	if d.KeystoneFromPip {
		return []string{"httpd", "mod_ssl", "python3-pip", "httpd-devel", "python3-devel", "gcc", "memcached"}
	}
	// python3-memcache is oslo_cache.memcache_pool's client (python3-oslo.cache depends on
	// it; named because keystone.conf uses it).
	return []string{"python3-keystone", "python3-pymysql", "apache2", "libapache2-mod-wsgi-py3", "memcached", "python3-memcache"}
}

// wsgiProcesses sizes the WSGI daemon group to the host: one process per CPU the node
// has to itself. Keystone's processes are single-threaded: with threads its
// eventlet/greenlet use fails ("cannot switch to a different thread") and, measured under
// load with threads=8, policy enforcement refused valid validations (403). On EC2 a node has
// the instance to itself: one process per CPU, at least two (one busy hashing a password
// must not stall validations). On the local target every Keystone node of the machine
// shares its CPUs: NumCPU divided among them, at least one (1 each for the HA pair on two
// cores). Each process preloads Keystone (3-4 s of CPU) at every start: N processes on N
// CPUs start side by side, more would lengthen the cold start for no throughput
// (docs/decisions/roles.md).
func wsgiProcesses(d agent.Distro, cpus, nodesOnMachine int) (processes, threads int) {
	if !d.EC2 {
		return max(1, cpus/max(1, nodesOnMachine)), 1
	}
	return max(2, cpus), 1
}

// nodesOnMachine counts the Keystone nodes sharing this host's machine: every node with
// the same address (the local target), else this one.
func nodesOnMachine(rt *agent.Runtime) int {
	if rt.Host.Address == "" {
		return 1
	}
	n := 0
	for _, h := range inventory.ByRole(rt.Hosts, envfile.RoleKeystone) {
		if h.Address == rt.Host.Address {
			n++
		}
	}
	return max(1, n)
}

// maxSocketPath is the longest path a Unix domain socket can have on Linux (sun_path is
// 108 bytes with its terminating NUL).
const maxSocketPath = 107

// checkSocketPath refuses a runtime directory so deep that mod_wsgi's daemon sockets
// (<RunDir>/wsgi.<pid>.<generation>.<id>.sock) would not fit: mod_wsgi then truncates the
// path, the socket is never bound and every request is answered 503 (seen on a local
// target under a long temporary directory).
func checkSocketPath(l Layout) error {
	longest := l.RunDir + "/wsgi.4194304.99.1.sock" // the largest pid Linux hands out
	if len(longest) > maxSocketPath {
		return fmt.Errorf("the runtime directory of Apache, %s, is too deep for mod_wsgi's sockets (%d bytes with the socket name, Unix sockets allow %d): use a shorter directory for the local target", l.RunDir, len(longest), maxSocketPath)
	}
	return nil
}

func (role) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	for _, p := range []string{inventory.PortKeystone, inventory.PortKeystoneWSGI, inventory.PortMemcached} {
		if rt.Host.Ports[p] == 0 {
			return nil, fmt.Errorf("host %s has no %s port", rt.Host.Name, p)
		}
	}
	d := rt.Distro()
	l := PathsOn(rt.Paths, rt.Host.Name, d)
	if err := checkSocketPath(l); err != nil {
		return nil, err
	}
	conf, err := renderConfig(rt, l)
	if err != nil {
		return nil, err
	}
	httpd := renderHTTPD(rt, l, d)
	front := renderTLS(rt, l, d)
	ks := []agent.Task{
		agent.Dir{Path: l.ConfDir, Mode: 0o750, Owner: "root", Group: Group},
		agent.Dir{Path: l.FernetKeys, Mode: 0o700, Owner: User, Group: Group},
		agent.Dir{Path: l.CredentialKeys, Mode: 0o700, Owner: User, Group: Group},
		agent.Dir{Path: l.LogDir, Mode: 0o750, Owner: User, Group: Group},
		agent.Dir{Path: l.DataDir, Mode: 0o750, Owner: User, Group: Group},
		agent.Dir{Path: l.HTTPDLogDir, Mode: 0o750},
		agent.Dir{Path: filepath.Dir(l.HTTPDConf), Mode: 0o755},
		agent.Dir{Path: l.SharedDir, Mode: 0o700},
		conf,
		agent.File{Path: l.WSGI, Content: []byte(renderWSGI(l)), Mode: 0o644},
		agent.File{Path: l.HTTPDConf, Content: []byte(httpd), Mode: 0o644},
		agent.File{Path: l.TLSConf, Content: []byte(front), Mode: 0o644},
	}
	database := agent.Sequence{TaskName: "keystone database", Tasks: []agent.Task{
		waitDBTask(l), dbSyncTask(l), bootstrapTask(l),
	}}
	keys := agent.Parallel{TaskName: "key sets", Tasks: []agent.Task{
		keySetTask{kind: "fernet", local: l.FernetKeys, shared: l.SharedFernet, setup: "fernet_setup",
			marker: installedMarker(l, rt.Host.Name)},
		keySetTask{kind: "credential", local: l.CredentialKeys, shared: l.SharedCred, setup: "credential_setup",
			marker: credentialMarker(l, rt.Host.Name)},
	}}
	if !first(rt.Host) {
		database = agent.Sequence{TaskName: "keystone database", Tasks: []agent.Task{waitDBTask(l), waitBootstrapTask()}}
	}
	// Keystone refuses to start without fernet keys: the keys come before Apache, Keystone's
	// own (the back) before its TLS front. The back preloads Keystone while the first node
	// builds the schema (the others wait for it); the TLS front, which clients reach, opens
	// only once the schema and the bootstrap are there: before, Keystone answers 500 ("Table
	// 'keystone.project' doesn't exist") to every token request.
	back := agent.Sequence{TaskName: "keys and Keystone", Tasks: []agent.Task{keys, waitCertsTask(l), apacheService(rt, l, d)}}
	var bringUp agent.Task = agent.Sequence{TaskName: "bring-up", Tasks: []agent.Task{
		agent.Parallel{TaskName: "database, keys and Keystone", Tasks: []agent.Task{database, back}},
		tlsService(rt, l, d)}}
	if first(rt.Host) {
		bringUp = agent.Sequence{TaskName: "bring-up, then credentials", Tasks: []agent.Task{bringUp, credentialsTask(l)}}
	}
	install := []agent.Task{rt.Platform.Packages(packages(d)...)}
	if l.Venv != "" {
		runner := agent.RunnerOf(rt.Platform)
		install = append(install, venvTask{venv: l.Venv, runner: runner},
			modWSGITask{venv: l.Venv, module: l.WSGIModule, runner: runner})
	}
	// The agent timer first (Amazon Linux only): a failed first run is retried.
	return append(append(agent.ResyncSteps(rt), agent.OwnTLSSteps(rt)...), []agent.Step{
		{Name: "packages", Tasks: install},
		// Debian's python3-keystone creates no account; keystone-manage and WSGI run as it.
		{Name: "user", Tasks: []agent.Task{agent.SystemUser{User: User, Home: "/var/lib/keystone", Comment: "OpenStack Keystone"}}},
		{Name: "configuration", Tasks: ks},
		// The cache before Keystone, which works without it (oslo.cache skips a dead
		// server) but would start cold.
		{Name: "cache", Tasks: []agent.Task{memcachedService(rt, d)}},
		{Name: "bring-up", Tasks: []agent.Task{bringUp}},
	}...), nil
}
