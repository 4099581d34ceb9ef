package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/roles/jump"
)

// The ALB stand-in of the local target (cso local up --app-ha): nginx on its own
// pseudo-host tree (<dir>/hosts/alb), HTTPS with a certificate of the project CA, routing
// as the Terraform listener rules do (terraform/modules/networking): /api/idm/* to the
// Keystone nodes, /admin/* to the jump server, everything else (the HTTPS listener's default
// action, /ui/* included) to the frontends' nginx. Cognito is not stood in. A rolling
// release drains a frontend from it: the frontend leaves the upstream list, nginx reloads,
// and the old workers finish their in-flight requests before the host is touched.

// ALBHost is the name of the stand-in's pseudo-host tree and certificate.
const ALBHost = "alb"

// ALBPort is the stand-in's HTTPS port before the port base (443 is privileged and
// taken on a developer's machine).
const ALBPort = 8443

// ALBDrainTimeout bounds the wait for a reload's old workers (their in-flight requests);
// the Terraform target groups' deregistration_delay is 300 s.
const ALBDrainTimeout = 300 * time.Second

// ALB is the stand-in of one local target.
type ALB struct {
	L        Layout
	Hosts    []inventory.Host
	PortBase int
}

func (a ALB) paths() agent.Paths { return a.L.Paths(ALBHost) }
func (a ALB) conf() string       { return filepath.Join(a.paths().Etc, "nginx", "nginx.conf") }

// upstreams is the file of the frontend upstream, rewritten to drain a host.
func (a ALB) upstreams() string { return filepath.Join(a.paths().Etc, "nginx", "frontends.conf") }
func (a ALB) pidFile() string   { return filepath.Join(a.paths().Run, "nginx", "nginx.pid") }
func (a ALB) drained() string   { return filepath.Join(a.paths().Data, "drained") }

// Addr is where the stand-in listens.
func (a ALB) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ALBPort+a.PortBase)) }

// URL is the stand-in's base URL (its certificate names 127.0.0.1 and alb.<domain>).
func (a ALB) URL() string { return "https://" + a.Addr() }

func (a ALB) serviceName() string {
	return fmt.Sprintf("%s-nginx-%s", ALBHost, a.paths().StackID())
}

func hostPort(h inventory.Host, name string) string {
	return net.JoinHostPort(h.Address, strconv.Itoa(h.Ports[name]))
}

// renderUpstreams lists the frontends that are not drained.
func (a ALB) renderUpstreams(drained []string) []byte {
	var b strings.Builder
	b.WriteString("# Managed by cso (the local ALB stand-in): the frontends in service.\n")
	b.WriteString("upstream cso_frontend {\n")
	n := 0
	for _, h := range inventory.ByRole(a.Hosts, envfile.RoleFrontend) {
		if slices.Contains(drained, h.Name) {
			fmt.Fprintf(&b, "    # %s drained\n", h.Name)
			continue
		}
		fmt.Fprintf(&b, "    server %s; # %s\n", hostPort(h, inventory.PortNginx), h.Name)
		n++
	}
	if n == 0 {
		// nginx needs one server: every frontend is out, the ALB answers 502 as AWS's does
		// with an empty target group (503).
		b.WriteString("    server 127.0.0.1:9 down;\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// renderConf is the stand-in's nginx.conf.
func (a ALB) renderConf() []byte {
	p := a.paths()
	certs := pki.Store{Dir: a.L.SSLCerts()}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Managed by cso: the local stand-in of the ALB (terraform/modules/networking listener rules).")
	if os.Geteuid() == 0 {
		w("user www-data;")
	}
	w("worker_processes 2;")
	w("pid %s;", a.pidFile())
	w("error_log %s warn;", filepath.Join(p.Log, "nginx", "error.log"))
	w("events { worker_connections 1024; }")
	w("http {")
	w("    server_tokens off;")
	w("    access_log %s;", filepath.Join(p.Log, "nginx", "access.log"))
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w("    %s_temp_path %s;", t, filepath.Join(p.Data, "nginx", t))
	}
	w("    include %s;", a.upstreams())
	w("    upstream cso_keystone {")
	for _, h := range inventory.ByRole(a.Hosts, envfile.RoleKeystone) {
		w("        server %s; # %s", hostPort(h, inventory.PortKeystone), h.Name)
	}
	w("    }")
	w("    upstream cso_jump {")
	for _, h := range inventory.ByRole(a.Hosts, envfile.RoleJump) {
		w("        server %s; # %s", hostPort(h, inventory.PortAdmin), h.Name)
	}
	w("    }")
	w("    server {")
	w("        listen %s ssl;", a.Addr())
	w("        ssl_certificate %s;", certs.ServerCert(ALBHost))
	w("        ssl_certificate_key %s;", certs.ServerKey(ALBHost))
	w("        ssl_protocols TLSv1.2 TLSv1.3;")
	w("        proxy_http_version 1.1;")
	w("        proxy_set_header Connection \"\";")
	w("        proxy_set_header Host $host;")
	w("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
	w("        proxy_set_header X-Forwarded-Proto https;")
	// An ALB does not retry a request on another target: neither does the stand-in, so
	// a request sent to a host that is going down fails and is counted.
	w("        proxy_next_upstream off;")
	w("        # The stand-in's own readiness (not an ALB path).")
	w("        location = /cso-alb-health { default_type text/plain; return 200 \"OK\"; }")
	w("        # Rule identity (priority 10): /api/idm/* to the Keystone target group (HTTPS; an")
	w("        # ALB does not verify its targets' certificates).")
	w("        location /api/idm/ { proxy_pass https://cso_keystone; proxy_ssl_verify off; }")
	w("        # Rule admin (priority 20): /admin/* to the jump server's dashboard (HTTPS).")
	w("        location /admin/ { proxy_pass https://cso_jump; proxy_ssl_verify off; }")
	w("        # Default action: the frontend target group (/ui/* and everything else).")
	w("        location / { proxy_pass http://cso_frontend; }")
	w("    }")
	w("}")
	return []byte(b.String())
}

func (a ALB) spec() agent.ServiceSpec {
	url := a.URL() + "/cso-alb-health"
	return agent.ServiceSpec{
		Name:        a.serviceName(),
		Command:     []string{frontend.NginxBin, "-c", a.conf(), "-g", "daemon off;"},
		Dir:         "/",
		ConfigFiles: []string{a.conf()},
		Ready: func(ctx context.Context) error {
			return a.get(ctx, url)
		},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  20 * time.Second,
		RuntimeDirs:  []agent.RuntimeDir{{Path: filepath.Dir(a.pidFile()), Mode: 0o755}},
	}
}

// Client is an HTTPS client that trusts the project CA, for the stand-in's URL.
func (a ALB) Client(timeout time.Duration) (*http.Client, error) {
	data, err := os.ReadFile(pki.Store{Dir: a.L.SSLCerts()}.CACert())
	if err != nil {
		return nil, err
	}
	pool, err := pki.Pool(data)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

func (a ALB) get(ctx context.Context, url string) error {
	c, err := a.Client(5 * time.Second)
	if err != nil {
		return err
	}
	c.Transport.(*http.Transport).DisableKeepAlives = true
	return agent.HTTPGetOK(ctx, c, url)
}

// Certificate issues the stand-in's certificate with the project CA (its key is on the
// jump host's tree: the jump role made it), once.
func (a ALB) certificate(env *envfile.Env) error {
	certs := pki.Store{Dir: a.L.SSLCerts()}
	if _, err := os.Stat(certs.ServerCert(ALBHost)); err == nil {
		return nil
	}
	var jumpHost string
	for _, h := range inventory.ByRole(a.Hosts, envfile.RoleJump) {
		jumpHost = h.Name
	}
	caPEM, err := os.ReadFile(certs.CACert())
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(jump.CAKeyPath(a.L.Paths(jumpHost)))
	if err != nil {
		return err
	}
	ca, err := pki.LoadCA(caPEM, keyPEM)
	if err != nil {
		return err
	}
	crt, key, err := ca.Issue(pki.HostSpec(ALBHost, env.FQDN(ALBHost), nil, "127.0.0.1"), time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(certs.HostDir(ALBHost), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(certs.ServerKey(ALBHost), key, 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// nginx's master (root) reads it; nothing else needs to.
		_ = os.Chown(certs.ServerKey(ALBHost), 0, 0)
	}
	return os.WriteFile(certs.ServerCert(ALBHost), crt, 0o644)
}

// Up writes the stand-in's configuration and runs it (every frontend in service, except
// those a rollout left drained).
func (a ALB) Up(ctx context.Context, env *envfile.Env, out io.Writer) error {
	if err := a.certificate(env); err != nil {
		return fmt.Errorf("ALB stand-in certificate: %w", err)
	}
	p := a.paths()
	for _, d := range []string{filepath.Dir(a.conf()), filepath.Join(p.Log, "nginx"), filepath.Join(p.Data, "nginx")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if os.Geteuid() == 0 {
		// The workers (www-data) buffer large answers in the temporary directories.
		if u, err := user.Lookup("www-data"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(filepath.Join(p.Data, "nginx"), uid, gid); err != nil {
				return err
			}
		}
	}
	if err := writeFile(a.upstreams(), a.renderUpstreams(a.drainedHosts())); err != nil {
		return err
	}
	if err := writeFile(a.conf(), a.renderConf()); err != nil {
		return err
	}
	rt := &agent.Runtime{Progress: out, Paths: p}
	return a.L.Platform(ALBHost).Service(a.spec()).Apply(ctx, rt)
}

func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (a ALB) drainedHosts() []string {
	data, err := os.ReadFile(a.drained())
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// Drain takes host out of the frontend upstream and waits for the requests in flight.
func (a ALB) Drain(ctx context.Context, host string) error {
	d := a.drainedHosts()
	if !slices.Contains(d, host) {
		d = append(d, host)
	}
	return a.apply(ctx, d)
}

// Restore puts host back into the frontend upstream.
func (a ALB) Restore(ctx context.Context, host string) error {
	d := slices.DeleteFunc(a.drainedHosts(), func(h string) bool { return h == host })
	return a.apply(ctx, d)
}

// apply writes the upstream list and reloads nginx: the master starts workers with the
// new list, and the old workers stop accepting, finish their in-flight requests and exit;
// it returns when they are gone (bounded by ALBDrainTimeout).
func (a ALB) apply(ctx context.Context, drained []string) error {
	if err := os.MkdirAll(filepath.Dir(a.drained()), 0o755); err != nil {
		return err
	}
	if err := writeFile(a.drained(), []byte(strings.Join(drained, "\n")+"\n")); err != nil {
		return err
	}
	if err := writeFile(a.upstreams(), a.renderUpstreams(drained)); err != nil {
		return err
	}
	master, err := a.master()
	if err != nil {
		return err
	}
	old := children(master)
	if _, err := (agent.Command{Args: []string{frontend.NginxBin, "-t", "-q", "-c", a.conf()}, Timeout: 30 * time.Second}).Run(ctx); err != nil {
		return fmt.Errorf("ALB stand-in configuration: %w", err)
	}
	if err := syscall.Kill(master, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload the ALB stand-in (pid %d): %w", master, err)
	}
	ctx, cancel := context.WithTimeout(ctx, ALBDrainTimeout)
	defer cancel()
	for {
		left := 0
		for _, pid := range old {
			if alivePid(pid) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ALB stand-in: %d old workers still serve requests after %s", left, ALBDrainTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a ALB) master() (int, error) {
	data, err := os.ReadFile(a.pidFile())
	if err != nil {
		return 0, fmt.Errorf("the ALB stand-in is not running (%w): run cso local up --app-ha", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: no pid", a.pidFile())
	}
	return pid, nil
}

// children lists the processes whose parent is pid (nginx's workers).
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so look after the last ')'.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

// alivePid: the process exists and is not a zombie.
func alivePid(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
