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

// renderConfig is keystone.conf ([DEFAULT], then the sections the write* functions below
// write, then messaging and middleware).
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
	if rt.MySQLCAFile == "" {
		return agent.File{}, fmt.Errorf("keystone.conf: no CA bundle to verify the database %s with", dbHost(rt))
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
	writeDatabase(w, rt, dbPW)
	ks := rt.Env.KeystoneSettings()
	writeKeySets(w, l, ks)
	writePolicy(w, ks)
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

// writeDatabase writes [database]: TLS verified as the agent verifies it (issue #10):
// SQLAlchemy's MySQLdb/PyMySQL dialect turns ssl_ca and ssl_check_hostname into PyMySQL's
// ssl dict; with a CA PyMySQL requires the certificate (CERT_REQUIRED) and checks the URL's
// host name against it. Hostname checking is its default with a CA; said explicitly so
// that a reader need not know (docs/decisions/roles.md).
func writeDatabase(w func(string, ...any), rt *agent.Runtime, password string) {
	w("[database]")
	w("connection = mysql+pymysql://keystone:%s@%s/keystone?%s", url.QueryEscape(password), dbHost(rt), dbQuery(rt.MySQLCAFile))
	w("connection_recycle_time = 3600")
	w("max_retries = 10")
	w("")
}

// writeKeySets writes [token], [fernet_tokens], [fernet_receipts] and [credential]: the
// token lifetime and key count from the env file (keystone.token_expiration,
// keystone.fernet_rotation): max_active_keys is derived from both
// (envfile.FernetMaxActiveKeys).
func writeKeySets(w func(string, ...any), l Layout, ks envfile.KeystoneSettings) {
	w("[token]")
	w("provider = fernet")
	w("expiration = %d", int(ks.TokenExpiration.Seconds()))
	// Validated tokens are cached (oslo.cache, [cache]); a token is cached at issue too
	// (cache_on_issue, deprecated since Stein, defaults to true and is not written).
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
}

// writePolicy writes [security_compliance] and [oslo_policy]: policy and password rules
// from the env file (keystone:), every option written out: Keystone 22 (local) and 25
// (Amazon Linux) have different defaults for some of them (docs/decisions/roles.md
// "Keystone policy").
func writePolicy(w func(string, ...any), ks envfile.KeystoneSettings) {
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

// The modules each Apache of a Keystone node needs beyond the MPM (and, on the Red Hat
// family, mod_unixd and mod_log_config): the back (renderHTTPD) runs Keystone in mod_wsgi,
// the front (renderTLS) terminates TLS and proxies to the back.
var (
	backModules  = []string{"authz_core", "reqtimeout"}
	frontModules = []string{"authz_core", "reqtimeout", "headers", "socache_shmcb", "ssl", "proxy", "proxy_http"}
)

// apacheModules are the modules one of the role's configurations loads on platform, in
// load order: the MPM, then one module for every directive the configuration uses that the
// platform's Apache does not have built in (the directive table is in config_test.go), the
// names given, and mod_wsgi when wsgi is set. Debian's apache2 has mod_unixd (User, Group)
// and mod_log_config (LogFormat, CustomLog) built in (`apache2 -l`) and refuses to
// LoadModule a built-in module; the Red Hat family's httpd, Amazon Linux 2023's included,
// has only core, http_core and mod_so built in, so there both are loaded too
// (docs/decisions/roles.md). mod_proxy and mod_proxy_http are in the httpd package on Amazon
// Linux (/usr/lib64/httpd/modules) and in apache2 on Debian. mod_wsgi is named by its
// absolute path, l.WSGIModule: on Amazon Linux it is not in httpd's module directory but
// built by pip in the venv.
func apacheModules(d agent.Distro, l Layout, wsgi bool, extra []string) (dir string, mods []apacheModule) {
	dir = d.ApacheModulesDir
	names := []string{"mpm_event"}
	if d.ApacheLoadsCoreModules {
		names = append(names, "unixd", "log_config")
	}
	names = append(names, extra...)
	for _, n := range names {
		mods = append(mods, apacheModule{name: n, file: "mod_" + n + ".so"})
	}
	if wsgi {
		mods = append(mods, apacheModule{name: "wsgi", file: l.WSGIModule})
	}
	return dir, mods
}

// apacheInstance is what tells the role's two Apache configurations apart.
type apacheInstance struct {
	listen  string // the Listen argument
	runDir  string // pid file, mutexes, sockets
	access  string // the access log's file name in l.HTTPDLogDir
	wsgi    bool
	modules []string
}

// The access logs of a node's two Apache instances, in Layout.HTTPDLogDir.
const (
	AccessLogFront = "keystone.log"      // the TLS front: what clients asked
	AccessLogBack  = "keystone-wsgi.log" // the WSGI back: what reached Keystone
)

// backAddr is where the back listens and the front proxies to: the keystone-wsgi port on
// 127.0.0.1.
func backAddr(rt *agent.Runtime) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(rt.Host.Ports[inventory.PortKeystoneWSGI]))
}

// backInstance is Keystone's own Apache: mod_wsgi, plain HTTP, on 127.0.0.1 only. It
// shares the error log with the front (one file for the node, as before the split).
func backInstance(rt *agent.Runtime, l Layout) apacheInstance {
	return apacheInstance{listen: backAddr(rt), runDir: l.RunDir, access: AccessLogBack, wsgi: true, modules: backModules}
}

// frontInstance terminates TLS on the Keystone port; its access log is the node's public one.
func frontInstance(rt *agent.Runtime, l Layout) apacheInstance {
	listen := strconv.Itoa(rt.Host.Ports[inventory.PortKeystone])
	if rt.Host.Address == "127.0.0.1" {
		listen = net.JoinHostPort("127.0.0.1", listen)
	}
	return apacheInstance{listen: listen, runDir: l.TLSRunDir, access: AccessLogFront, modules: frontModules}
}

// renderHTTPD is the self-contained Apache configuration of Keystone itself (`apache2 -f`),
// the back of the node: its own modules, pid file, runtime directory, logs and one
// preloaded WSGI daemon group that serves Keystone at / and at /api/idm, in plain HTTP on
// 127.0.0.1 (the keystone-wsgi port). Only the TLS front (renderTLS) reaches it. It does
// not read the certificate, so a renewal leaves it and its WSGI daemons alone
// (docs/decisions/roles.md "Keystone: a TLS front and a WSGI back").
func renderHTTPD(rt *agent.Runtime, l Layout, d agent.Distro) string {
	in := backInstance(rt, l)
	var c confWriter
	c.w("# Managed by cso agent (keystone role) for %s: changes are overwritten on the next run.", rt.Host.Name)
	c.w("# Self-contained: %s -f %s -DFOREGROUND", d.ApacheBinary, l.HTTPDConf)
	c.w("# Keystone in mod_wsgi, plain HTTP on %s: the TLS front %s is its one client.", in.listen, l.TLSConf)
	c.w("ServerRoot %q", in.runDir)
	c.w("")
	httpdModules(&c, l, d, in)
	httpdServer(&c, rt, l, in)
	// Longer than the front's pool keeps an idle connection (ttl in httpdProxy), so that the
	// back never closes a connection the front is about to reuse.
	c.w("KeepAliveTimeout %d", backKeepAlive)
	c.w("")
	httpdWSGI(&c, rt, l, d)
	return c.String()
}

// renderTLS is the self-contained Apache configuration of the node's TLS front: the
// Keystone port with the project CA's certificate, the security headers, and a reverse
// proxy to the back (renderHTTPD). It runs no application, so its graceful restart on a
// certificate renewal loses no request: old workers finish what they proxy, the listening
// socket stays open.
func renderTLS(rt *agent.Runtime, l Layout, d agent.Distro) string {
	in := frontInstance(rt, l)
	var c confWriter
	c.w("# Managed by cso agent (keystone role) for %s: changes are overwritten on the next run.", rt.Host.Name)
	c.w("# Self-contained: %s -f %s -DFOREGROUND", d.ApacheBinary, l.TLSConf)
	c.w("# TLS for Keystone, a reverse proxy to %s (Keystone in mod_wsgi, %s).", backInstance(rt, l).listen, l.HTTPDConf)
	c.w("ServerRoot %q", in.runDir)
	c.w("")
	httpdModules(&c, l, d, in)
	httpdServer(&c, rt, l, in)
	httpdTLS(&c, in.runDir, l)
	httpdHeaders(&c)
	httpdProxy(&c, rt)
	return c.String()
}

// Keep-alive between the front and the back, in seconds: the front drops an idle pooled
// connection (ttl) before the back would close it (KeepAliveTimeout).
const (
	frontPoolTTL  = 5
	backKeepAlive = 15
)

// confWriter builds a configuration file line by line.
type confWriter struct{ strings.Builder }

func (c *confWriter) w(format string, args ...any) { fmt.Fprintf(c, format+"\n", args...) }

// httpdModules loads the modules, before any directive they provide.
func httpdModules(c *confWriter, l Layout, d agent.Distro, in apacheInstance) {
	modDir, mods := apacheModules(d, l, in.wsgi, in.modules)
	c.w("# Modules, before any directive they provide: the event MPM and every module whose")
	c.w("# directives follow, except those %s has built in.", d.ApacheBinary)
	if l.Venv != "" && in.wsgi {
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
func httpdServer(c *confWriter, rt *agent.Runtime, l Layout, in apacheInstance) {
	c.w("ServerName %s", rt.Host.FQDN)
	c.w("Listen %s", in.listen)
	c.w("PidFile %q", in.runDir+"/httpd.pid")
	c.w("DefaultRuntimeDir %q", in.runDir)
	c.w("Mutex file:%s default", in.runDir)
	c.w("User %s", User)
	c.w("Group %s", Group)
	c.w("")
	c.w("# Workers: a small event MPM; the WSGI daemon group of the back does the work.")
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
	if in.wsgi {
		// Every request comes from the front: the client is its X-Forwarded-For.
		c.w(`LogFormat "%%{X-Forwarded-For}i %%l %%u %%t \"%%r\" %%>s %%b %%D \"%%{User-Agent}i\"" keystone`)
	} else {
		c.w(`LogFormat "%%h %%l %%u %%t \"%%r\" %%>s %%b %%D \"%%{User-Agent}i\"" keystone`)
	}
	c.w("CustomLog %q keystone", l.HTTPDLogDir+"/"+in.access)
	c.w("")
}

// httpdTLS: TLS from the project CA.
func httpdTLS(c *confWriter, runDir string, l Layout) {
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
	c.w("SSLSessionCache %q", "shmcb:"+runDir+"/ssl_scache(512000)")
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

// httpdProxy: everything to the back over HTTP/1.1, pooled connections kept alive. Keystone
// builds its URLs (version links, the catalog's self links) from the request: the client's
// Host is kept (ProxyPreserveHost) and X-Forwarded-Proto says https, which Keystone reads
// with [oslo_middleware] enable_proxy_headers_parsing (keystone.conf). That middleware also
// takes Forwarded, X-Forwarded-Host and X-Forwarded-Prefix, which a client could otherwise
// send to change those URLs: they are removed (mod_proxy then sets X-Forwarded-Host to the
// client's Host itself). retry=0: after the back restarts (a configuration change) the next
// request tries it again at once instead of 503 for a minute.
func httpdProxy(c *confWriter, rt *agent.Runtime) {
	back := "http://" + backAddr(rt) + "/"
	c.w("# Keystone (the back, mod_wsgi) at / and at /api/idm: one reverse proxy for both paths.")
	c.w("ProxyRequests Off")
	c.w("ProxyPreserveHost On")
	c.w("RequestHeader unset Forwarded")
	c.w("RequestHeader unset X-Forwarded-Host")
	c.w("RequestHeader unset X-Forwarded-Prefix")
	c.w(`RequestHeader set X-Forwarded-Proto "https"`)
	c.w("ProxyPass / %s retry=0 ttl=%d", back, frontPoolTTL)
	c.w("ProxyPassReverse / %s", back)
	c.w("<Directory />")
	c.w("    AllowOverride None")
	c.w("    Require all denied")
	c.w("</Directory>")
}

// httpdWSGI: Keystone in one preloaded WSGI daemon group.
func httpdWSGI(c *confWriter, rt *agent.Runtime, l Layout, d agent.Distro) {
	procs, threads := wsgiProcesses(d, rt.CPUCount(), nodesOnMachine(rt))
	group := "keystone-" + rt.Host.Name
	c.w("# Keystone: one daemon group, preloaded at start (process-group and application-group on")
	c.w("# WSGIScriptAlias), served at / and at /api/idm for the load balancer (docs/decisions/roles.md).")
	c.w("WSGIRestrictEmbedded On")
	c.w("WSGISocketPrefix %q", l.RunDir+"/wsgi")
	// One socket path across graceful restarts: an old worker still serving a keep-alive
	// connection reaches the new daemons instead of answering 503 (mod_wsgi
	// WSGISocketRotation). Certificate renewals no longer restart this Apache (the TLS front
	// reloads); a graceful restart here is a configuration change.
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
