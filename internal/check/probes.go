package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/cso-ssp/platform/internal/backup"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// Options tune a Checker. Zero values take the defaults.
type Options struct {
	// Timeout of each probe (default 5 s).
	Timeout time.Duration
	// WarnDays: a certificate expiring in fewer days is a warning (default 30).
	WarnDays int
	// FailDays: a certificate expiring in fewer days fails (default 7): renewal inside the
	// 30-day window did not happen, and an operator must act now.
	FailDays int
	// Now is the clock of the certificate checks (default time.Now).
	Now func() time.Time
	// Keystone credentials of the token checks (defaults: the automation identity
	// cso-automation, project admin, domain Default). KeystoneSecret names the secret holding
	// the password (default: keystone-automation-password, or keystone-admin-password when
	// KeystoneUser is admin).
	KeystoneUser, KeystoneProject, KeystoneDomain, KeystoneSecret string
	// RabbitMQUser is the management API user (default ssp_user, password from the secret
	// rabbitmq-ssp-password).
	RabbitMQUser string
	// Status is the status store to read (default: the target's StatusDir, or for a target
	// of kind aws the status/ prefix of its bucket).
	Status status.Store
	// Secrets looks up the environment's generated secrets (default: the files of the
	// target's SecretsDir, or for a target of kind aws Secrets Manager in its region).
	Secrets SecretLookup
	// MySQLInsecure lets the MySQL probes connect without verifying the database's
	// certificate when no CA bundle is known (`cso check --mysql-insecure`); each result
	// then says so and is a warning. Without it such a probe fails.
	MySQLInsecure bool
	// Version is the operator's cso, which the agents' published versions are compared with
	// (default: the running binary's build information).
	Version *buildinfo.Info
	// Backups is where the environment's backups are, for the age of the newest (default:
	// the target's BackupDir, or for a target of kind aws the backups/ prefix of its bucket).
	Backups backup.Store
}

// SecretLookup reads one secret by its agent name (agent.LocalSecrets and agent.AWSSecrets
// implement it); ok is false when the secret does not exist.
type SecretLookup interface {
	Lookup(ctx context.Context, name string) (value string, ok bool, err error)
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.WarnDays <= 0 {
		o.WarnDays = 30
	}
	if o.FailDays <= 0 {
		o.FailDays = 7
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeystoneUser == "" {
		o.KeystoneUser = agent.KeystoneAutomationUser
	}
	if o.KeystoneSecret == "" {
		o.KeystoneSecret = agent.SecretKeystoneAutomation
		if o.KeystoneUser == "admin" {
			o.KeystoneSecret = agent.SecretKeystoneAdmin
		}
	}
	if o.KeystoneProject == "" {
		o.KeystoneProject = "admin"
	}
	if o.KeystoneDomain == "" {
		o.KeystoneDomain = "Default"
	}
	if o.RabbitMQUser == "" {
		o.RabbitMQUser = "ssp_user"
	}
	if o.Version == nil {
		v := buildinfo.Read()
		o.Version = &v
	}
}

// Secret names read from the target's secrets directory (the names of internal/agent).
const (
	secretKeystoneDB = "keystone-db-password"
	secretPortalDB   = "cso-portal-db-password"
	secretRabbitMQ   = "rabbitmq-ssp-password"
)

// Checker builds and runs the probes of one environment.
type Checker struct {
	t      *target.Target
	opts   Options
	roots  *x509.CertPool
	caErr  error
	dial   *dialer
	client *http.Client
	tr     *http.Transport
}

// New prepares a Checker for t. Problems with the CA are reported by the probes, not here.
func New(t *target.Target, o Options) *Checker {
	o.defaults()
	o.awsDefaults(t)
	if o.Secrets == nil && t.SecretsDir != "" {
		// The local target's 0600 files, read as the agents wrote them (never created here).
		o.Secrets = &agent.LocalSecrets{Dir: t.SecretsDir}
	}
	c := &Checker{t: t, opts: o, dial: &dialer{addrs: map[string]string{}}}
	c.dial.net.Timeout = o.Timeout
	for _, h := range t.Hosts {
		c.dial.addrs[strings.ToLower(h.FQDN)] = h.Address
		for _, a := range h.Aliases {
			c.dial.addrs[strings.ToLower(a)] = h.Address
		}
	}
	if pem, err := t.CACertPEM(); err != nil {
		c.caErr = err
	} else {
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			c.roots, c.caErr = nil, fmt.Errorf("the CA certificate of the target description (%s) holds no PEM certificate", firstNonEmpty(t.CACert, "ca_pem"))
		}
	}
	c.tr = &http.Transport{
		DialContext:         c.dial.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: c.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: o.Timeout,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   false,
	}
	if c.roots == nil {
		// Without the CA no HTTPS answer can be trusted: make every HTTPS request say why.
		c.tr.TLSClientConfig.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return c.caErr }
	}
	c.client = &http.Client{Transport: c.tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is an answer (the dashboard's sign-in)
	}}
	return c
}

func (c *Checker) now() time.Time { return c.opts.Now() }

// Run builds every probe and runs them.
func (c *Checker) Run(ctx context.Context) *Report {
	return c.finish(Run(ctx, c.Probes(), c.opts.Timeout))
}

// RunSettled runs every probe of the environment as Settle does.
func (c *Checker) RunSettled(ctx context.Context, window, interval time.Duration) *Report {
	return c.finish(Settle(ctx, c.Probes(), c.opts.Timeout, window, interval))
}

func (c *Checker) finish(rep *Report) *Report {
	rep.Duration = time.Since(rep.Started)
	rep.Env = c.t.Env
	c.tr.CloseIdleConnections()
	return rep
}

// RunCerts runs only the certificate probes (group cert: the CA and the certificate on
// every TLS port of every host, the admin dashboard's included): what `cso certs` lists.
func (c *Checker) RunCerts(ctx context.Context) *Report {
	var ps []Probe
	for _, p := range c.Probes() {
		if p.Group == GroupCert {
			ps = append(ps, p)
		}
	}
	return c.finish(Run(ctx, ps, c.opts.Timeout))
}

// secret reads one generated secret of the environment.
func (c *Checker) secret(ctx context.Context, name string) (string, error) {
	if c.opts.Secrets != nil {
		v, ok, err := c.opts.Secrets.Lookup(ctx, name)
		switch {
		case err != nil:
			return "", fmt.Errorf("secret %s: %w", name, err)
		case !ok:
			return "", fmt.Errorf("secret %s does not exist (has the jump server's agent run?)", name)
		}
		return v, nil
	}
	return "", fmt.Errorf("secret %s: the target description has no secrets_dir, and it is no AWS environment whose Secrets Manager could be read", name)
}

// tlsPorts are the named ports that speak TLS.
var tlsPorts = map[string]bool{
	inventory.PortKeystone: true, inventory.PortAMQPS: true, inventory.PortManagement: true, inventory.PortAdmin: true,
}

// Probes returns every probe of the environment.
func (c *Checker) Probes() []Probe {
	var ps []Probe
	add := func(p Probe) { ps = append(ps, p) }
	if c.t.CACert != "" || c.t.CAPEM != "" {
		add(Probe{Check: "ca certificate", Target: "ca", Group: GroupCert, Run: c.caProbe(c.t.CACert, c.t.CAPEM)})
	} else {
		add(Probe{Check: "ca certificate", Target: "ca", Group: GroupCert, Run: func(context.Context) Outcome { return fail("%v", c.caErr) }})
	}
	docs := c.hostStatuses()
	for _, h := range c.t.Hosts {
		ps = append(ps, c.serviceProbes(h, docs[h.Name])...)
	}
	ps = append(ps, c.keystoneProbes()...)
	ps = append(ps, c.rabbitmqProbes()...)
	ps = append(ps, c.mysqlProbes()...)
	ps = append(ps, c.hostProbes(docs)...)
	if c.t.Kind == target.KindLocal {
		ps = append(ps, c.crashProbes()...)
	}
	ps = append(ps, c.backupProbes()...)
	return ps
}

// serviceProbes: nothing listening on the host's closed ports; TCP for every port; TLS and
// the certificate for TLS ports; HTTP for the health endpoints of LLD 6.3 and the backend
// ports of 3.2.1. The host's status document (doc) turns the probes of application ports
// into skips when the environment installs no application, and names a failed setup as
// the cause of a failed probe (see gate).
func (c *Checker) serviceProbes(h inventory.Host, doc *hostStatus) []Probe {
	names := make([]string, 0, len(h.Ports))
	for n := range h.Ports {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return h.Ports[names[i]] < h.Ports[names[j]] })
	var ps []Probe
	closed := make([]string, 0, len(h.Closed))
	for n := range h.Closed {
		closed = append(closed, n)
	}
	sort.Strings(closed)
	for _, name := range closed {
		port := h.Closed[name]
		ps = append(ps, Probe{Check: "closed " + name, Target: fmt.Sprintf("%s:%d", h.Name, port), Group: GroupService,
			Host: h.Name, Run: c.closedProbe(h.FQDN, port)})
	}
	for _, name := range names {
		if inventory.HostLocal(name) {
			continue // loopback-only, the TLS front's back end: the keystone port's probes go through it
		}
		if c.t.Kind == target.KindAWS && inventory.ClusterInternal(name) {
			// Only the other nodes of the role may connect: the check, which runs on the jump
			// server, cannot and need not; "rabbitmq nodes running" and "partitions" and the
			// Keystone cluster probes report on the clustering instead.
			continue
		}
		port := h.Ports[name]
		tgt := fmt.Sprintf("%s:%d", h.Name, port)
		app := isAppPort(h.Role, name)
		svc := func(check string, run func(context.Context) Outcome) Probe {
			return Probe{Check: check, Target: tgt, Group: GroupService, Host: h.Name, Run: c.gate(doc, h.Name, app, run)}
		}
		ps = append(ps, svc("tcp "+name, c.tcpProbe(h.FQDN, port)))
		if tlsPorts[name] {
			ps = append(ps, svc("tls "+name, c.tlsProbe(h.FQDN, port)))
			ps = append(ps, Probe{Check: "cert " + name, Target: tgt, Group: GroupCert, Host: h.Name, Run: c.gate(doc, h.Name, app, c.certProbe(h.FQDN, port))})
		}
		base := fmt.Sprintf("http://%s:%d", h.FQDN, port)
		if tlsPorts[name] {
			base = fmt.Sprintf("https://%s:%d", h.FQDN, port)
		}
		switch {
		case h.Role == envfile.RoleJump && name == inventory.PortAdmin:
			ps = append(ps, svc("http /admin/", c.httpProbe(http.MethodGet, base+"/admin/", nil, expectAuthRequired)))
		case h.Role == envfile.RoleKeystone && name == inventory.PortKeystone:
			ps = append(ps,
				svc("http /v3", c.httpProbe(http.MethodGet, base+"/v3", nil, expectCodes("Keystone /v3", 200))),
				svc("http /api/idm/v3", c.httpProbe(http.MethodGet, base+"/api/idm/v3", nil, expectCodes("Keystone /api/idm/v3 (ALB health path)", 200, 300))),
				svc("http /healthcheck", c.httpProbe(http.MethodGet, base+"/healthcheck", nil, expectCodes("Keystone /healthcheck", 200))))
		case h.Role == envfile.RoleKeystone && name == inventory.PortMemcached:
			ps = append(ps, svc("memcached version", c.memcachedProbe(h.FQDN, port)))
		case h.Role == envfile.RoleRabbitMQ && name == inventory.PortManagement:
			ps = append(ps, svc("http /api/overview", c.rabbitOverview(h, base)))
		case h.Role == envfile.RoleFrontend && name == inventory.PortNginx:
			ps = append(ps, svc("http /health", c.httpProbe(http.MethodGet, base+"/health", nil, expectCodes("nginx /health", 200))))
		case h.Role == envfile.RoleFrontend || h.Role == envfile.RoleBackend:
			ps = append(ps, svc("http /", c.httpProbe(http.MethodGet, base+"/", nil, expectAppUp(name))))
			if path, ok := c.t.AppHealth[name]; ok && app {
				ps = append(ps, svc("bindings", c.httpProbe(http.MethodGet, base+path, nil, expectBindings(name))))
			}
		}
	}
	return ps
}

// isAppPort reports whether port name of a host of role r belongs to the application
// package: every port of a backend host, and the UI ports of a frontend host. nginx (8102)
// is the platform's own: it runs and answers /health without a package.
func isAppPort(r envfile.Role, name string) bool {
	switch r {
	case envfile.RoleBackend:
		return true
	case envfile.RoleFrontend:
		return name != inventory.PortNginx
	}
	return false
}

// expectAuthRequired: the dashboard is up when it refuses an unauthenticated request
// (401, or a redirect to its sign-in page); 200 would mean it shows data to anyone.
func expectAuthRequired(code int, body []byte) Outcome {
	switch {
	case code == http.StatusUnauthorized:
		return ok("up, HTTP 401 without a session")
	case code >= 300 && code < 400:
		return ok("up, HTTP %d to sign-in without a session", code)
	case code == http.StatusOK:
		return fail("HTTP 200 without authentication: the dashboard is open to anyone")
	}
	return fail("HTTP %d%s", code, snippet(body))
}

// expectAppUp grades an application port: any answer below 500 means the service is up.
func expectAppUp(name string) httpExpect {
	return func(code int, body []byte) Outcome {
		if code >= 500 {
			return fail("%s: HTTP %d%s", name, code, snippet(body))
		}
		return ok("%s answers HTTP %d", name, code)
	}
}

// HTTPClient returns an HTTP client for the environment t: it dials each host's address
// for its FQDN and aliases and verifies TLS against the project CA (the admin dashboard
// talks to Keystone with it). Redirects are not followed.
func HTTPClient(t *target.Target, timeout time.Duration) (*http.Client, error) {
	c := New(t, Options{Timeout: timeout})
	if c.roots == nil {
		return nil, c.caErr
	}
	c.client.Timeout = timeout
	return c.client, nil
}

// appHealth is what an application service reports at its health path: each binding's
// state (docs/application-packages.md).
type appHealth struct {
	Bindings map[string]struct {
		Status string `json:"status"` // ok, fail or pending
		Reason string `json:"reason"`
	} `json:"bindings"`
}

// expectBindings grades the bindings an application service reports at its health path:
// fail when one failed (with the service's reason), warn while one is not checked yet, ok
// when all work (or the service uses none).
func expectBindings(name string) httpExpect {
	return func(code int, body []byte) Outcome {
		if code != http.StatusOK {
			return fail("%s: health path HTTP %d%s", name, code, snippet(body))
		}
		var h appHealth
		if err := json.Unmarshal(body, &h); err != nil {
			return warn("%s: the health path's answer is not the JSON document of the bindings contract (%v)", name, err)
		}
		if len(h.Bindings) == 0 {
			return ok("%s uses no binding", name)
		}
		names := make([]string, 0, len(h.Bindings))
		for b := range h.Bindings {
			names = append(names, b)
		}
		sort.Strings(names)
		var good, bad, pending []string
		for _, b := range names {
			switch s := h.Bindings[b]; s.Status {
			case "ok":
				good = append(good, b)
			case "pending":
				pending = append(pending, b)
			default:
				bad = append(bad, fmt.Sprintf("%s %s (%s)", b, s.Status, strings.TrimSpace(s.Reason)))
			}
		}
		switch {
		case len(bad) > 0:
			return fail("%s: %s", name, strings.Join(bad, "; "))
		case len(pending) > 0:
			return warn("%s: %s not checked yet (ok: %s)", name, strings.Join(pending, ", "), strings.Join(good, ", "))
		}
		return ok("%s: %s ok", name, strings.Join(good, ", "))
	}
}
