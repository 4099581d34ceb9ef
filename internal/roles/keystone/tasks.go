package keystone

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// manageCommand is the keystone-manage command line of this instance: the platform's
// keystone-manage (Layout.ManageBin) with this instance's configuration.
func manageCommand(l Layout, args ...string) []string {
	return append([]string{l.ManageBin, "--config-file", l.Conf}, args...)
}

// manage runs keystone-manage as the keystone user with this instance's configuration.
func manage(ctx context.Context, l Layout, secretEnv []string, args ...string) error {
	_, err := agent.Command{Args: manageCommand(l, args...), SecretEnv: secretEnv, User: User, Dir: l.DataDir, Timeout: ManageTimeout}.Run(ctx)
	return err
}

// keystoneQuery runs q, a query of one integer (a count), on the keystone database as the
// keystone user.
func keystoneQuery(ctx context.Context, rt *agent.Runtime, q string, args ...any) (int, error) {
	pw, ok, err := rt.Secret(ctx, agent.SecretKeystoneDB)
	if err != nil || !ok {
		return 0, errors.Join(errors.New("no keystone database secret yet"), err)
	}
	db, err := agent.OpenMySQL(dbServer(rt), "keystone", pw, "keystone")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// waitDBTask waits, bounded and visibly, until the keystone user can log in (the jump host
// creates it; on AWS the database may still be starting).
func waitDBTask(l Layout) agent.Task {
	return agent.FuncTask{
		TaskName: "wait for the keystone database",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			pw, ok, err := rt.Secret(ctx, agent.SecretKeystoneDB)
			if err != nil {
				return agent.Change{}, err
			}
			if !ok || agent.MySQLLogin(ctx, dbServer(rt), "keystone", pw) != nil {
				return agent.Change{Needed: true, Summary: "wait for the keystone database on " + dbHost(rt)}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			pw, err := rt.Secrets.Get(ctx, agent.SecretKeystoneDB)
			if err != nil {
				return err
			}
			return agent.WaitMySQL(ctx, rt, dbServer(rt), "keystone", pw, rt.PeerWait(DBWaitTimeout))
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait("a login as keystone to "+dbHost(rt)+" (the jump host creates the user)", rt.PeerWait(DBWaitTimeout))
			return nil
		},
	}
}

// keystoneVersion identifies the Keystone installed where l says (Debian's package or the
// virtual environment), so an upgrade runs db_sync again.
func keystoneVersion(l Layout) string {
	if m, _ := filepath.Glob(l.keystoneInfoGlob()); len(m) > 0 {
		sort.Strings(m)
		return filepath.Base(m[len(m)-1])
	}
	return "unknown"
}

// dbSyncTask creates or upgrades the schema (first node only). It is current when the
// schema has Keystone's tables and the marker names the installed Keystone version, read
// when the task runs (on Amazon Linux the packages step installs Keystone in the same run).
func dbSyncTask(l Layout) agent.Task {
	return agent.FuncTask{
		TaskName: "keystone-manage db_sync",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			want := keystoneVersion(l) + "\n"
			need := agent.Change{Needed: true, Summary: "keystone-manage db_sync (" + strings.TrimSpace(want) + ")"}
			if m, err := os.ReadFile(l.DBSyncMarker); err != nil || string(m) != want {
				return need, nil
			}
			n, err := keystoneQuery(ctx, rt, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'keystone' AND TABLE_NAME IN ('project', 'local_user', 'endpoint')")
			if err != nil || n < 3 {
				return need, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			want := keystoneVersion(l) + "\n"
			if err := manage(ctx, l, nil, "db_sync"); err != nil {
				return fmt.Errorf("%w (log: %s)", err, filepath.Join(l.LogDir, "keystone.log"))
			}
			return agent.File{Path: l.DBSyncMarker, Content: []byte(want), Mode: 0o644}.Apply(ctx, rt)
		},
		// The marker names the Keystone version installed on the host: not rendered.
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.AddCommand(agent.Command{Args: manageCommand(l, "db_sync"), User: User, Dir: l.DataDir})
			return nil
		},
	}
}

// firstNode is the environment's first Keystone node, which builds the schema and
// bootstraps it (this host when the inventory lists none).
func firstNode(rt *agent.Runtime) inventory.Host {
	if ks := inventory.ByRole(rt.Hosts, envfile.RoleKeystone); len(ks) > 0 {
		return ks[0]
	}
	return rt.Host
}

// endpointURL is the identity endpoint registered in the catalog: the service alias
// (identity.<env>.<suffix>) on the Keystone port; localhost on the local target.
func endpointURL(rt *agent.Runtime) string {
	h := firstNode(rt)
	name := h.FQDN
	switch {
	case h.Loopback():
		// The local target: its names resolve only through the check tools, and the
		// openstack CLI follows the catalog; localhost is in every host certificate.
		name = "localhost"
	case len(h.Aliases) > 0:
		name = h.Aliases[0]
	}
	return fmt.Sprintf("https://%s:%d/v3", name, h.Ports[inventory.PortKeystone])
}

// bootstrapTask creates the admin user, project, role, the identity service and its
// endpoints (first node only). The password reaches keystone-manage through
// OS_BOOTSTRAP_PASSWORD, never its arguments.
func bootstrapTask(l Layout) agent.Task {
	return agent.FuncTask{
		TaskName: "keystone-manage bootstrap",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			if bootstrapped(ctx, rt) != nil {
				return agent.Change{Needed: true, Summary: "keystone-manage bootstrap (admin user, identity endpoints " + endpointURL(rt) + ")"}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			pw, err := rt.Secrets.Get(ctx, agent.SecretKeystoneAdmin)
			if err != nil {
				return err
			}
			err = manage(ctx, l, []string{"OS_BOOTSTRAP_PASSWORD=" + pw}, bootstrapArgs(rt)...)
			if err != nil {
				return fmt.Errorf("%w (log: %s)", err, filepath.Join(l.LogDir, "keystone.log"))
			}
			return nil
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.AddCommand(agent.Command{Args: manageCommand(l, bootstrapArgs(rt)...), SecretEnv: []string{"OS_BOOTSTRAP_PASSWORD=" + agent.SecretPlaceholder(agent.SecretKeystoneAdmin)}, User: User, Dir: l.DataDir})
			return nil
		},
	}
}

// bootstrapped says why the keystone database is not yet what the first node's db_sync and
// bootstrap make of it (nil when it is): the admin user and the three identity endpoints,
// which the bootstrap creates after the schema.
func bootstrapped(ctx context.Context, rt *agent.Runtime) error {
	n, err := keystoneQuery(ctx, rt, "SELECT COUNT(*) FROM local_user WHERE name = 'admin'")
	switch {
	case err != nil:
		return err
	case n != 1:
		return errors.New("no admin user yet (keystone-manage bootstrap)")
	}
	n, err = keystoneQuery(ctx, rt, "SELECT COUNT(*) FROM endpoint WHERE url = ? AND enabled = 1", endpointURL(rt))
	switch {
	case err != nil:
		return err
	case n < 3:
		return fmt.Errorf("%d of 3 identity endpoints %s yet (keystone-manage bootstrap)", n, endpointURL(rt))
	}
	return nil
}

// waitBootstrapTask: every Keystone node but the first waits, bounded and visibly, for the
// first node's db_sync and bootstrap before it opens its TLS front to clients.
func waitBootstrapTask() agent.Task {
	firstName := func(rt *agent.Runtime) string { return firstNode(rt).Name }
	return agent.FuncTask{
		TaskName: "wait for the keystone schema",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			if bootstrapped(ctx, rt) != nil {
				return agent.Change{Needed: true, Summary: "wait for the keystone schema and bootstrap (by " + firstName(rt) + ")"}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			return agent.WaitFor(ctx, rt, "the keystone schema and bootstrap (by "+firstName(rt)+")", rt.PeerWait(DBWaitTimeout), func(ctx context.Context) error {
				return bootstrapped(ctx, rt)
			})
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait("the keystone schema and bootstrap (db_sync and keystone-manage bootstrap on "+firstName(rt)+")", rt.PeerWait(DBWaitTimeout))
			return nil
		},
	}
}

// bootstrapArgs are the keystone-manage arguments of the bootstrap.
func bootstrapArgs(rt *agent.Runtime) []string {
	u := endpointURL(rt)
	return []string{"bootstrap",
		"--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
		"--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
		"--bootstrap-region-id", "RegionOne",
		"--bootstrap-admin-url", u, "--bootstrap-internal-url", u, "--bootstrap-public-url", u}
}

var keyNameRE = regexp.MustCompile(`^[0-9]+$`)

// readKeys reads a Keystone key repository: file name (an integer) to content.
func readKeys(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !keyNameRE.MatchString(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		keys[e.Name()] = data
	}
	return keys, nil
}

func sameKeys(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// keySetTask keeps one key repository (fernet or credential) identical to the set in the
// shared store. The first node creates the set (as keystone-manage fernet_setup or
// credential_setup would) when the store has none and publishes it atomically; every other node waits for it (bounded) and installs
// it. Rotation, when it comes, rotates the shared set and then distributes it, in lock step
// (docs/decisions/roles.md): the shared store is the one source of truth.
type keySetTask struct {
	kind, local, shared, setup string
	// marker records the hash of the installed set in the shared store ("" = none).
	marker string
}

func (t keySetTask) Name() string { return t.kind + " key set" }

func (t keySetTask) Check(_ context.Context, rt *agent.Runtime) (agent.Change, error) {
	shared, err := readKeys(t.shared)
	if err != nil {
		return agent.Change{}, err
	}
	local, err := readKeys(t.local)
	if err != nil {
		return agent.Change{}, err
	}
	switch {
	case len(shared) == 0 && first(rt.Host):
		return agent.Change{Needed: true, Summary: fmt.Sprintf("create the %s key set (as keystone-manage %s) and publish it to %s", t.kind, t.setup, t.shared)}, nil
	case len(shared) == 0:
		return agent.Change{Needed: true, Summary: fmt.Sprintf("install the %s key set from %s once the first node has published it", t.kind, t.shared)}, nil
	case !sameKeys(shared, local):
		return agent.Change{Needed: true, Summary: fmt.Sprintf("install the %s key set (%d keys) from %s", t.kind, len(shared), t.shared)}, nil
	}
	if bad := keyModes(t.local); bad != "" {
		return agent.Change{Needed: true, Summary: bad}, nil
	}
	if t.marker != "" {
		if m, err := os.ReadFile(t.marker); err != nil || strings.TrimSpace(string(m)) != SetHash(shared) {
			return agent.Change{Needed: true, Summary: "record the installed " + t.kind + " key set in " + t.marker}, nil
		}
	}
	return agent.NoChange, nil
}

// keyModes says what is wrong with the installed keys (owner, mode, a temporary file or a
// staging directory left by an interrupted install), or "".
func keyModes(dir string) string {
	uid, gid, err := agent.LookupIDs(User, Group)
	if err != nil {
		return ""
	}
	if _, err := os.Lstat(stagingDir(dir)); err == nil {
		return "remove " + stagingDir(dir) + " (an interrupted install)"
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if agent.IsInterruptedWrite(e.Name()) {
			return "remove " + filepath.Join(dir, e.Name()) + " (an interrupted write)"
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		u, g, ok := agent.FileOwner(st)
		if st.Mode().Perm() != 0o600 || (ok && (u != uid || g != gid)) {
			return "fix owner and mode of " + filepath.Join(dir, e.Name())
		}
	}
	return ""
}

func (t keySetTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	shared, err := readKeys(t.shared)
	if err != nil {
		return err
	}
	if len(shared) == 0 {
		if first(rt.Host) {
			if shared, err = t.create(ctx, rt); err != nil {
				return err
			}
		} else {
			err := agent.WaitFor(ctx, rt, t.kind+" key set from the first node", rt.PeerWait(KeyWaitTimeout), func(context.Context) error {
				shared, err = readKeys(t.shared)
				if err == nil && len(shared) == 0 {
					err = errors.New("not published yet")
				}
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	if err := installKeys(ctx, rt, t.local, shared); err != nil {
		return err
	}
	if t.marker == "" {
		return nil
	}
	// Tell the rotation that this node holds the current set (lock step).
	return agent.File{Path: t.marker, Content: []byte(SetHash(shared) + "\n"), Mode: 0o600}.Apply(ctx, rt)
}

// create writes a new key set into the local repository (unless it already holds keys)
// and publishes a copy to the shared store: a directory written aside and renamed
// into place, so no node ever sees half a set.
func (t keySetTask) create(ctx context.Context, rt *agent.Runtime) (map[string][]byte, error) {
	local, err := readKeys(t.local)
	if err != nil {
		return nil, err
	}
	if len(local) == 0 {
		// What keystone-manage fernet_setup / credential_setup write, without starting a
		// Python interpreter (3-20 s of CPU on a busy two-core machine, on the critical
		// path of the first node): key 0 (staged) and key 1 (primary), each 32 random bytes
		// in URL-safe base64, mode 0600, owned by keystone.
		if local, err = newKeySet(); err != nil {
			return nil, err
		}
		if err := installKeys(ctx, rt, t.local, local); err != nil {
			return nil, err
		}
		rt.Progressf("  created the %s key set (the layout of keystone-manage %s)", t.kind, t.setup)
	}
	parent := filepath.Dir(t.shared)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(t.shared)+".*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for name, data := range local {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, t.shared); err != nil {
		return nil, fmt.Errorf("publish %s key set: %w", t.kind, err)
	}
	rt.Progressf("  published the %s key set (%d keys) to %s", t.kind, len(local), t.shared)
	return local, nil
}

// installKeys makes dir hold exactly keys, in an order that never leaves the node without
// a key the other nodes may sign with: the new primary (the highest index, which holds the
// old staged key 0's material after a rotation) and every other key first, key 0 (the new
// staged key) after them, and only then the purged keys removed. Keystone reads the
// repository on every token operation, so a node that overwrote key 0 before writing the
// new primary refused, for that moment, the tokens the rotating node had just signed.
// Each file is written in a staging directory beside dir and renamed into it: Keystone
// opens every entry of its repository on every token operation, as the keystone user, and
// met the agent's temporary files there (root's until their rename), which it could not
// open: HTTP 500. Temporary files left by an interrupted write (the agent killed between
// create and rename), in the staging directory or in dir from before, are removed, so a
// run after such a kill converges.
func installKeys(ctx context.Context, rt *agent.Runtime, dir string, keys map[string][]byte) error {
	staging := stagingDir(dir)
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	for _, name := range keyInstallOrder(keys) {
		f := agent.File{Path: filepath.Join(dir, name), Content: keys[name], Mode: 0o600, Owner: User, Group: Group, Secret: true, TempDir: staging}
		c, err := f.Check(ctx, rt)
		if err != nil {
			return err
		}
		if c.Needed {
			if err := f.Apply(ctx, rt); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		_, keep := keys[name]
		if keep || !(agent.IsInterruptedWrite(name) || (e.Type().IsRegular() && keyNameRE.MatchString(name))) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// stagingDir is where installKeys writes the files of dir before renaming them into it: a
// sibling on the same filesystem, hidden, that Keystone never reads.
func stagingDir(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".staging")
}

// keyInstallOrder is the key names from the highest index down, key 0 last.
func keyInstallOrder(keys map[string][]byte) []string {
	names := make([]string, 0, len(keys))
	for name := range keys {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i])
		b, _ := strconv.Atoi(names[j])
		return a > b
	})
	return names
}

// apacheService runs Keystone's own Apache (mod_wsgi, plain HTTP on 127.0.0.1) in the
// foreground; ready when /v3 answers there. A change of its configuration, keystone.conf or
// the WSGI entry point restarts it; a renewed certificate does not concern it (the front
// holds the certificate), so its WSGI daemons are never restarted by a renewal.
func apacheService(rt *agent.Runtime, l Layout, d agent.Distro) agent.Task {
	return rt.Platform.Service(agent.ServiceSpec{
		Name:        "keystone-httpd",
		Command:     []string{d.ApacheBinary, "-f", l.HTTPDConf, "-DFOREGROUND"},
		ConfigFiles: []string{l.HTTPDConf, l.Conf, l.WSGI},
		Ready: func(ctx context.Context) error {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			return agent.HTTPGetOK(ctx, c, "http://"+backAddr(rt)+"/v3")
		},
		ReadyTimeout: ReadyTimeout,
		StopTimeout:  20 * time.Second,
		// Pid file, mutexes and the WSGI daemons' sockets. Apache (root) creates the
		// sockets; the WSGI daemons (keystone) must reach them: 0755. Its own directory,
		// not the httpd package's /run/httpd, whose tmpfiles.d line gives it 0710
		// root:apache again at every boot (docs/decisions/agent.md).
		RuntimeDirs: []agent.RuntimeDir{{Path: l.RunDir, Mode: 0o755}},
	})
}

// tlsService runs the node's TLS front (mod_ssl and a reverse proxy to apacheService) in the
// foreground; ready when /v3 answers through it over TLS verified against the project CA
// for the host's name.
func tlsService(rt *agent.Runtime, l Layout, d agent.Distro) agent.Task {
	port := rt.Host.Ports[inventory.PortKeystone]
	fqdn := rt.Host.FQDN
	return rt.Platform.Service(agent.ServiceSpec{
		Name:        "keystone-tls",
		Command:     []string{d.ApacheBinary, "-f", l.TLSConf, "-DFOREGROUND"},
		ConfigFiles: []string{l.TLSConf},
		// A renewed certificate: Apache's graceful restart (USR1) re-reads it while the
		// listening socket stays open and requests in progress finish. The front runs no
		// application, so nothing is lost (mod_wsgi's daemons, which a graceful restart
		// would restart too, are in the back: docs/decisions/roles.md).
		ReloadFiles: []string{l.CertFile, l.KeyFile, l.CAFile},
		Reload:      agent.Reload{Signal: "USR1"},
		Ready: func(ctx context.Context) error {
			return probeV3(ctx, l.CAFile, fqdn, fmt.Sprintf("127.0.0.1:%d", port))
		},
		ReadyTimeout: ReadyTimeout,
		StopTimeout:  20 * time.Second,
		// Pid file, mutexes and the TLS session cache.
		RuntimeDirs: []agent.RuntimeDir{{Path: l.TLSRunDir, Mode: 0o755}},
	})
}

// probeV3 is GET /v3 over TLS verified against the CA for name, at addr.
func probeV3(ctx context.Context, caFile, name, addr string) error {
	pool, err := pki.PoolFile(caFile)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}}
	return agent.HTTPGetOK(ctx, c, "https://"+addr+"/v3")
}

// waitCertsTask waits (bounded, visibly) for the host's certificate, key and the CA: the
// jump host (the local CA) writes them to the shared store; on AWS the own-certificate
// step has installed them from the host's own secret (agent.OwnTLSTask).
func waitCertsTask(l Layout) agent.Task {
	source := func(rt *agent.Runtime) string {
		if rt != nil && rt.Paths.HostTLS != "" {
			return "installed from the host's own TLS secret"
		}
		return "the jump host issues them"
	}
	missing := func() error {
		if m := agent.MissingFiles(l.CertFile, l.KeyFile, l.CAFile); len(m) > 0 {
			return fmt.Errorf("%s not there yet", strings.Join(m, ", "))
		}
		return nil
	}
	return agent.FuncTask{
		TaskName: "wait for the TLS certificate",
		CheckFunc: func(_ context.Context, rt *agent.Runtime) (agent.Change, error) {
			if err := missing(); err != nil {
				return agent.Change{Needed: true, Summary: "wait for the TLS certificate (" + source(rt) + ")"}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			return agent.WaitFor(ctx, rt, "TLS certificate "+l.CertFile, rt.PeerWait(CertWaitTimeout), func(context.Context) error { return missing() })
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait(fmt.Sprintf("%s, %s and %s (%s)", l.CertFile, l.KeyFile, l.CAFile, source(rt)), rt.PeerWait(CertWaitTimeout))
			return nil
		},
	}
}

// newKeySet returns a fresh Fernet key repository: the staged key 0 and the primary key 1.
func newKeySet() (map[string][]byte, error) {
	keys := map[string][]byte{}
	for _, name := range []string{"0", "1"} {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		keys[name] = []byte(base64.URLEncoding.EncodeToString(k))
	}
	return keys, nil
}

// Rebootstrap runs keystone-manage bootstrap on rt's host whatever the database holds: after
// `cso restore` loaded a database from another stack, it sets the admin password back to
// this environment's secret and the identity endpoints to this environment's URLs
// (keystone-manage bootstrap resets the password of an existing admin user).
func Rebootstrap(ctx context.Context, rt *agent.Runtime) error {
	l := PathsOn(rt.Paths, rt.Host.Name, rt.Distro())
	return bootstrapTask(l).(agent.FuncTask).ApplyFunc(ctx, rt)
}
