package apppkg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
	"github.com/cso-ssp/platform/internal/pki"
)

// What the frontend and backend roles share: they host services of the application
// package. This file plans their steps: the package (located, verified, unpacked), the
// dependencies of LLD 2.4.3 (Keystone and RabbitMQ answer) and the services themselves.

// Locate returns the package file of the environment on this host: application.package
// as a local path (relative to the environment file's directory), or for s3://bucket/key,
// and on an EC2 host for a local path that cso deploy published, the copy the jump server
// syncs into <Scripts>/packages/ (LLD 5.3). ErrNotConfigured when
// the environment names no package.
func Locate(env *envfile.Env, p agent.Paths) (string, error) {
	loc := strings.TrimSpace(env.Application.Package)
	switch {
	case loc == "":
		return "", ErrNotConfigured
	case strings.HasPrefix(loc, "s3://"):
		key := strings.TrimPrefix(loc, "s3://")
		_, obj, ok := strings.Cut(key, "/")
		if !ok || obj == "" || strings.HasSuffix(obj, "/") {
			return "", fmt.Errorf("application.package %q: expected s3://bucket/key of a .tar.gz", loc)
		}
		return filepath.Join(p.Scripts, "packages", path.Base(obj)), nil
	case strings.HasPrefix(env.Path, "s3://"):
		// An EC2 host read its env file from the bucket: the local path was the operator's,
		// and cso deploy published that file as packages/<name>, which the jump server
		// copies into <Scripts>/packages.
		return filepath.Join(p.Scripts, "packages", filepath.Base(loc)), nil
	case filepath.IsAbs(loc):
		return loc, nil
	default:
		base := "."
		if env.Path != "" {
			base = filepath.Dir(env.Path)
		}
		return filepath.Abs(filepath.Join(base, loc))
	}
}

// SkipError is the answer of a step that does not apply to the host, e.g. no application
// package configured. It is not a failure: the engine publishes the step as skipped with
// Reason (status.StateSkipped) when it supports that (see docs/decisions/roles.md).
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return e.Reason }

// Skip returns the reason, so that callers can test errors.As(err, &interface{ Skip() string }).
func (e *SkipError) Skip() string { return e.Reason }

// NoPackageTask reports that there is nothing of the application to run on this host.
// It is never green: its check answers a SkipError.
func NoPackageTask(env *envfile.Env, role envfile.Role) agent.Task {
	file := env.Path
	if file == "" {
		file = "the environment file"
	}
	reason := fmt.Sprintf("no application package: the %s services are not installed (set application.package in %s)", role, file)
	return agent.FuncTask{
		TaskName: "application package",
		CheckFunc: func(context.Context, *agent.Runtime) (agent.Change, error) {
			return agent.Change{}, &SkipError{Reason: reason}
		},
		ApplyFunc: func(context.Context, *agent.Runtime) error { return &SkipError{Reason: reason} },
		// Rendered with the env file's base name: the rendering must not depend on where
		// it was made from.
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			name := "the environment file"
			if env.Path != "" {
				name = filepath.Base(env.Path)
			}
			r.Note("skipped, nothing installed: no application package, the %s services are not installed (application.package is not set in %s)", role, name)
			return nil
		},
	}
}

// HostOptions bound the waits of an application host. Unset bounds take the platform's
// defaults (Defaults).
type HostOptions struct {
	PackageWait    time.Duration // for the jump server to sync the package (10 min; EC2: agent.PeerWaitEC2)
	DependencyWait time.Duration // for Keystone and RabbitMQ (10 min; EC2: agent.PeerWaitEC2)
	ServiceReady   time.Duration // for each service's health path (3 min)
	// RestartWait bounds the wait for the restart lease held by another host (20 min);
	// RestartStale is the age after which a held restart lease is taken over, its holder
	// taken for dead (15 min: longer than a stop, a start and ServiceReady).
	RestartWait, RestartStale time.Duration
}

// Defaults returns o with every unset bound set to rt's default: 10 minutes for the waits
// on other hosts locally, agent.PeerWaitEC2 on Amazon Linux.
func (o HostOptions) Defaults(rt *agent.Runtime) HostOptions {
	peer := rt.PeerWait(10 * time.Minute)
	if o.PackageWait <= 0 {
		o.PackageWait = peer
	}
	if o.DependencyWait <= 0 {
		o.DependencyWait = peer
	}
	if o.ServiceReady <= 0 {
		o.ServiceReady = 3 * time.Minute
	}
	if o.RestartStale <= 0 {
		o.RestartStale = 15 * time.Minute
	}
	if o.RestartWait <= 0 {
		// Longer than the stale bound: a waiter outlives a dead holder's lease.
		o.RestartWait = o.RestartStale + 5*time.Minute
	}
	return o
}

// App is the application package as one host's run sees it: opened once, on first need.
type App struct {
	rt       *agent.Runtime
	File     string
	want     string // the checksum the release record names, if any
	mu       sync.Mutex
	pkg      *Package
	bindings *Bindings
}

// Bindings renders the bindings the package's manifest asks for (once per run): the
// bindings step writes them, the services receive their environment and restart when
// they change.
func (a *App) Bindings(ctx context.Context) (*Bindings, error) {
	p, err := a.Package()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bindings != nil {
		return a.bindings, nil
	}
	b, err := RenderBindings(ctx, a.rt, p.Manifest.Bindings)
	if err != nil {
		return nil, err
	}
	a.bindings = b
	return b, nil
}

// BindingSteps writes the host's bindings (docs/application-packages.md) for the services'
// own user, which it creates when the agent is root.
func (a *App) BindingSteps() []agent.Step {
	var tasks []agent.Task
	if os.Geteuid() == 0 {
		tasks = append(tasks, agent.SystemUser{User: BindingsUser, Home: "/nonexistent", Comment: "CSO application services"})
	}
	tasks = append(tasks, &lazyBindings{app: a})
	return []agent.Step{{Name: "application bindings", Tasks: tasks}}
}

// lazyBindings builds its tasks when first checked: the package names the bindings, and it
// may only arrive during the run.
type lazyBindings struct {
	app   *App
	tasks []agent.Task
}

func (l *lazyBindings) Name() string { return "application bindings" }

func (l *lazyBindings) build(ctx context.Context) error {
	if l.tasks != nil {
		return nil
	}
	b, err := l.app.Bindings(ctx)
	if err != nil {
		return err
	}
	l.tasks = BindingTasks(b, ServiceUser())
	return nil
}

// Render implements agent.Renderer.
func (l *lazyBindings) Render(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	return fmt.Errorf("%w: the bindings written under %s (0700, files 0600 for user %s) are those the package's manifest (%s) lists, which a rendering does not open", agent.ErrNeedsLiveHost, BindingsRoot(rt.Paths), BindingsUser, ManifestName)
}

func (l *lazyBindings) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	if err := l.build(ctx); err != nil {
		if rt.DryRun {
			return agent.Change{Needed: true, Summary: "write the application's bindings under " + BindingsRoot(rt.Paths) + " (" + err.Error() + ")"}, nil
		}
		return agent.Change{}, err
	}
	var summaries []string
	for _, t := range l.tasks {
		c, err := t.Check(ctx, rt)
		if err != nil {
			return agent.Change{}, err
		}
		if c.Needed {
			// Never the content: these are secrets. The file names say what changes.
			summaries = append(summaries, t.Name())
		}
	}
	if len(summaries) == 0 {
		return agent.NoChange, nil
	}
	return agent.Change{Needed: true, Summary: "update " + strings.Join(summaries, ", ")}, nil
}

func (l *lazyBindings) Apply(ctx context.Context, rt *agent.Runtime) error {
	if err := l.build(ctx); err != nil {
		return err
	}
	for _, t := range l.tasks {
		c, err := t.Check(ctx, rt)
		if err != nil {
			return err
		}
		if !c.Needed {
			continue
		}
		if err := t.Apply(ctx, rt); err != nil {
			return fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	return nil
}

// NewApp locates the package for rt: the one the release record gives the host (`cso app
// deploy`, release.go), else the env file's (ErrNotConfigured when there is none).
func NewApp(rt *agent.Runtime) (*App, error) {
	ref, file, err := releasedPackage(rt)
	if err != nil {
		return nil, err
	}
	if ref != nil {
		return &App{rt: rt, File: file, want: ref.SHA256}, nil
	}
	file, err = Locate(rt.Env, rt.Paths)
	if err != nil {
		return nil, err
	}
	return &App{rt: rt, File: file}, nil
}

// Package opens and verifies the package file (once per run).
func (a *App) Package() (*Package, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pkg != nil {
		return a.pkg, nil
	}
	p, err := Open(a.File)
	if err != nil {
		return nil, err
	}
	if a.want != "" && p.SHA256 != a.want {
		return nil, fmt.Errorf("%s has checksum %s but the release record (%s) names %s: not the released package", a.File, short(p.SHA256), ReleaseKey, short(a.want))
	}
	a.pkg = p
	return p, nil
}

// Root is where packages are unpacked on this host: <Data>/cso-app/<version>-<sum>.
func (a *App) Root() string { return filepath.Join(a.rt.Paths.Data, "cso-app") }

// Dir is the directory of the opened package.
func (a *App) Dir(p *Package) string { return filepath.Join(a.Root(), p.ID()) }

// PackageSteps waits for the package file (synced by the jump server on AWS), verifies it
// and unpacks it into its own directory (once per checksum; a new package gets a new
// directory and restarts the services).
func (a *App) PackageSteps(o HostOptions) []agent.Step {
	o = o.Defaults(a.rt)
	return []agent.Step{{Name: "application package", Tasks: []agent.Task{
		agent.WaitFiles{What: "application package " + a.File, Paths: []string{a.File}, Timeout: o.PackageWait},
		agent.FuncTask{
			TaskName: "unpack application package",
			CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
				if _, err := os.Stat(a.File); err != nil && rt.DryRun {
					return agent.Change{Needed: true, Summary: "verify and unpack " + a.File + " (not there yet)"}, nil
				}
				p, err := a.Package()
				if err != nil {
					return agent.Change{}, err
				}
				if p.Installed(a.Dir(p)) {
					return agent.NoChange, nil
				}
				return agent.Change{Needed: true, Summary: fmt.Sprintf("unpack application package %s %s into %s", p.Manifest.Name, p.Manifest.Version, a.Dir(p))}, nil
			},
			ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
				p, err := a.Package()
				if err != nil {
					return err
				}
				dir := a.Dir(p)
				if _, err := os.Stat(dir); err == nil {
					// Left by an interrupted run without its checksum marker: redo it.
					if err := os.RemoveAll(dir); err != nil {
						return err
					}
				}
				return p.Unpack(dir)
			},
			RenderFunc: func(context.Context, *agent.Runtime, *agent.Rendering) error {
				return fmt.Errorf("%w: the files unpacked, and their directory (named by the package's checksum), are the package's, which a rendering does not open", agent.ErrNeedsLiveHost)
			},
		},
	}}}
}

// DependencySteps waits, bounded and with visible progress, for what the application
// needs (LLD 2.4.3): Keystone's API and RabbitMQ's vhost for ssp_user, over TLS verified
// against the project CA. One answering node of each suffices: the application reaches the
// service, not a particular node.
func DependencySteps(rt *agent.Runtime, o HostOptions) []agent.Step {
	o = o.Defaults(rt)
	var tasks []agent.Task
	if ks := inventory.ByRole(rt.Hosts, envfile.RoleKeystone); len(ks) > 0 {
		tasks = append(tasks, depTask("Keystone", ks, o.DependencyWait, ProbeKeystone))
	}
	if mq := inventory.ByRole(rt.Hosts, envfile.RoleRabbitMQ); len(mq) > 0 {
		tasks = append(tasks, depTask("RabbitMQ", mq, o.DependencyWait, ProbeRabbitMQ))
	}
	return []agent.Step{{Name: "dependencies", Tasks: tasks}}
}

// Probe checks one dependency host.
type Probe func(ctx context.Context, rt *agent.Runtime, h inventory.Host, roots *x509.CertPool) error

func depTask(what string, hosts []inventory.Host, wait time.Duration, probe Probe) agent.Task {
	probeAny := func(ctx context.Context, rt *agent.Runtime) error {
		roots, err := CAPool(rt.Paths)
		if err != nil {
			return err
		}
		var errs []string
		for _, h := range hosts {
			err := probe(ctx, rt, h, roots)
			if err == nil {
				return nil
			}
			errs = append(errs, h.Name+": "+err.Error())
		}
		return errors.New(strings.Join(errs, "; "))
	}
	return agent.FuncTask{
		TaskName: "wait for " + what,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			if err := probeAny(ctx, rt); err != nil {
				return agent.Change{Needed: true, Summary: fmt.Sprintf("wait up to %s for %s (%v)", wait, what, err)}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			return agent.WaitFor(ctx, rt, what, wait, func(ctx context.Context) error { return probeAny(ctx, rt) })
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			names := make([]string, len(hosts))
			for i, h := range hosts {
				names[i] = h.Name
			}
			r.NoteWait(what+" to answer on one of "+strings.Join(names, ", "), wait)
			return nil
		},
	}
}

// CAPool reads the project CA from the shared certificate store.
func CAPool(p agent.Paths) (*x509.CertPool, error) {
	pool, err := pki.PoolFile(filepath.Join(p.SSLCerts, "ca", "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("project CA: %w (the jump server writes it)", err)
	}
	return pool, nil
}

// HostAddr is where other hosts reach h: its address locally, its FQDN on AWS.
func HostAddr(h inventory.Host) string {
	if ip := net.ParseIP(h.Address); ip != nil && ip.IsLoopback() {
		return h.Address
	}
	return h.FQDN
}

// ProbeKeystone answers nil when Keystone's identity API on h returns its version document
// (GET /v3, 200) over TLS verified against roots.
func ProbeKeystone(ctx context.Context, _ *agent.Runtime, h inventory.Host, roots *x509.CertPool) error {
	port := h.Ports[inventory.PortKeystone]
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}}
	return agent.HTTPGetOK(ctx, c, "https://"+net.JoinHostPort(HostAddr(h), strconv.Itoa(port))+"/v3")
}

// ProbeRabbitMQ answers nil when ssp_user logs in to vhost ssp on h over AMQPS verified
// against roots: the broker runs and the rabbitmq role has set up the application's access.
func ProbeRabbitMQ(ctx context.Context, rt *agent.Runtime, h inventory.Host, roots *x509.CertPool) error {
	pass, err := secretValue(ctx, rt, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(HostAddr(h), strconv.Itoa(h.Ports[inventory.PortAMQPS]))
	conn, err := amqp.DialConfig("amqps://"+addr+"/", amqp.Config{
		SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: "ssp_user", Password: pass}},
		Vhost:           "ssp",
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: HostAddr(h), MinVersion: tls.VersionTLS12},
		Dial:            amqp.DefaultDial(5 * time.Second),
	})
	if err != nil {
		return fmt.Errorf("AMQPS %s as ssp_user: %w", addr, err)
	}
	return conn.Close()
}

// ServiceUser is the account application services run as: their own (BindingsUser, which
// the bindings step creates) when the agent is root, so that they alone read their bindings;
// else the agent's own user.
func ServiceUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	return BindingsUser
}

// ServiceSteps runs the package's services of role on this host, side by side, each ready
// when its health path answers 200.
func (a *App) ServiceSteps(role envfile.Role, o HostOptions) []agent.Step {
	o = o.Defaults(a.rt)
	return []agent.Step{{Name: "application services", Tasks: []agent.Task{&lazyServices{app: a, role: role, o: o}}}}
}

// ApplicationLog names the one file (under <Log>/cso) that receives the output of every
// application service of a host on al2023.
const ApplicationLog = "application"

// ServiceSpecs builds the platform services of role from the opened package p.
func (a *App) ServiceSpecs(p *Package, role envfile.Role, o HostOptions) ([]agent.ServiceSpec, error) {
	o = o.Defaults(a.rt)
	rt := a.rt
	dir := a.Dir(p)
	bind := "0.0.0.0"
	local := false
	if ip := net.ParseIP(rt.Host.Address); ip != nil && ip.IsLoopback() {
		bind, local = rt.Host.Address, true
	}
	b, err := a.Bindings(context.Background())
	if err != nil {
		return nil, err
	}
	var specs []agent.ServiceSpec
	for _, s := range p.Manifest.ServicesOf(role) {
		port := rt.Host.Ports[s.PortKey()]
		if port == 0 {
			return nil, fmt.Errorf("host %s has no port %s for service %s in the inventory", rt.Host.Name, s.PortKey(), s.Name)
		}
		vars := map[string]string{"APP_DIR": dir, "PORT": strconv.Itoa(port), "BIND": bind, "NAME": s.Name}
		cmd := make([]string, len(s.Command))
		for i, c := range s.Command {
			cmd[i] = Expand(c, vars)
		}
		if !filepath.IsAbs(cmd[0]) && strings.Contains(cmd[0], "/") {
			cmd[0] = filepath.Join(dir, cmd[0])
		}
		env := []string{"APP_DIR=" + dir, "PORT=" + vars["PORT"], "BIND=" + bind, "SERVICE_NAME=" + s.Name}
		for k, v := range s.Env {
			env = append(env, k+"="+Expand(v, vars))
		}
		// The bindings' names and addresses; their secrets stay in files.
		env = append(env, b.Env...)
		sort.Strings(env)
		name := "cso-" + s.Name
		if local {
			name = fmt.Sprintf("%s-%s-%s", rt.Host.Name, s.Name, rt.Paths.StackID())
		}
		health := "http://" + net.JoinHostPort(bind4probe(bind), strconv.Itoa(port)) + s.HealthPath
		specs = append(specs, agent.ServiceSpec{
			Name: name, Command: cmd, Env: env, User: ServiceUser(), Dir: dir,
			// A binding's secret or certificate that changes (rotation, renewal, restore)
			// restarts the services: the platform hashes these files at each start.
			ConfigFiles: b.Paths(),
			// Every application service of the host writes to one file, which the CloudWatch
			// agent ships (log group /cso/<env>/application, internal/cwagent).
			LogFile:      agent.ServiceLog(rt.Paths, ApplicationLog),
			Ready:        func(ctx context.Context) error { return HealthCheck(ctx, health) },
			ReadyTimeout: o.ServiceReady,
			StopTimeout:  30 * time.Second,
		})
	}
	return specs, nil
}

func bind4probe(bind string) string {
	if bind == "0.0.0.0" {
		return "127.0.0.1"
	}
	return bind
}

// HealthCheck answers nil when GET url returns 200.
func HealthCheck(ctx context.Context, url string) error {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return agent.HTTPGetOK(ctx, c, url)
}

// lazyServices builds its service tasks when first checked: the package may only arrive
// (and be verified) during the run.
type lazyServices struct {
	app   *App
	role  envfile.Role
	o     HostOptions
	specs []agent.ServiceSpec
	tasks []agent.Task
}

func (l *lazyServices) Name() string { return "application services (" + string(l.role) + ")" }

func (l *lazyServices) build(rt *agent.Runtime) error {
	if l.tasks != nil {
		return nil
	}
	p, err := l.app.Package()
	if err != nil {
		return err
	}
	specs, err := l.app.ServiceSpecs(p, l.role, l.o)
	if err != nil {
		return err
	}
	for _, s := range specs {
		l.tasks = append(l.tasks, rt.Platform.Service(s))
	}
	l.specs = specs
	return nil
}

// Render implements agent.Renderer: the services are the manifest's.
func (l *lazyServices) Render(context.Context, *agent.Runtime, *agent.Rendering) error {
	return fmt.Errorf("%w: the services, their commands and ports are those of the package's manifest (%s), which a rendering does not open", agent.ErrNeedsLiveHost, ManifestName)
}

func (l *lazyServices) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	if err := l.build(rt); err != nil {
		if rt.DryRun {
			return agent.Change{Needed: true, Summary: "start the " + string(l.role) + " services of the application package"}, nil
		}
		return agent.Change{}, err
	}
	return agent.Parallel{TaskName: l.Name(), Tasks: l.tasks}.Check(ctx, rt)
}

func (l *lazyServices) Apply(ctx context.Context, rt *agent.Runtime) error {
	if err := l.build(rt); err != nil {
		return err
	}
	restarts, err := l.restarts(ctx, rt)
	if err != nil {
		return err
	}
	if len(restarts) == 0 {
		if err := (agent.Parallel{TaskName: l.Name(), Tasks: l.tasks}).Apply(ctx, rt); err != nil {
			return err
		}
		// Every service is up: a restart lease this host kept from a failed run (a
		// rollback put the previous version back on stopped services) is released.
		releaseOwnLease(ctx, rt)
		return nil
	}
	release, err := takeRestartLease(ctx, rt, restarts, l.o)
	if err != nil {
		return err
	}
	if err := (agent.Parallel{TaskName: l.Name(), Tasks: l.tasks}).Apply(ctx, rt); err != nil {
		// Kept: the other hosts do not restart into what broke this one (as a rollout
		// stops at a failing host). This host's next run takes it back; the others take
		// it over once it is RestartStale old.
		rt.Progressf("  keeping the restart lease %s: the restart failed", lease.RestartKey)
		return err
	}
	release()
	return nil
}

// restarts names the services this run restarts: running, and changed (a binding's
// secret or certificate, a new package). A service that does not run serves nobody and
// starts without waiting for anyone (a new host, a boot).
func (l *lazyServices) restarts(ctx context.Context, rt *agent.Runtime) ([]string, error) {
	var names []string
	for i, t := range l.tasks {
		c, err := t.Check(ctx, rt)
		if err != nil {
			return nil, err
		}
		if !c.Needed {
			continue
		}
		running, err := rt.Platform.Running(ctx, l.specs[i].Name)
		if err != nil {
			return nil, err
		}
		if running {
			names = append(names, l.specs[i].Name)
		}
	}
	return names, nil
}

// releaseOwnLease releases the restart lease if this host holds it (kept by an earlier
// failed run); it only logs a failure: the others take a stale lease over anyway.
func releaseOwnLease(ctx context.Context, rt *agent.Runtime) {
	store, err := lease.ForBucket(rt.Bucket)
	if err != nil {
		return
	}
	released, err := lease.ReleaseHeldBy(ctx, store, lease.RestartKey, rt.Host.Name, time.Now())
	switch {
	case err != nil:
		rt.Progressf("  the restart lease %s/%s: %v", store.Describe(), lease.RestartKey, err)
	case released:
		rt.Progressf("  released the restart lease %s/%s kept by this host's failed run: its services are up", store.Describe(), lease.RestartKey)
	}
}

// takeRestartLease takes the environment's restart lease (lease.RestartKey) before this
// host restarts running services, so that the application hosts restart one at a time
// and the others keep serving. It waits (bounded by o.RestartWait, naming the holder) and
// takes over a lease older than o.RestartStale, or left by this host's own failed run.
// The returned function releases it, once the services passed their health paths (the
// service tasks wait for them).
func takeRestartLease(ctx context.Context, rt *agent.Runtime, services []string, o HostOptions) (func(), error) {
	store, err := lease.ForBucket(rt.Bucket)
	if err != nil {
		// No shared bucket to coordinate through (an agent run by hand without one).
		rt.Progressf("  restarting %s without the restart lease: %v", strings.Join(services, ", "), err)
		return func() {}, nil
	}
	purpose := "restart " + strings.Join(services, ", ")
	l, err := lease.Acquire(ctx, store, lease.RestartKey, rt.Host.Name, purpose, lease.WaitOptions{
		StaleAfter: o.RestartStale, Wait: o.RestartWait, Poll: 2 * time.Second, Reentrant: true,
		Logf: func(f string, args ...any) { rt.Progressf("  "+f, args...) },
	})
	if err != nil {
		return nil, fmt.Errorf("restart of %s: %w", strings.Join(services, ", "), err)
	}
	rt.Progressf("  took the restart lease %s/%s: restarting %s", store.Describe(), lease.RestartKey, strings.Join(services, ", "))
	return func() {
		if err := l.Release(context.WithoutCancel(ctx), time.Now()); err != nil {
			rt.Progressf("  %v", err)
			return
		}
		rt.Progressf("  released the restart lease %s/%s", store.Describe(), lease.RestartKey)
	}, nil
}

// secretValue returns a generated secret; a dry run only looks (it must not generate one).
func secretValue(ctx context.Context, rt *agent.Runtime, name string) (string, error) {
	v, found, err := rt.Secret(ctx, name)
	if err == nil && !found {
		err = fmt.Errorf("secret %s is not generated yet", name)
	}
	return v, err
}

// ConfiguredName is the application name of env's configured package (its manifest's
// name), "" when the package is not a file this machine has or cannot be opened.
func ConfiguredName(env *envfile.Env) string {
	p := configured(env)
	if p == nil {
		return ""
	}
	return p.Manifest.Name
}

// configured opens env's configured package when it is a file on this machine.
func configured(env *envfile.Env) *Package {
	if strings.Contains(env.Application.Package, "://") {
		return nil
	}
	file, err := Locate(env, agent.Paths{})
	if err != nil {
		return nil
	}
	p, err := Open(file)
	if err != nil {
		return nil
	}
	return p
}

// HealthPaths maps each application service of env's configured package (its inventory
// port name) to its manifest's health path, for the target description's app_health, from
// which cso check reads each service's bindings. nil when the package is not a file this
// machine has (none set, or an s3:// location: the operator's machine does not download
// it) or cannot be opened (the deploy and the hosts' setup report that).
func HealthPaths(env *envfile.Env) map[string]string {
	p := configured(env)
	if p == nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range p.Manifest.Services {
		out[s.PortKey()] = s.HealthPath
	}
	return out
}
