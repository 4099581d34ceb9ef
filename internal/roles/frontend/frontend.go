// Package frontend is the frontend role of the host agent (LLD 3.1): nginx on the host's
// nginx port (8102) with /health and the two proxy locations /ui/management/ and
// /ui/portal/ to the management UI (8080) and the portal UI (8202), which are services of
// the application package run by the platform. It waits (LLD 2.4.3) for Keystone and
// RabbitMQ before it starts the application.
package frontend

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/backend"
)

// NginxBin is nginx's path on Debian and Amazon Linux alike.
var NginxBin = "/usr/sbin/nginx"

// Role converges a frontend host.
type Role struct {
	Options apppkg.HostOptions
}

// New returns the frontend role with its default waits.
func New() agent.Role { return Role{} }

// Role names the role.
func (Role) Role() envfile.Role { return envfile.RoleFrontend }

// Nginx is the layout of the host's nginx instance.
type Nginx struct {
	Conf, PidFile, ErrorLog, AccessLog, TempDir string
	Listen                                      string // address:port or port
	Port                                        int
	ManagementUI, PortalUI                      int // upstream ports on 127.0.0.1
	WorkerUser                                  string
	ServiceName                                 string
}

// NginxFor lays out nginx for rt's host.
func NginxFor(rt *agent.Runtime) (Nginx, error) {
	h := rt.Host
	n := Nginx{
		Conf:      filepath.Join(rt.Paths.Etc, "nginx", "nginx.conf"),
		PidFile:   filepath.Join(rt.Paths.Run, "nginx", "nginx.pid"),
		ErrorLog:  filepath.Join(rt.Paths.Log, "nginx", "error.log"),
		AccessLog: filepath.Join(rt.Paths.Log, "nginx", "access.log"),
		TempDir:   filepath.Join(rt.Paths.Data, "nginx"),
		Port:      h.Ports[inventory.PortNginx], ManagementUI: h.Ports[inventory.PortManagementUI],
		PortalUI: h.Ports[inventory.PortPortalUI], WorkerUser: workerUser(rt.Distro()), ServiceName: "nginx",
	}
	if n.Port == 0 || n.ManagementUI == 0 || n.PortalUI == 0 {
		return n, fmt.Errorf("host %s lacks the nginx, management-ui or portal-ui port in the inventory", h.Name)
	}
	n.Listen = strconv.Itoa(n.Port)
	if ip := net.ParseIP(h.Address); ip != nil && ip.IsLoopback() {
		// Local target: loopback only, and a service name unique on the machine.
		n.Listen = net.JoinHostPort(h.Address, n.Listen)
		n.ServiceName = fmt.Sprintf("%s-nginx-%s", h.Name, rt.Paths.StackID())
	}
	return n, nil
}

// geteuid and lookupUser are replaced by tests.
var (
	geteuid    = os.Geteuid
	lookupUser = func(name string) error { _, err := user.Lookup(name); return err }
)

// workerUser is the account of nginx's worker processes when the master runs as root:
// www-data on Debian (the local target; base-passwd always has it), nginx on Amazon Linux
// 2023, where the nginx package creates it. It is decided by platform, without looking it
// up: on a fresh EC2 host the steps are planned before the package is installed, and
// looking then would plan root (docs/decisions/roles.md); the "user" step makes sure the
// account exists before anything is chowned to it. An agent that is not root cannot switch
// users: "".
func workerUser(d agent.Distro) string {
	if geteuid() != 0 {
		return ""
	}
	return d.NginxUser
}

// Security headers of every answer. HSTS only when the request reached us through TLS
// (X-Forwarded-Proto https from the ALB, which terminates TLS): nginx itself serves plain
// HTTP inside the VPC, and HSTS over plain HTTP is meaningless.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"

// RenderConf returns a self-contained nginx.conf (LLD 3.1.1) for n: pid, temporary files
// and logs inside the host's tree, so several instances share one machine.
func RenderConf(n Nginx) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Managed by cso agent (role frontend, LLD 3.1.1); changes are overwritten.")
	if n.WorkerUser != "" {
		w("user %s;", n.WorkerUser)
	}
	w("worker_processes auto;")
	w("pid %s;", n.PidFile)
	w("error_log %s warn;", n.ErrorLog)
	w("")
	w("events {")
	w("    worker_connections 1024;")
	w("}")
	w("")
	w("http {")
	w("    server_tokens off;")
	w("    default_type application/octet-stream;")
	w("    access_log %s;", n.AccessLog)
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w("    %s_temp_path %s;", t, filepath.Join(n.TempDir, t))
	}
	w("    sendfile on;")
	w("    keepalive_timeout 65;")
	w("    client_max_body_size 50m;")
	w("")
	w("    map $http_x_forwarded_proto $cso_hsts {")
	w("        https \"max-age=31536000; includeSubDomains\";")
	w("        default \"\";")
	w("    }")
	w("")
	w("    server {")
	w("        listen %s;", n.Listen)
	w("        server_name _;")
	w("")
	w("        add_header Strict-Transport-Security $cso_hsts always;")
	w("        add_header X-Content-Type-Options nosniff always;")
	w("        add_header X-Frame-Options SAMEORIGIN always;")
	w("        add_header Referrer-Policy strict-origin-when-cross-origin always;")
	w("        add_header Content-Security-Policy \"%s\" always;", csp)
	w("")
	w("        # Health check endpoint (ALB target group, LLD 6.3)")
	w("        location = /health {")
	w("            default_type text/plain;")
	w("            return 200 \"OK\";")
	w("        }")
	for _, l := range []struct {
		comment, path string
		port          int
	}{{"CSO Management UI", "/ui/management/", n.ManagementUI}, {"Portal UI", "/ui/portal/", n.PortalUI}} {
		w("")
		w("        # %s", l.comment)
		w("        location %s {", l.path)
		w("            proxy_pass http://127.0.0.1:%d/;", l.port)
		w("            proxy_set_header Host $host;")
		w("            proxy_set_header X-Real-IP $remote_addr;")
		w("            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
		w("            proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;")
		w("            proxy_set_header X-Forwarded-Prefix %s;", strings.TrimSuffix(l.path, "/"))
		w("        }")
	}
	w("    }")
	w("}")
	return []byte(b.String())
}

// Spec is how the platform runs nginx: in the foreground on its own configuration, ready
// when /health answers 200 "OK".
func (n Nginx) Spec() agent.ServiceSpec {
	url := "http://" + probeAddr(n.Listen) + "/health"
	return agent.ServiceSpec{
		Name:        n.ServiceName,
		Command:     []string{NginxBin, "-c", n.Conf, "-g", "daemon off;"},
		Dir:         "/",
		ConfigFiles: []string{n.Conf},
		Ready: func(ctx context.Context) error {
			return CheckHealth(ctx, url)
		},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  20 * time.Second,
		// The master (root) writes its pid file there: created at every start, as /run is
		// empty after a reboot.
		RuntimeDirs: []agent.RuntimeDir{{Path: filepath.Dir(n.PidFile), Mode: 0o755}},
	}
}

func probeAddr(listen string) string {
	if _, _, err := net.SplitHostPort(listen); err == nil {
		return listen
	}
	return "127.0.0.1:" + listen
}

// CheckHealth answers nil when url returns 200 with the body "OK".
func CheckHealth(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "OK" {
		return fmt.Errorf("GET %s: HTTP %d %q", url, resp.StatusCode, body)
	}
	return nil
}

// Steps plans the host: packages, nginx's worker user, application package, nginx
// configuration, dependencies, application services, nginx. Without an application package, nginx still runs (its
// /health is its own) and the last step says "no application package".
func (r Role) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	if rt.Host.Role != envfile.RoleFrontend {
		return nil, fmt.Errorf("frontend role given host %s of role %s", rt.Host.Name, rt.Host.Role)
	}
	n, err := NginxFor(rt)
	if err != nil {
		return nil, err
	}
	app, err := apppkg.NewApp(rt)
	noPackage := err == apppkg.ErrNotConfigured
	if err != nil && !noPackage {
		return nil, err
	}
	pkgs := []string{"nginx"}
	if !noPackage {
		// The application's UIs run on the JVM too (LLD 2.4.2 installs Java everywhere).
		pkgs = append(pkgs, backend.JavaPackage(rt.Platform))
	}
	// The agent timer first (Amazon Linux only): a failed first run is retried.
	steps := append(append(agent.ResyncSteps(rt), agent.OwnTLSSteps(rt)...), agent.Step{Name: "packages", Tasks: []agent.Task{rt.Platform.Packages(pkgs...)}})
	if n.WorkerUser != "" {
		steps = append(steps, agent.Step{Name: "user", Tasks: []agent.Task{
			agent.SystemUser{User: n.WorkerUser, Home: "/var/lib/nginx", Comment: "Nginx web server", Lookup: lookupUser}}})
	}
	if !noPackage {
		steps = append(steps, app.PackageSteps(r.Options)...)
	}
	var dirs []agent.Task
	// The pid directory is not among them: it is a runtime directory of the service (Spec).
	dirs = append(dirs, agent.MkdirAll{Paths: []string{rt.Paths.Etc, rt.Paths.Data, rt.Paths.Log}})
	for _, d := range []string{filepath.Dir(n.Conf), filepath.Dir(n.ErrorLog)} {
		dirs = append(dirs, agent.Dir{Path: d, Mode: 0o755})
	}
	dirs = append(dirs, agent.Dir{Path: n.TempDir, Mode: 0o700, Owner: n.WorkerUser})
	steps = append(steps, agent.Step{Name: "nginx configuration", Tasks: append(dirs,
		agent.File{Path: n.Conf, Content: RenderConf(n)})})
	if !noPackage {
		steps = append(steps, apppkg.DependencySteps(rt, r.Options)...)
		steps = append(steps, app.BindingSteps()...)
		steps = append(steps, app.ServiceSteps(envfile.RoleFrontend, r.Options)...)
	}
	steps = append(steps, agent.Step{Name: "nginx", Tasks: []agent.Task{rt.Platform.Service(n.Spec())}})
	if noPackage {
		steps = append(steps, agent.Step{Name: "application package", Tasks: []agent.Task{apppkg.NoPackageTask(rt.Env, envfile.RoleFrontend)}})
	}
	return steps, nil
}
