package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// Options shape one `cso local up`.
type Options struct {
	Dir string
	HA  bool
	// AppHA: two frontend and two backend hosts behind the ALB stand-in (alb.go), to show a
	// rolling release (cso app deploy --local-dir); with or without HA.
	AppHA    bool
	PortBase int
	Env      *envfile.Env
	// Out receives the progress lines and the final report.
	Out io.Writer
	Log *slog.Logger
	// Verbose: a progress line for every task that found nothing to change (-v).
	Verbose bool
	// Roles by name (default DefaultRoles()); a role missing here is reported and skipped.
	Roles map[envfile.Role]func() agent.Role
	// Executable is the cso binary services such as the admin dashboard run.
	Executable string
	DryRun     bool
}

// HostResult is what converging one host did.
type HostResult struct {
	Host     string        `json:"host"`
	Role     string        `json:"role"`
	Changed  []string      `json:"changed"`
	Error    string        `json:"error,omitempty"`
	Skipped  string        `json:"skipped,omitempty"`
	Duration time.Duration `json:"-"` // duration_ms (json.go)
	// missingRole: the role is not part of this build (nothing ran, nothing to probe).
	missingRole bool
}

// UpResult is the outcome of `cso local up`.
type UpResult struct {
	Dir   string       `json:"dir"`
	Hosts []HostResult `json:"hosts"`
	// Health is the check engine's report (`cso check -o json`) on the converged target.
	Health   *check.Report `json:"health,omitempty"`
	Duration time.Duration `json:"-"` // duration_ms (json.go)
	Changed  bool          `json:"changed"`
}

// Failed reports whether a host failed to converge or a check failed (warnings and
// skipped checks do not fail, as with `cso check`).
func (r *UpResult) Failed() bool {
	for _, h := range r.Hosts {
		if h.Error != "" {
			return true
		}
	}
	return r.Health != nil && r.Health.Failed()
}

// syncWriter serialises whole writes from the roles converging side by side.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Hosts returns the hosts of the local target described by o.
func (o Options) Hosts() []inventory.Host {
	lo := inventory.LocalOptions{HA: o.HA, PortBase: o.PortBase}
	if o.AppHA {
		lo.AppHosts = 2
	}
	return inventory.Local(o.Env, lo)
}

// mysqlHost is the pseudo-host of the local MariaDB.
func mysqlHost(portBase int) inventory.Host {
	return inventory.Host{Name: MySQLHost, Role: RoleDatabase, Index: 1, Address: "127.0.0.1", AZ: "local",
		InstanceType: "local", Ports: map[string]int{inventory.PortMySQL: inventory.LocalMySQLPort + portBase}}
}

// Up converges every host of the local target at once, then probes the endpoints.
func Up(ctx context.Context, o Options) (*UpResult, error) {
	start := time.Now()
	if o.Env == nil {
		return nil, errors.New("local up: no environment")
	}
	if o.Roles == nil {
		o.Roles = DefaultRoles()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	l, err := NewLayout(o.Dir)
	if err != nil {
		return nil, err
	}
	res := &UpResult{Dir: l.Dir}
	if !o.DryRun && os.Geteuid() == 0 {
		// Before anything is written: the daemons run as their own users.
		if err := Reachable(l.Dir); err != nil {
			return nil, err
		}
	}
	if !o.DryRun {
		if err := l.create(); err != nil {
			return nil, err
		}
	}
	hosts := o.Hosts()
	all := append([]inventory.Host{mysqlHost(o.PortBase)}, hosts...)
	out := &syncWriter{w: o.Out}
	secrets := l.Secrets()
	if !o.DryRun {
		if err := l.Target(o, hosts).Save(l.TargetFile()); err != nil {
			return nil, fmt.Errorf("write %s: %w", l.TargetFile(), err)
		}
	}
	res.Hosts = convergeAll(ctx, o, l, hosts, all, secrets, out)
	sort.SliceStable(res.Hosts, func(i, j int) bool { return hostOrder(all, res.Hosts[i].Host) < hostOrder(all, res.Hosts[j].Host) })
	for _, h := range res.Hosts {
		if len(h.Changed) > 0 {
			res.Changed = true
		}
	}
	if o.DryRun {
		res.Duration = time.Since(start)
		return res, nil
	}
	if !anyFailed(res.Hosts) {
		afterConverge(ctx, o, l, hosts, res, secrets, out)
	}
	// The crash watcher restarts a daemon that dies from now on (supervise.go); it needs
	// the cso binary, which tests that run roles in-process may not give.
	if o.Executable != "" {
		if err := l.StartWatcher(ctx, o.Executable); err != nil {
			res.Hosts = append(res.Hosts, HostResult{Host: "local", Error: "start the crash watcher: " + err.Error()})
		}
	}
	res.Duration = time.Since(start)
	t := l.Target(o, hosts)
	t.LastDeploy = filepath.Join(l.Dir, "last-up.json")
	if data, err := json.MarshalIndent(res, "", "  "); err == nil {
		_ = os.WriteFile(t.LastDeploy, append(data, '\n'), 0o644)
	}
	if err := t.Save(l.TargetFile()); err != nil {
		return res, fmt.Errorf("write %s: %w", l.TargetFile(), err)
	}
	return res, nil
}

// convergeAll converges every host at once: each role waits, bounded and visibly, for what
// it needs (LLD 2.4.3: certificates and database users from the jump host, Keystone and
// RabbitMQ for the application hosts), so independent work overlaps (the CA key is
// generated while RabbitMQ boots). A failed host cancels the others: they would only wait
// for it until their timeouts. Only `down` orders hosts in stages.
func convergeAll(ctx context.Context, o Options, l Layout, hosts, all []inventory.Host, secrets *agent.LocalSecrets, out io.Writer) []HostResult {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []HostResult
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, h := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr := convergeHost(ctx, o, l, hosts, h, secrets, out)
			if hr.Error != "" {
				cancel()
			}
			mu.Lock()
			results = append(results, hr)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// afterConverge runs once every host converged: the operator's admin-openrc, the ALB
// stand-in of --app-ha, and the closing check of the hosts whose role ran.
func afterConverge(ctx context.Context, o Options, l Layout, hosts []inventory.Host, res *UpResult, secrets *agent.LocalSecrets, out io.Writer) {
	if err := writeAdminRC(ctx, l, o, hosts, secrets); err != nil {
		res.Hosts = append(res.Hosts, HostResult{Host: "local", Error: err.Error()})
	}
	// Probe only the hosts whose role ran: a role missing from this build is reported
	// as skipped above, not as a red probe.
	var probed []inventory.Host
	for _, h := range hosts {
		for _, hr := range res.Hosts {
			if hr.Host == h.Name && !hr.missingRole {
				probed = append(probed, h)
			}
		}
	}
	if o.AppHA {
		alb := ALB{L: l, Hosts: hosts, PortBase: o.PortBase}
		if err := alb.Up(ctx, o.Env, out); err != nil {
			res.Hosts = append(res.Hosts, HostResult{Host: ALBHost, Role: ALBHost, Error: err.Error()})
		} else {
			fmt.Fprintf(out, "%s ALB stand-in on %s (/ui/* and / to the frontends, /api/idm/* to Keystone, /admin/* to the jump server)\n", time.Now().UTC().Format(time.RFC3339), alb.URL())
		}
	}
	res.Health = closingCheck(ctx, l.Target(o, hosts), probed)
}

func anyFailed(hs []HostResult) bool {
	for _, h := range hs {
		if h.Error != "" {
			return true
		}
	}
	return false
}

func hostOrder(all []inventory.Host, name string) int {
	for i, h := range all {
		if h.Name == name {
			return i
		}
	}
	return len(all)
}

func contains(rs []envfile.Role, r envfile.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// ProgressLog is the progress log of a host's role (LLD 6.2: keystone-setup-progress.log,
// rabbitmq-setup-progress.log, ...).
func ProgressLog(p agent.Paths, r envfile.Role) string { return agent.ProgressLog(p, r) }

func convergeHost(ctx context.Context, o Options, l Layout, hosts []inventory.Host, h inventory.Host, secrets *agent.LocalSecrets, out io.Writer) HostResult {
	start := time.Now()
	hr := HostResult{Host: h.Name, Role: string(h.Role)}
	var role agent.Role
	if h.Role == RoleDatabase {
		role = Database(h.Ports[inventory.PortMySQL], pki.Store{Dir: l.SSLCerts()})
	} else if mk, ok := o.Roles[h.Role]; ok {
		role = mk()
	} else {
		hr.Skipped, hr.missingRole = "role "+string(h.Role)+" is not part of this build", true
		fmt.Fprintf(out, "%s %s skipped: %s\n", time.Now().UTC().Format(time.RFC3339), h.Name, hr.Skipped)
		return hr
	}
	progress := io.Writer(out)
	rt := l.Runtime(o.Env, hosts, h, o.PortBase, nil, o.DryRun)
	rt.Secrets = secrets
	rt.Log = o.Log
	rt.Verbose = o.Verbose
	rt.Executable = o.Executable
	rt.TargetFile = l.TargetFile()
	if !o.DryRun {
		if err := os.MkdirAll(rt.Paths.Log, 0o755); err != nil {
			hr.Error = err.Error()
			return hr
		}
		f, err := os.OpenFile(ProgressLog(rt.Paths, h.Role), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			hr.Error = err.Error()
			return hr
		}
		defer f.Close()
		progress = io.MultiWriter(f, out)
	}
	rt.Progress = progress
	var store status.Store
	if h.Role != RoleDatabase {
		store = l.Store()
	}
	r, err := agent.Run(ctx, rt, role, store)
	hr.Changed = r.Changed
	hr.Skipped = strings.Join(r.Skipped, "; ")
	hr.Duration = time.Since(start)
	if err != nil {
		hr.Error = err.Error()
	}
	return hr
}

// Target describes the local target for checks and the dashboard.
func (l Layout) Target(o Options, hosts []inventory.Host) *target.Target {
	t := &target.Target{
		Env: o.Env.Name, Kind: "local", Hosts: hosts,
		CACert:           pki.Store{Dir: l.SSLCerts()}.CACert(),
		MySQL:            MySQLAddr(o.PortBase),
		StatusDir:        l.StatusDir(),
		SharedDir:        filepath.Join(l.Dir, "shared"),
		SecretsDir:       l.SecretsDir(),
		HostDirs:         map[string]string{MySQLHost: l.HostRoot(MySQLHost)},
		Logs:             map[string][]string{MySQLHost: {filepath.Join(l.Paths(MySQLHost).Log, "mariadb.log")}},
		BackupDir:        l.BackupsDir(),
		BackupIntervalMS: jsondur.Millis(o.Env.BackupSettings().Interval),
	}
	t.AppHealth = appHealth(o.Env)
	for _, h := range hosts {
		p := l.Paths(h.Name)
		t.HostDirs[h.Name] = p.Root
		t.Logs[h.Name] = []string{ProgressLog(p, h.Role)}
		if h.Role == envfile.RoleKeystone {
			if t.FernetKeyDirs == nil {
				t.FernetKeyDirs = map[string]string{}
			}
			t.FernetKeyDirs[h.Name] = filepath.Join(p.Etc, "keystone", "fernet-keys")
			t.Logs[h.Name] = append(t.Logs[h.Name], filepath.Join(p.Log, "keystone", "keystone.log"), filepath.Join(p.Log, "httpd", "keystone.log"))
		}
		if h.Role == envfile.RoleJump {
			t.Logs[h.Name] = append(t.Logs[h.Name], filepath.Join(p.Log, "efs-s3-sync.log"))
		}
	}
	return t
}

// keystoneURL is the public Keystone endpoint of the local target (keystone01).
func keystoneURL(hosts []inventory.Host) string {
	for _, h := range hosts {
		if h.Role == envfile.RoleKeystone {
			return fmt.Sprintf("https://%s:%d/v3", h.FQDN, h.Ports[inventory.PortKeystone])
		}
	}
	return ""
}

// writeAdminRC writes the Keystone admin credentials for the operator (0600); they are
// never printed.
func writeAdminRC(ctx context.Context, l Layout, o Options, hosts []inventory.Host, secrets *agent.LocalSecrets) error {
	if _, ok := o.Roles[envfile.RoleKeystone]; !ok {
		return nil
	}
	pw, err := secrets.Get(ctx, agent.SecretKeystoneAdmin)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Keystone admin credentials of the local target %s (generated; keep this file 0600).\n", l.Dir)
	fmt.Fprintf(&b, "# Keystone nodes (the catalog names the first; every certificate also names localhost):\n")
	for _, h := range hosts {
		if h.Role == envfile.RoleKeystone {
			fmt.Fprintf(&b, "#   %s = https://localhost:%d/v3\n", h.Name, h.Ports[inventory.PortKeystone])
		}
	}
	u := keystoneURL(hosts)
	for _, h := range hosts {
		if h.Role == envfile.RoleKeystone {
			u = fmt.Sprintf("https://localhost:%d/v3", h.Ports[inventory.PortKeystone])
			break
		}
	}
	fmt.Fprintf(&b, "export OS_AUTH_URL=%s\nexport OS_IDENTITY_API_VERSION=3\nexport OS_USERNAME=admin\nexport OS_PASSWORD=%s\n", u, pw)
	fmt.Fprintf(&b, "export OS_PROJECT_NAME=admin\nexport OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\n")
	fmt.Fprintf(&b, "export OS_CACERT=%s\n", pki.Store{Dir: l.SSLCerts()}.CACert())
	f := agent.File{Path: l.AdminRC(), Content: []byte(b.String()), Mode: 0o600, Secret: true}
	c, err := f.Check(ctx, nil)
	if err != nil || !c.Needed {
		return err
	}
	return f.Apply(ctx, nil)
}

// DaemonUsers are the users the local target's daemons run as when cso runs as root:
// MariaDB, Keystone's WSGI processes, RabbitMQ, nginx's workers, the application services.
var DaemonUsers = []string{"mysql", "keystone", "rabbitmq", "www-data", "nobody"}

// UnreachableError says that a daemon user cannot reach the local target's directory: a
// usage error (choose another directory or open this one), found before anything is written.
type UnreachableError struct {
	User, Dir, Blocker string
	Mode               os.FileMode
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("user %s (a daemon of the local target) cannot reach %s: %s is mode %04o, which gives %s no search (x) permission; chmod o+x %s (mktemp -d makes 0700 directories), or choose another --local-dir",
		e.User, e.Dir, e.Blocker, e.Mode.Perm(), e.User, e.Blocker)
}

// Reachable checks that every daemon user that exists on this machine can search dir
// (when it exists) and every directory above it, as the kernel decides: owner, then
// group, then others' x bit. Directories still to be made are made 0755 by up.
func Reachable(dir string) error {
	for _, name := range DaemonUsers {
		u, err := user.Lookup(name)
		if err != nil {
			continue // not installed: nothing of the stack runs as it
		}
		uid, _ := strconv.Atoi(u.Uid)
		gids := map[uint32]bool{}
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.Atoi(g); err == nil {
					gids[uint32(n)] = true
				}
			}
		}
		for p := dir; ; p = filepath.Dir(p) {
			st, err := os.Stat(p)
			if err == nil {
				if !searchable(st, uint32(uid), gids) {
					return &UnreachableError{User: name, Dir: dir, Blocker: p, Mode: st.Mode()}
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return nil
}

// searchable reports whether uid (with groups gids) may search the directory st.
func searchable(st os.FileInfo, uid uint32, gids map[uint32]bool) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := st.Mode().Perm()
	switch {
	case uid == 0:
		return true
	case sys.Uid == uid:
		return perm&0o100 != 0
	case gids[sys.Gid]:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// appHealth maps each application service's port name to its manifest's health path, from
// the environment's package; nil when there is none or it cannot be opened (the hosts'
// setup reports that).
func appHealth(env *envfile.Env) map[string]string { return apppkg.HealthPaths(env) }
