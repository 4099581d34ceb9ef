package keystone

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

func testRuntime(t *testing.T, platform agent.Platform) *agent.Runtime {
	t.Helper()
	return testRuntimeFor(t, platform, "keystone02")
}

// testRuntimeFor is a runtime of the named Keystone host of a local HA inventory, every
// path in a temporary directory.
func testRuntimeFor(t *testing.T, platform agent.Platform, host string) *agent.Runtime {
	t.Helper()
	env := &envfile.Env{Name: "dev-ha", DomainSuffix: "cso.ss", HA: true}
	hosts := inventory.Local(env, inventory.LocalOptions{HA: true, PortBase: 100})
	h, ok := inventory.Find(hosts, host)
	if !ok {
		t.Fatalf("no host %s in the test inventory", host)
	}
	dir := t.TempDir()
	return &agent.Runtime{Env: env, Host: h, Hosts: hosts, Platform: platform, MySQL: "127.0.0.1:3406",
		MySQLCAFile: dir + "/ssl/ca/ca.crt",
		Secrets:     &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")},
		Paths:       agent.Paths{Etc: dir + "/etc", Data: dir + "/data", Log: dir + "/log", Run: dir + "/run", SSLCerts: dir + "/ssl"}}
}

func TestKeystoneConf(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	l := Paths(rt.Paths, rt.Host.Name)
	f, err := renderConfig(rt, l)
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode != 0o640 || f.Owner != "root" || f.Group != "keystone" || !f.Secret {
		t.Errorf("keystone.conf file %o %s:%s secret=%v, want 0640 root:keystone secret", f.Mode, f.Owner, f.Group, f.Secret)
	}
	conf := string(f.Content)
	dbPW, _ := rt.Secrets.Get(context.Background(), agent.SecretKeystoneDB)
	for _, want := range []string{
		"connection = mysql+pymysql://keystone:" + dbPW + "@127.0.0.1:3406/keystone?charset=utf8mb4&ssl_ca=" +
			rt.MySQLCAFile + "&ssl_check_hostname=true\n",
		"provider = fernet", "expiration = 3600",
		"[fernet_tokens]\nkey_repository = " + l.FernetKeys,
		"[fernet_receipts]\nkey_repository = " + l.FernetKeys,
		"[credential]\nkey_repository = " + l.CredentialKeys,
		"lockout_failure_attempts = 5", "unique_last_password_count = 5", "password_regex = ",
		"enforce_scope = false", "enforce_new_defaults = false", "driver = noop",
		"transport_url = rabbit://ssp_user:", "@127.0.0.1:5771,", "/ssp",
		// One cache pool: both nodes' memcached (ports 11211+100 and 11212+100 here).
		"[cache]\nenabled = true\nbackend = oslo_cache.memcache_pool\nmemcache_servers = 127.0.0.1:11311,127.0.0.1:11312\n",
		"memcache_dead_retry = 60", "memcache_socket_timeout = 1",
		"[token]\nprovider = fernet\nexpiration = 3600\ncaching = true\n",
		"[catalog]\ncaching = true\n", "[resource]\ncaching = true\n", "[role]\ncaching = true\n", "[revoke]\ncaching = true\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("keystone.conf lacks %q", want)
		}
	}
	// The LLD's example passwords, assembled so that the literals appear nowhere in the tree.
	if strings.Contains(conf, "Keystone"+"Pass123") || strings.Contains(conf, "Rabbit"+"Pass123") {
		t.Error("an LLD sample password is in keystone.conf")
	}
	// The generated secrets pass the password rule the configuration sets.
	re := regexp.MustCompile(`^[A-Za-z0-9]{12,}$`)
	pw, _ := rt.Secrets.Get(context.Background(), agent.SecretKeystoneAdmin)
	if !re.MatchString(pw) || !strings.ContainsAny(pw, "0123456789") {
		t.Errorf("admin secret does not meet %s", envfile.DefaultPasswordRegexDescription)
	}
}

// Keystone's database URL makes PyMySQL verify the server: parsed by the SQLAlchemy
// dialect Keystone uses (Debian's python3-sqlalchemy and python3-pymysql, what Keystone 22
// runs on the local target), it becomes an ssl dict whose SSL context requires a
// certificate signed by the CA file and checks the host name. Without a CA the role refuses
// to render the file rather than connect unverified.
func TestKeystoneDatabaseURLVerifiesTLS(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	l := Paths(rt.Paths, rt.Host.Name)
	noCA := *rt
	noCA.MySQLCAFile = ""
	if _, err := renderConfig(&noCA, l); err == nil || !strings.Contains(err.Error(), "no CA bundle") {
		t.Errorf("keystone.conf without a database CA: %v, want a refusal", err)
	}
	f, err := renderConfig(rt, l)
	if err != nil {
		t.Fatal(err)
	}
	var conn string
	for _, line := range strings.Split(string(f.Content), "\n") {
		if v, ok := strings.CutPrefix(line, "connection = "); ok {
			conn = v
		}
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	// A CA file that exists: PyMySQL loads it when it builds the context.
	caPEM, _, err := pki.NewCA("keystone-db-url", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(rt.MySQLCAFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rt.MySQLCAFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import ssl, sys
try:
    from sqlalchemy.engine import make_url
    from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
    import pymysql.connections
except ImportError as e:
    print("SKIP", e); sys.exit(0)
_, kw = MySQLDialect_pymysql().create_connect_args(make_url(sys.argv[1]))
sslp = kw["ssl"]
ctx = pymysql.connections.Connection._create_ssl_ctx(None, sslp)
print(kw["host"], kw["port"], sslp["ca"], ctx.verify_mode == ssl.CERT_REQUIRED, ctx.check_hostname)
`
	out, err := exec.Command(py, "-c", script, conn).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	if strings.HasPrefix(got, "SKIP") {
		t.Skip(got)
	}
	if want := "127.0.0.1 3406 " + rt.MySQLCAFile + " True True"; got != want {
		t.Errorf("PyMySQL from keystone.conf's URL: %q, want %q (host, port, CA, CERT_REQUIRED, check_hostname)", got, want)
	}
}

func TestWSGIProcessesSizedToHost(t *testing.T) {
	for _, c := range []struct {
		d                 agent.Distro
		cpus, nodes, want int
	}{
		{agent.DebianDistro, 2, 2, 1}, {agent.DebianDistro, 8, 2, 4}, {agent.DebianDistro, 1, 2, 1}, {agent.DebianDistro, 4, 1, 4},
		{agent.AL2023Distro, 1, 1, 2}, {agent.AL2023Distro, 2, 1, 2}, {agent.AL2023Distro, 8, 1, 8},
	} {
		if p, th := wsgiProcesses(c.d, c.cpus, c.nodes); p != c.want || th != 1 {
			t.Errorf("%s with %d CPUs, %d nodes on the machine: processes=%d threads=%d, want %d and 1", c.d.Name, c.cpus, c.nodes, p, th, c.want)
		}
	}
	// The local HA pair shares the machine; a host on EC2 (no address) is alone on its own.
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	if n := nodesOnMachine(rt); n != 2 {
		t.Errorf("local HA: %d Keystone nodes on the machine, want 2", n)
	}
	rt.Host.Address = ""
	if n := nodesOnMachine(rt); n != 1 {
		t.Errorf("EC2: %d Keystone nodes on the machine, want 1", n)
	}
}

func TestMemcachedCommand(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	want := []string{"/usr/bin/memcached", "-l", "127.0.0.1", "-p", "11312", "-U", "0", "-m", "64", "-c", "1024"}
	if got := MemcachedCommand(rt.Host, agent.DebianDistro); !slices.Equal(got, want) {
		t.Errorf("local memcached: %q, want %q", got, want)
	}
	// EC2: every address of the instance (the security group admits Keystone nodes only).
	h := rt.Host
	h.Address = ""
	if got := MemcachedCommand(h, agent.AL2023Distro); got[2] != "0.0.0.0" {
		t.Errorf("al2023 memcached listens on %s, want 0.0.0.0", got[2])
	}
	if agent.DebianDistro.MemcachedUser != "memcache" || agent.AL2023Distro.MemcachedUser != "memcached" {
		t.Error("memcached runs as the account its package creates: memcache (Debian), memcached (Amazon Linux)")
	}
	// On EC2 the pool names every node by its DNS name.
	hosts := slices.Clone(rt.Hosts)
	for i := range hosts {
		hosts[i].Address = ""
	}
	if got := strings.Join(cacheServers(hosts), ","); got != "keystone01.dev-ha.cso.ss:11311,keystone02.dev-ha.cso.ss:11312" {
		t.Errorf("cache servers %s", got)
	}
}

// TestHTTPDConfHardening: the TLS front (renderTLS) holds the TLS settings, the security
// headers and the reverse proxy, and no mod_wsgi; the back (renderHTTPD) holds Keystone in
// mod_wsgi, listens on 127.0.0.1 on the keystone-wsgi port only and has no mod_ssl.
func TestHTTPDConfHardening(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	l := Paths(rt.Paths, rt.Host.Name)
	front := renderTLS(rt, l, agent.DebianDistro)
	back := renderHTTPD(rt, l, agent.DebianDistro)
	for _, want := range []string{
		"Listen 127.0.0.1:5101", "ServerName keystone02.dev-ha.cso.ss",
		"SSLProtocol -all +TLSv1.2 +TLSv1.3", "SSLHonorCipherOrder on", "SSLCipherSuite " + TLSCipherSuite12,
		"SSLCompression off", "SSLSessionTickets off", "SSLInsecureRenegotiation off", "SSLOpenSSLConfCmd Groups X25519:secp256r1:secp384r1",
		"ServerTokens Prod", "ServerSignature Off", "TraceEnable Off",
		"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
		"SSLCertificateFile \"" + l.CertFile, "SSLCertificateKeyFile \"" + l.KeyFile,
		"LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so",
		"LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so",
		"ProxyPreserveHost On", `RequestHeader set X-Forwarded-Proto "https"`,
		"RequestHeader unset Forwarded", "RequestHeader unset X-Forwarded-Host", "RequestHeader unset X-Forwarded-Prefix",
		"ProxyPass / http://127.0.0.1:5151/ retry=0 ttl=5",
		"PidFile \"" + l.TLSRunDir + "/httpd.pid\"",
		"CustomLog \"" + l.HTTPDLogDir + "/keystone.log\" keystone",
	} {
		if !strings.Contains(front, want) {
			t.Errorf("TLS front config lacks %q", want)
		}
	}
	for _, not := range []string{"\nWSGI", "wsgi_module", "Listen 127.0.0.1:5151"} {
		if strings.Contains(front, not) {
			t.Errorf("TLS front config has %q", not)
		}
	}
	for _, want := range []string{
		"Listen 127.0.0.1:5151", "ServerName keystone02.dev-ha.cso.ss", "ServerTokens Prod", "TraceEnable Off",
		fmt.Sprintf("WSGIDaemonProcess keystone-keystone02 processes=%d threads=1 user=keystone group=keystone", max(1, runtime.NumCPU()/2)),
		"WSGIScriptAlias /api/idm \"" + l.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
		"WSGIScriptAlias / \"" + l.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
		"WSGIPassAuthorization On", "LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so",
		"PidFile \"" + l.RunDir + "/httpd.pid\"",
		fmt.Sprintf("KeepAliveTimeout %d", backKeepAlive),
	} {
		if !strings.Contains(back, want) {
			t.Errorf("back (WSGI) config lacks %q", want)
		}
	}
	// The back: one Listen, on the loopback address; no TLS, no certificate.
	if got := regexp.MustCompile(`(?m)^Listen .*$`).FindAllString(back, -1); len(got) != 1 || got[0] != "Listen 127.0.0.1:5151" {
		t.Errorf("back listens on %q, want 127.0.0.1:5151 only", got)
	}
	for _, not := range []string{"SSL", "mod_ssl", l.CertFile, l.KeyFile, "5101", "proxy"} {
		if strings.Contains(back, not) {
			t.Errorf("back (WSGI) config has %q", not)
		}
	}
	if frontPoolTTL >= backKeepAlive {
		t.Errorf("the front keeps idle connections %ds, the back %ds: the back could close one the front reuses", frontPoolTTL, backKeepAlive)
	}
	for _, c := range strings.Split(TLSCipherSuite12, ":") {
		if !strings.HasPrefix(c, "ECDHE-") || !(strings.Contains(c, "GCM") || strings.Contains(c, "CHACHA20-POLY1305")) {
			t.Errorf("cipher %s is not ECDHE with AEAD", c)
		}
	}
	// The local platform takes Debian's Keystone: no virtual environment anywhere.
	if strings.Contains(back, "python-home") || strings.Contains(renderWSGI(l), "keystone-venv") || l.Venv != "" || l.ManageBin != "keystone-manage" {
		t.Errorf("local layout uses a virtual environment: Venv %q, ManageBin %q", l.Venv, l.ManageBin)
	}
	if !strings.Contains(renderWSGI(l), `os.environ["OS_KEYSTONE_CONFIG_DIR"] = "`+l.ConfDir+`"`) {
		t.Error("WSGI wrapper does not point Keystone at this instance's configuration")
	}
	// Amazon Linux: the mod_wsgi pip built in the venv, and the daemon group runs there;
	// mod_ssl and mod_proxy from the httpd package's module directory.
	la := PathsOn(rt.Paths, rt.Host.Name, agent.AL2023Distro)
	al := renderHTTPD(rt, la, agent.AL2023Distro)
	for _, want := range []string{
		"LoadModule wsgi_module /opt/keystone-venv/apache/mod_wsgi.so",
		`home="` + la.DataDir + `" python-home="/opt/keystone-venv"`,
		"WSGIScriptAlias / \"" + la.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
	} {
		if !strings.Contains(al, want) {
			t.Errorf("al2023 httpd config lacks %q", want)
		}
	}
	alFront := renderTLS(rt, la, agent.AL2023Distro)
	for _, want := range []string{
		"LoadModule ssl_module /usr/lib64/httpd/modules/mod_ssl.so",
		"LoadModule proxy_module /usr/lib64/httpd/modules/mod_proxy.so",
		"LoadModule proxy_http_module /usr/lib64/httpd/modules/mod_proxy_http.so",
	} {
		if !strings.Contains(alFront, want) {
			t.Errorf("al2023 TLS front config lacks %q", want)
		}
	}
	if strings.Contains(al+alFront, "/usr/lib/apache2") {
		t.Error("al2023 httpd config refers to Debian's Apache modules")
	}
}

// platformRecorder is a platform that also records the services it is asked for.
type platformRecorder struct {
	agent.Platform
	specs []agent.ServiceSpec
}

func (r *platformRecorder) Service(spec agent.ServiceSpec) agent.Task {
	r.specs = append(r.specs, spec)
	return r.Platform.Service(spec)
}

// TestApacheServicesReloadFiles: a renewed certificate reloads the TLS front gracefully and
// does not concern the back, whose restart would restart Keystone's WSGI daemons.
func TestApacheServicesReloadFiles(t *testing.T) {
	for _, platform := range []string{"local", "al2023"} {
		t.Run(platform, func(t *testing.T) {
			var p agent.Platform = agent.NewLocal(t.TempDir(), t.TempDir())
			if platform == "al2023" {
				p = al2023(t, &fakeRunner{})
			}
			rec := &platformRecorder{Platform: p}
			rt := testRuntime(t, rec)
			d := distros[platform]
			l := PathsOn(rt.Paths, rt.Host.Name, d)
			if _, err := New().Steps(rt); err != nil {
				t.Fatal(err)
			}
			specs := map[string]agent.ServiceSpec{}
			for _, s := range rec.specs {
				specs[s.Name] = s
			}
			front, back := specs["keystone-tls"], specs["keystone-httpd"]
			tlsFiles := []string{l.CertFile, l.KeyFile, l.CAFile}
			if !slices.Equal(front.ReloadFiles, tlsFiles) || front.Reload.Signal != "USR1" {
				t.Errorf("front reloads on %v with %+v, want %v with USR1", front.ReloadFiles, front.Reload, tlsFiles)
			}
			if !slices.Equal(front.ConfigFiles, []string{l.TLSConf}) || !slices.Contains(front.Command, l.TLSConf) {
				t.Errorf("front: config files %v, command %v", front.ConfigFiles, front.Command)
			}
			if len(back.ReloadFiles) != 0 || !back.Reload.IsZero() {
				t.Errorf("back reloads on %v with %+v: a renewal must not touch it", back.ReloadFiles, back.Reload)
			}
			for _, f := range tlsFiles {
				if slices.Contains(back.ConfigFiles, f) {
					t.Errorf("back restarts when %s changes", f)
				}
			}
			if !slices.Equal(back.ConfigFiles, []string{l.HTTPDConf, l.Conf, l.WSGI}) {
				t.Errorf("back config files %v", back.ConfigFiles)
			}
			if back.RuntimeDirs[0].Path == front.RuntimeDirs[0].Path {
				t.Errorf("front and back share the runtime directory %s", back.RuntimeDirs[0].Path)
			}
		})
	}
}

func TestKeySetChecks(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	dir := t.TempDir()
	task := keySetTask{kind: "fernet", local: dir + "/local", shared: dir + "/shared", setup: "fernet_setup"}
	ctx := context.Background()
	// keystone02 is not the first node: with nothing shared it waits for the first node.
	c, err := task.Check(ctx, rt)
	if err != nil || !c.Needed || !strings.Contains(c.Summary, "once the first node has published it") {
		t.Fatalf("Check = %+v, %v", c, err)
	}
	agent.File{Path: dir + "/shared/0", Content: []byte("a")}.Apply(ctx, rt)
	agent.File{Path: dir + "/shared/1", Content: []byte("b")}.Apply(ctx, rt)
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "install the fernet key set (2 keys)") {
		t.Errorf("Check = %+v", c)
	}
	if !sameKeys(map[string][]byte{"0": []byte("a")}, map[string][]byte{"0": []byte("a")}) ||
		sameKeys(map[string][]byte{"0": []byte("a")}, map[string][]byte{"0": []byte("b")}) ||
		sameKeys(map[string][]byte{"0": []byte("a")}, map[string][]byte{"0": []byte("a"), "1": nil}) {
		t.Error("sameKeys is wrong")
	}
}

// apacheDirectives is the module that provides each directive renderHTTPD and renderTLS write, as
// `apache2 -L` (httpd 2.4) lists them: core.c, http_core.c, mod_so.c, event.c (the MPM),
// mod_unixd.c, mod_log_config.c, ... Directives starting with SSL belong to mod_ssl and
// those starting with WSGI to mod_wsgi. A directive missing here fails the test: add it
// with its module.
var apacheDirectives = map[string]string{
	"ServerRoot": "core", "ServerName": "core", "PidFile": "core", "DefaultRuntimeDir": "core",
	"Mutex": "core", "Timeout": "core", "ErrorLog": "core", "LogLevel": "core",
	"ServerTokens": "core", "ServerSignature": "core", "TraceEnable": "core",
	"<Directory": "core", "<Files": "core", "AllowOverride": "core",
	"KeepAlive":  "http_core",
	"LoadModule": "so",
	"Listen":     "mpm_event", "StartServers": "mpm_event", "ServerLimit": "mpm_event",
	"ThreadsPerChild": "mpm_event", "MaxRequestWorkers": "mpm_event",
	"MinSpareThreads": "mpm_event", "MaxSpareThreads": "mpm_event",
	"User": "unixd", "Group": "unixd",
	"LogFormat": "log_config", "CustomLog": "log_config",
	"Require":            "authz_core",
	"RequestReadTimeout": "reqtimeout",
	"Header":             "headers", "RequestHeader": "headers",
	"KeepAliveTimeout": "http_core",
	"ProxyRequests":    "proxy", "ProxyPreserveHost": "proxy", "ProxyPass": "proxy", "ProxyPassReverse": "proxy",
}

// distros are the platforms' distributions by platform name.
var distros = map[string]agent.Distro{"local": agent.DebianDistro, "al2023": agent.AL2023Distro}

// apacheBuiltins are the modules compiled into each platform's Apache (`apache2 -l` on
// Debian 12; `httpd -l` on the Red Hat family, Amazon Linux 2023 included). Debian refuses
// to LoadModule a built-in module.
var apacheBuiltins = map[string][]string{
	"local":  {"core", "so", "watchdog", "http_core", "log_config", "logio", "version", "unixd"},
	"al2023": {"core", "so", "http_core"},
}

// directiveModule is the module that provides directive d.
func directiveModule(d string) (string, bool) {
	switch {
	case strings.HasPrefix(d, "SSL"):
		return "ssl", true
	case strings.HasPrefix(d, "WSGI"):
		return "wsgi", true
	}
	m, ok := apacheDirectives[d]
	return m, ok
}

// TestHTTPDConfModules: on each platform every directive of the rendered configuration
// comes from a module that is built into that platform's Apache or loaded (from that
// platform's module directory) on an earlier line, and no built-in module is loaded. On
// Amazon Linux 2023 only core, http_core and mod_so are built in, so User/Group need
// mod_unixd and LogFormat/CustomLog mod_log_config.
func TestHTTPDConfModules(t *testing.T) {
	for _, platform := range []string{"local", "al2023"} {
		t.Run(platform, func(t *testing.T) {
			rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
			l := PathsOn(rt.Paths, rt.Host.Name, distros[platform])
			for _, conf := range []string{renderHTTPD(rt, l, distros[platform]), renderTLS(rt, l, distros[platform])} {
				checkModules(t, platform, l, conf)
			}
		})
	}
}

// checkModules is TestHTTPDConfModules for one rendered configuration.
func checkModules(t *testing.T, platform string, l Layout, conf string) {
	t.Helper()
	modDir := map[string]string{"local": "/usr/lib/apache2/modules/", "al2023": "/usr/lib64/httpd/modules/"}[platform]
	available := map[string]int{} // module -> line where it became available
	for _, m := range apacheBuiltins[platform] {
		available[m] = 0
	}
	needs := func(line int, what, module string) {
		if at, ok := available[module]; !ok || at > line {
			t.Errorf("line %d: %s needs mod_%s, which is neither built into %s's Apache nor loaded before it",
				line, what, module, platform)
		}
	}
	for i, raw := range strings.Split(conf, "\n") {
		line := i + 1
		s := strings.TrimSpace(raw)
		if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "</") {
			continue
		}
		f := strings.Fields(s)
		if f[0] == "LoadModule" {
			// mod_wsgi comes from the layout (on al2023 built by pip into the venv).
			fromLayout := len(f) == 3 && f[1] == "wsgi_module" && f[2] == l.WSGIModule
			if len(f) != 3 || !strings.HasSuffix(f[1], "_module") || !(strings.HasPrefix(f[2], modDir) || fromLayout) {
				t.Errorf("line %d: %q is not a LoadModule of a module in %s or of the layout's mod_wsgi", line, s, modDir)
				continue
			}
			m := strings.TrimSuffix(f[1], "_module")
			if at, ok := available[m]; ok {
				if at == 0 {
					t.Errorf("line %d: mod_%s is built into %s's Apache and cannot be loaded", line, m, platform)
				} else {
					t.Errorf("line %d: mod_%s loaded again (first on line %d)", line, m, at)
				}
				continue
			}
			available[m] = line
			continue
		}
		m, ok := directiveModule(f[0])
		if !ok {
			t.Errorf("line %d: directive %s is not in apacheDirectives: add it with the module that provides it", line, f[0])
			continue
		}
		needs(line, f[0], m)
		// The shared-memory session cache is a socache provider of its own.
		if strings.Contains(s, "shmcb:") {
			needs(line, f[0]+" shmcb:", "socache_shmcb")
		}
	}
	if t.Failed() {
		t.Logf("the rendered configuration:\n%s", conf)
	}
	// One MPM, and the one whose directives the configuration uses.
	var mpms []string
	for m := range available {
		if strings.HasPrefix(m, "mpm_") {
			mpms = append(mpms, m)
		}
	}
	if len(mpms) != 1 || mpms[0] != "mpm_event" {
		t.Errorf("MPMs loaded: %v, want mpm_event only", mpms)
	}
}

// TestHTTPDConfSyntax runs this machine's Apache (Debian's apache2) in configuration-test
// mode on both renderings. The Amazon Linux one is checked with its module paths mapped to
// Debian's and without the LoadModule lines of modules Debian has built in (it refuses
// them); TestHTTPDConfModules covers that those are loaded on Amazon Linux.
func TestHTTPDConfSyntax(t *testing.T) {
	if _, err := os.Stat(agent.DebianDistro.ApacheBinary); err != nil {
		t.Skip("no apache2 on this machine: run scripts/install-deps.sh")
	}
	if _, err := user.Lookup(User); err != nil {
		t.Skip("no keystone user on this machine (User and WSGIDaemonProcess name it): the keystone role creates it")
	}
	for _, platform := range []string{"local", "al2023"} {
		t.Run(platform, func(t *testing.T) {
			rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
			l := PathsOn(rt.Paths, rt.Host.Name, distros[platform])
			for _, d := range []string{l.RunDir, l.TLSRunDir, l.HTTPDLogDir, l.ConfDir, filepath.Dir(l.CertFile), filepath.Dir(l.CAFile), filepath.Dir(l.HTTPDConf)} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{l.CertFile, l.KeyFile, l.CAFile, l.WSGI} {
				if err := os.WriteFile(f, []byte("placeholder\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []struct {
				path   string
				render func(*agent.Runtime, Layout, agent.Distro) string
			}{{l.HTTPDConf, renderHTTPD}, {l.TLSConf, renderTLS}} {
				checkSyntax(t, platform, r.path, r.render(rt, l, distros[platform]))
			}
		})
	}
}

// checkSyntax is TestHTTPDConfSyntax for one rendered configuration, written to path.
func checkSyntax(t *testing.T, platform, path, conf string) {
	t.Helper()
	if platform == "al2023" {
		var keep []string
		for _, line := range strings.Split(conf, "\n") {
			if strings.HasPrefix(line, "LoadModule unixd_module ") || strings.HasPrefix(line, "LoadModule log_config_module ") {
				continue
			}
			keep = append(keep, line)
		}
		conf = strings.Join(keep, "\n")
		conf = strings.ReplaceAll(conf, ModWSGIPath(VenvDir), "/usr/lib/apache2/modules/mod_wsgi.so")
		conf = strings.ReplaceAll(conf, "/usr/lib64/httpd/modules/", "/usr/lib/apache2/modules/")
	}
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, agent.DebianDistro.ApacheBinary, "-t", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Errorf("%s -t -f %s: %v\n%s\n%s", agent.DebianDistro.ApacheBinary, path, err, out, conf)
	}
}

// TestCertWaitByPlatform: on EC2 the certificate wait outlasts the jump server's setup (all
// instances boot together); locally it stays short.
func TestCertWaitByPlatform(t *testing.T) {
	ec2 := &agent.Runtime{Platform: &agent.AL2023{}}
	local := &agent.Runtime{Platform: agent.NewLocal(t.TempDir(), t.TempDir())}
	if got := ec2.PeerWait(CertWaitTimeout); got != 45*time.Minute {
		t.Errorf("al2023 certificate wait %s, want 45m", got)
	}
	if got := local.PeerWait(CertWaitTimeout); got != 10*time.Minute {
		t.Errorf("local certificate wait %s, want 10m", got)
	}
	// keystone02 waits for keystone01's key sets, which come after its pip install on EC2.
	if got := ec2.PeerWait(KeyWaitTimeout); got != 45*time.Minute {
		t.Errorf("al2023 key set wait %s, want 45m", got)
	}
	if got := local.PeerWait(KeyWaitTimeout); got != KeyWaitTimeout {
		t.Errorf("local key set wait %s, want %s", got, KeyWaitTimeout)
	}
}

// A runtime directory too deep for mod_wsgi's daemon sockets is refused when the steps are
// built, naming the directory, instead of Apache answering 503 to every request.
func TestSocketPathTooDeep(t *testing.T) {
	short := PathsOn(agent.Paths{Run: "/tmp/cso-local-1/hosts/keystone01/run"}, "keystone01", agent.DebianDistro)
	if err := checkSocketPath(short); err != nil {
		t.Errorf("short path refused: %v", err)
	}
	deep := PathsOn(agent.Paths{Run: "/tmp/TestInterruptedUpConverges3928968723/001/interrupted/hosts/keystone01/run"}, "keystone01", agent.DebianDistro)
	err := checkSocketPath(deep)
	if err == nil || !strings.Contains(err.Error(), deep.RunDir) || !strings.Contains(err.Error(), "use a shorter directory") {
		t.Errorf("deep path: %v", err)
	}
}

// The env file's Keystone settings reach keystone.conf, every option written out, and a
// "$" that oslo.config would substitute is escaped.
func TestKeystoneConfPolicySettings(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	yes, zero, dur := true, 0, 900
	regex, help := `^(?=.*[$_]).{16,}$`, "16 characters with $ or _"
	rt.Env.Keystone = envfile.Keystone{EnforceScope: &yes, EnforceNewDefaults: &yes, SecurityCompliance: envfile.SecurityCompliance{
		LockoutFailureAttempts: &zero, LockoutDuration: &dur, PasswordRegex: &regex, PasswordRegexDescription: &help}}
	f, err := renderConfig(rt, Paths(rt.Paths, rt.Host.Name))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(f.Content)
	for _, want := range []string{
		"[security_compliance]\nlockout_failure_attempts = 0\nlockout_duration = 900\nunique_last_password_count = 5\nminimum_password_age = 0\nchange_password_upon_first_use = false\n",
		"password_regex = ^(?=.*[$$_]).{16,}$\n", "password_regex_description = 16 characters with $ or _\n",
		"[oslo_policy]\nenforce_scope = true\nenforce_new_defaults = true\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("keystone.conf lacks %q:\n%s", want, conf)
		}
	}
}

func TestConfValue(t *testing.T) {
	for in, want := range map[string]string{
		`^.{12,}$`: `^.{12,}$`, `a$b`: `a$$b`, `${x}`: `$${x}`, `$$`: `$$$`, `$1`: `$1`, `[$_]`: `[$$_]`,
	} {
		if got := confValue(in); got != want {
			t.Errorf("confValue(%q) = %q, want %q", in, got, want)
		}
	}
}
