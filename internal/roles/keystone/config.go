package keystone

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// secret returns a secret; a dry run only looks and uses "" for a missing one (the file
// then differs, which is what a dry run on a fresh host must say).
func secret(ctx context.Context, rt *agent.Runtime, name string) (string, error) {
	v, _, err := rt.Secret(ctx, name)
	return v, err
}

func dbHost(rt *agent.Runtime) string {
	if rt.MySQL != "" {
		return rt.MySQL
	}
	return rt.Env.FQDN("mysql") + ":3306"
}

// dbQuery is the query string of Keystone's database URL: utf8mb4, and TLS verified
// against caFile for the URL's host name.
func dbQuery(caFile string) string {
	// "/" may stand unescaped in a query (RFC 3986 3.4): the path stays readable.
	ca := strings.ReplaceAll(url.QueryEscape(caFile), "%2F", "/")
	return "charset=utf8mb4&ssl_ca=" + ca + "&ssl_check_hostname=true"
}

// dbServer is the database as the agent's own connections reach and verify it: the
// server keystone.conf names, verified against the same CA bundle.
func dbServer(rt *agent.Runtime) agent.MySQLServer {
	return agent.MySQLServer{Addr: dbHost(rt), CAFile: rt.MySQLCAFile}
}

// addrOf is where another host is reached: its address when known (local target), else
// its DNS name.
func addrOf(h inventory.Host) string {
	if h.Address != "" {
		return h.Address
	}
	return h.FQDN
}

func renderConfig(rt *agent.Runtime, l Layout) (agent.File, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbPW, err := secret(ctx, rt, agent.SecretKeystoneDB)
	if err != nil {
		return agent.File{}, err
	}
	mqPW, err := secret(ctx, rt, agent.SecretRabbitMQ)
	if err != nil {
		return agent.File{}, err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Managed by cso agent (keystone role) for %s: changes are overwritten on the next run.", rt.Host.Name)
	w("# Holds secrets: mode 0640 root:keystone.")
	w("[DEFAULT]")
	w("log_file = %s/keystone.log", l.LogDir)
	w("use_stderr = false")
	w("debug = false")
	// LLD 3.3.1 names RabbitMQ as the transport; notifications stay off (driver noop) so
	// Keystone does not depend on RabbitMQ to start or serve.
	if tu := transportURL(rt.Hosts, mqPW); tu != "" {
		w("transport_url = %s", tu)
	}
	w("")
	w("[database]")
	// TLS verified as the agent verifies it (issue #10): SQLAlchemy's MySQLdb/PyMySQL
	// dialect turns ssl_ca and ssl_check_hostname into PyMySQL's ssl dict; with a CA
	// PyMySQL requires the certificate (CERT_REQUIRED) and checks the URL's host name
	// against it. Hostname checking is its default with a CA; said explicitly so that a
	// reader need not know (docs/decisions/roles.md).
	if rt.MySQLCAFile == "" {
		return agent.File{}, fmt.Errorf("keystone.conf: no CA bundle to verify the database %s with", dbHost(rt))
	}
	w("connection = mysql+pymysql://keystone:%s@%s/keystone?%s", url.QueryEscape(dbPW), dbHost(rt), dbQuery(rt.MySQLCAFile))
	w("connection_recycle_time = 3600")
	w("max_retries = 10")
	w("")
	// Token lifetime and key count from the env file (keystone.token_expiration,
	// keystone.fernet_rotation): max_active_keys is derived from both (envfile.FernetMaxActiveKeys).
	ks := rt.Env.KeystoneSettings()
	w("[token]")
	w("provider = fernet")
	w("expiration = %d", int(ks.TokenExpiration.Seconds()))
	// Validated tokens are cached (oslo.cache, [cache] below); a token is cached at issue
	// too (cache_on_issue, deprecated since Stein, defaults to true and is not written).
	w("caching = true")
	w("")
	w("[fernet_tokens]")
	w("key_repository = %s", l.FernetKeys)
	w("max_active_keys = %d", ks.FernetMaxActiveKeys)
	w("")
	w("[fernet_receipts]")
	w("key_repository = %s", l.FernetKeys)
	w("max_active_keys = %d", ks.FernetMaxActiveKeys)
	w("")
	w("[credential]")
	w("key_repository = %s", l.CredentialKeys)
	w("")
	// Policy and password rules from the env file (keystone:), every option written out:
	// Keystone 22 (local) and 25 (Amazon Linux) have different defaults for some of them
	// (docs/decisions/roles.md "Keystone policy").
	w("[security_compliance]")
	w("lockout_failure_attempts = %d", ks.LockoutFailureAttempts)
	w("lockout_duration = %d", ks.LockoutDuration)
	w("unique_last_password_count = %d", ks.UniqueLastPasswordCount)
	w("minimum_password_age = %d", ks.MinimumPasswordAge)
	w("change_password_upon_first_use = false")
	w("password_regex = %s", confValue(ks.PasswordRegex))
	w("password_regex_description = %s", confValue(ks.PasswordRegexDescription))
	w("")
	w("[oslo_policy]")
	w("enforce_scope = %t", ks.EnforceScope)
	w("enforce_new_defaults = %t", ks.EnforceNewDefaults)
	w("")
	writeCache(w, rt.Hosts)
	w("[oslo_messaging_notifications]")
	w("driver = noop")
	w("")
	w("[oslo_messaging_rabbit]")
	w("ssl = true")
	w("ssl_ca_file = %s", l.CAFile)
	w("")
	w("[oslo_middleware]")
	w("enable_proxy_headers_parsing = true")
	return agent.File{Path: l.Conf, Content: []byte(b.String()), Mode: 0o640, Owner: "root", Group: Group, Secret: true}, nil
}

// confValue escapes a value for oslo.config, which substitutes $name and ${name}: "$$" is a
// literal "$". A "$" that ends the value or is not followed by a name is left alone, as
// oslo.config leaves it.
func confValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$' || s[i+1] == '_' || isLetter(s[i+1])) {
			b.WriteString("$$")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// writeCache writes oslo.cache's [cache] section, the pool of every Keystone node's
// memcached (memcached.go), and turns on the caching of the subsystems every token
// validation reads: roles and their assignments, projects and domains, the catalog, the
// revocation events (the last through revocationCachePy in the WSGI entry point). Keystone has no [assignment] caching option: assignments are cached
// under [role] (keystone/conf/role.py).
func writeCache(w func(string, ...any), hosts []inventory.Host) {
	servers := cacheServers(hosts)
	if len(servers) == 0 {
		return
	}
	w("[cache]")
	w("enabled = true")
	w("backend = %s", CacheBackend)
	w("memcache_servers = %s", strings.Join(servers, ","))
	w("expiration_time = %d", CacheExpiration)
	w("memcache_dead_retry = %d", CacheDeadRetry)
	w("memcache_socket_timeout = %d", CacheSocketTimeout)
	w("memcache_pool_maxsize = %d", CachePoolMaxSize)
	w("")
	for _, section := range []string{"catalog", "resource", "role", "revoke"} {
		w("[%s]", section)
		w("caching = true")
		if section == "revoke" {
			// Revocation checks are served from this region (revocationCachePy); Keystone's
			// default of an hour would be the bound of a revocation whose invalidation
			// could not reach memcached.
			w("cache_time = %d", RevokeCacheTime)
		}
		w("")
	}
}

// transportURL lists every RabbitMQ node (AMQPS) with the ssp_user credentials.
func transportURL(hosts []inventory.Host, password string) string {
	var nodes []string
	for _, h := range inventory.ByRole(hosts, envfile.RoleRabbitMQ) {
		port := h.Ports[inventory.PortAMQPS]
		if port == 0 {
			continue
		}
		nodes = append(nodes, fmt.Sprintf("ssp_user:%s@%s", url.QueryEscape(password), net.JoinHostPort(addrOf(h), strconv.Itoa(port))))
	}
	if len(nodes) == 0 {
		return ""
	}
	return "rabbit://" + strings.Join(nodes, ",") + "/ssp"
}

// renderWSGI is the WSGI entry point of this instance: it points Keystone at this
// instance's configuration before the application loads (mod_wsgi's SetEnv does not reach
// os.environ, and several instances share one machine locally). It does what Keystone's
// keystone-wsgi-public script does (initialize_public_application), which therefore is not
// used on either platform. With a virtual environment (Amazon Linux) Apache's daemon runs
// with python-home set to it; the file names the pinned release (a new pin changes the file
// and so restarts Apache after the upgrade) and refuses a Keystone from anywhere else.
// Before Keystone loads it serves revocation checks from the cache (revocationCachePy) and
// wraps the application in a per-request scope: a fresh request context, and a token's
// roles computed once per read-only request (tokenRolesPy).
func renderWSGI(l Layout) string {
	if l.Venv == "" {
		return fmt.Sprintf(`# Managed by cso agent (keystone role): the Keystone public WSGI application of this
# instance, reading %[1]s.
import os

os.environ["OS_KEYSTONE_CONFIG_DIR"] = %[2]q
os.environ["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"
%[3]s%[4]s
from keystone.server.wsgi import initialize_public_application

application = _request_scope(initialize_public_application())
`, l.Conf, l.ConfDir, revocationCachePy, tokenRolesPy)
	}
	return fmt.Sprintf(`# Managed by cso agent (keystone role): the Keystone public WSGI application of this
# instance, reading %[1]s.
# Keystone %[3]s (OpenStack %[4]s) from the virtual environment %[5]s
# (WSGIDaemonProcess python-home in %[6]s).
import os

VENV = %[5]q

os.environ["OS_KEYSTONE_CONFIG_DIR"] = %[2]q
os.environ["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"

import keystone

if not os.path.realpath(keystone.__file__).startswith(os.path.realpath(VENV) + os.sep):
    raise ImportError("keystone was imported from %%s, not from %%s: check python-home in %[6]s"
                      %% (keystone.__file__, VENV))
%[7]s%[8]s
from keystone.server.wsgi import initialize_public_application

application = _request_scope(initialize_public_application())
`, l.Conf, l.ConfDir, KeystoneRelease, OpenStackSeries, l.Venv, l.HTTPDConf, revocationCachePy, tokenRolesPy)
}

// TLS hardening of every Apache endpoint (recorded in docs/decisions/agent.md).
const (
	TLSCipherSuite12 = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:" +
		"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"
	TLSCipherSuite13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
	TLSGroups        = "X25519:secp256r1:secp384r1"
)

// apacheModule is one LoadModule line: the module's name (without "_module") and its file
// in the platform's module directory, or its absolute path.
type apacheModule struct{ name, file string }

// apacheModules are the modules renderHTTPD loads on platform, in load order: the MPM, then
// one module for every directive the configuration uses that the platform's Apache does not
// have built in (the directive table is in config_test.go). Debian's apache2 has mod_unixd
// (User, Group) and mod_log_config (LogFormat, CustomLog) built in (`apache2 -l`) and refuses
// to LoadModule a built-in module; the Red Hat family's httpd, Amazon Linux 2023's included,
// has only core, http_core and mod_so built in, so there both are loaded too
// (docs/decisions/roles.md). mod_wsgi is named by its absolute path, l.WSGIModule: on
// Amazon Linux it is not in httpd's module directory but built by pip in the venv.
func apacheModules(d agent.Distro, l Layout) (dir string, mods []apacheModule) {
	dir = d.ApacheModulesDir
	names := []string{"mpm_event"}
	if d.ApacheLoadsCoreModules {
		names = append(names, "unixd", "log_config")
	}
	names = append(names, "authz_core", "reqtimeout", "headers", "socache_shmcb", "ssl")
	for _, n := range names {
		mods = append(mods, apacheModule{name: n, file: "mod_" + n + ".so"})
	}
	return dir, append(mods, apacheModule{name: "wsgi", file: l.WSGIModule})
}

// renderHTTPD is a self-contained Apache configuration for this instance (`apache2 -f`):
// its own modules, pid file, runtime directory, logs and one preloaded WSGI daemon group
// that serves Keystone at / and at /api/idm.
func renderHTTPD(rt *agent.Runtime, l Layout, d agent.Distro) string {
	var c confWriter
	c.w("# Managed by cso agent (keystone role) for %s: changes are overwritten on the next run.", rt.Host.Name)
	c.w("# Self-contained: %s -f %s -DFOREGROUND", d.ApacheBinary, l.HTTPDConf)
	c.w("ServerRoot %q", l.RunDir)
	c.w("")
	httpdModules(&c, l, d)
	httpdServer(&c, rt, l)
	httpdTLS(&c, l)
	httpdHeaders(&c)
	httpdWSGI(&c, rt, l, d)
	return c.String()
}

// confWriter builds a configuration file line by line.
type confWriter struct{ strings.Builder }

func (c *confWriter) w(format string, args ...any) { fmt.Fprintf(c, format+"\n", args...) }

// httpdModules loads the modules, before any directive they provide.
func httpdModules(c *confWriter, l Layout, d agent.Distro) {
	modDir, mods := apacheModules(d, l)
	c.w("# Modules, before any directive they provide: the event MPM and every module whose")
	c.w("# directives follow, except those %s has built in.", d.ApacheBinary)
	if l.Venv != "" {
		// Names the pin, so that a new mod_wsgi release changes this file and restarts Apache.
		c.w("# mod_wsgi %s, built by pip for %s (install.go).", ModWSGIRelease, l.Venv)
	}
	for _, m := range mods {
		file := m.file
		if !filepath.IsAbs(file) {
			file = modDir + "/" + file
		}
		c.w("LoadModule %s_module %s", m.name, file)
	}
	c.w("")
}

// httpdServer: the listener, the instance's own runtime files, its workers and logs.
func httpdServer(c *confWriter, rt *agent.Runtime, l Layout) {
	listen := strconv.Itoa(rt.Host.Ports[inventory.PortKeystone])
	if rt.Host.Address == "127.0.0.1" {
		listen = net.JoinHostPort("127.0.0.1", listen)
	}
	c.w("ServerName %s", rt.Host.FQDN)
	c.w("Listen %s", listen)
	c.w("PidFile %q", l.RunDir+"/httpd.pid")
	c.w("DefaultRuntimeDir %q", l.RunDir)
	c.w("Mutex file:%s default", l.RunDir)
	c.w("User %s", User)
	c.w("Group %s", Group)
	c.w("")
	c.w("# Workers: a small event MPM; the WSGI daemon group does the work.")
	c.w("StartServers 1")
	c.w("ServerLimit 2")
	c.w("ThreadsPerChild 25")
	c.w("MaxRequestWorkers 50")
	c.w("MinSpareThreads 25")
	c.w("MaxSpareThreads 50")
	c.w("Timeout 60")
	c.w("KeepAlive On")
	c.w("RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500")
	c.w("")
	c.w("# No version banners, no TRACE.")
	c.w("ServerTokens Prod")
	c.w("ServerSignature Off")
	c.w("TraceEnable Off")
	c.w("")
	c.w("ErrorLog %q", l.HTTPDLogDir+"/keystone-error.log")
	c.w("LogLevel warn")
	c.w(`LogFormat "%%h %%l %%u %%t \"%%r\" %%>s %%b %%D \"%%{User-Agent}i\"" keystone`)
	c.w("CustomLog %q keystone", l.HTTPDLogDir+"/keystone.log")
	c.w("")
}

// httpdTLS: TLS from the project CA.
func httpdTLS(c *confWriter, l Layout) {
	c.w("# TLS from the project CA: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers, server order,")
	c.w("# no compression, no session tickets, no client-initiated renegotiation.")
	c.w("SSLEngine on")
	c.w("SSLCertificateFile %q", l.CertFile)
	c.w("SSLCertificateKeyFile %q", l.KeyFile)
	c.w("SSLCACertificateFile %q", l.CAFile)
	c.w("SSLProtocol -all +TLSv1.2 +TLSv1.3")
	c.w("SSLCipherSuite %s", TLSCipherSuite12)
	c.w("SSLCipherSuite TLSv1.3 %s", TLSCipherSuite13)
	c.w("SSLHonorCipherOrder on")
	c.w("SSLOpenSSLConfCmd Groups %s", TLSGroups)
	c.w("SSLCompression off")
	c.w("SSLSessionTickets off")
	c.w("SSLInsecureRenegotiation off")
	c.w("SSLSessionCache %q", "shmcb:"+l.RunDir+"/ssl_scache(512000)")
	c.w("SSLSessionCacheTimeout 300")
	c.w("")
}

// httpdHeaders: the security headers of every answer.
func httpdHeaders(c *confWriter) {
	c.w("# Security headers on every answer.")
	c.w(`Header always set Strict-Transport-Security "max-age=63072000; includeSubDomains"`)
	c.w(`Header always set X-Content-Type-Options "nosniff"`)
	c.w(`Header always set X-Frame-Options "DENY"`)
	c.w(`Header always set Referrer-Policy "no-referrer"`)
	c.w(`Header always set Content-Security-Policy "default-src 'none'; frame-ancestors 'none'"`)
	c.w(`Header always set Cache-Control "no-store"`)
	c.w("")
}

// httpdWSGI: Keystone in one preloaded WSGI daemon group.
func httpdWSGI(c *confWriter, rt *agent.Runtime, l Layout, d agent.Distro) {
	procs, threads := wsgiProcesses(d, rt.CPUCount(), nodesOnMachine(rt))
	group := "keystone-" + rt.Host.Name
	c.w("# Keystone: one daemon group, preloaded at start (process-group and application-group on")
	c.w("# WSGIScriptAlias), served at / and at /api/idm for the load balancer (docs/decisions/roles.md).")
	c.w("WSGIRestrictEmbedded On")
	c.w("WSGISocketPrefix %q", l.RunDir+"/wsgi")
	// One socket path across graceful restarts (a certificate reload): an old worker still
	// serving a keep-alive connection reaches the new daemons instead of answering 503
	// (mod_wsgi WSGISocketRotation; the WSGI configuration does not change on a reload).
	c.w("WSGISocketRotation Off")
	pythonHome := ""
	if l.Venv != "" {
		// Keystone and its dependencies live in the virtual environment (install.go).
		pythonHome = fmt.Sprintf(" python-home=%q", l.Venv)
	}
	c.w("WSGIDaemonProcess %s processes=%d threads=%d user=%s group=%s display-name=%%{GROUP} home=%q%s",
		group, procs, threads, User, Group, l.DataDir, pythonHome)
	c.w("WSGIProcessGroup %s", group)
	c.w("WSGIApplicationGroup %%{GLOBAL}")
	c.w("WSGIPassAuthorization On")
	c.w("WSGIScriptAlias /api/idm %q process-group=%s application-group=%%{GLOBAL}", l.WSGI, group)
	c.w("WSGIScriptAlias / %q process-group=%s application-group=%%{GLOBAL}", l.WSGI, group)
	c.w("<Directory />")
	c.w("    AllowOverride None")
	c.w("    Require all denied")
	c.w("</Directory>")
	c.w("<Directory %q>", l.ConfDir)
	c.w("    <Files %q>", "keystone-wsgi-public.py")
	c.w("        Require all granted")
	c.w("    </Files>")
	c.w("</Directory>")
}
