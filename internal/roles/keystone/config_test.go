package keystone

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
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
		Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")},
		Paths:   agent.Paths{Etc: dir + "/etc", Data: dir + "/data", Log: dir + "/log", Run: dir + "/run", SSLCerts: dir + "/ssl"}}
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
		"connection = mysql+pymysql://keystone:" + dbPW + "@127.0.0.1:3406/keystone",
		"provider = fernet", "expiration = 3600",
		"[fernet_tokens]\nkey_repository = " + l.FernetKeys,
		"[fernet_receipts]\nkey_repository = " + l.FernetKeys,
		"[credential]\nkey_repository = " + l.CredentialKeys,
		"lockout_failure_attempts = 5", "unique_last_password_count = 5", "password_regex = ",
		"enforce_scope = true", "driver = noop",
		"transport_url = rabbit://ssp_user:", "@127.0.0.1:5771,", "/ssp",
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
		t.Errorf("admin secret does not meet %s", PasswordRegexHelp)
	}
}

func TestHTTPDConfHardening(t *testing.T) {
	rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	l := Paths(rt.Paths, rt.Host.Name)
	conf := renderHTTPD(rt, l, "local")
	for _, want := range []string{
		"Listen 127.0.0.1:5101", "ServerName keystone02.dev-ha.cso.ss",
		"SSLProtocol -all +TLSv1.2 +TLSv1.3", "SSLHonorCipherOrder on", "SSLCipherSuite " + TLSCipherSuite12,
		"SSLCompression off", "SSLSessionTickets off", "SSLInsecureRenegotiation off", "SSLOpenSSLConfCmd Groups X25519:secp256r1:secp384r1",
		"ServerTokens Prod", "ServerSignature Off", "TraceEnable Off",
		"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
		"SSLCertificateFile \"" + l.CertFile, "SSLCertificateKeyFile \"" + l.KeyFile,
		"WSGIDaemonProcess keystone-keystone02 processes=1 threads=1 user=keystone group=keystone",
		"WSGIScriptAlias /api/idm \"" + l.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
		"WSGIScriptAlias / \"" + l.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
		"WSGIPassAuthorization On", "LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("httpd config lacks %q", want)
		}
	}
	for _, c := range strings.Split(TLSCipherSuite12, ":") {
		if !strings.HasPrefix(c, "ECDHE-") || !(strings.Contains(c, "GCM") || strings.Contains(c, "CHACHA20-POLY1305")) {
			t.Errorf("cipher %s is not ECDHE with AEAD", c)
		}
	}
	// The local platform takes Debian's Keystone: no virtual environment anywhere.
	if strings.Contains(conf, "python-home") || strings.Contains(renderWSGI(l), "keystone-venv") || l.Venv != "" || l.ManageBin != "keystone-manage" {
		t.Errorf("local layout uses a virtual environment: Venv %q, ManageBin %q", l.Venv, l.ManageBin)
	}
	if !strings.Contains(renderWSGI(l), `os.environ["OS_KEYSTONE_CONFIG_DIR"] = "`+l.ConfDir+`"`) {
		t.Error("WSGI wrapper does not point Keystone at this instance's configuration")
	}
	// Amazon Linux: its mod_wsgi, and the daemon group runs in the virtual environment.
	la := PathsOn(rt.Paths, rt.Host.Name, "al2023")
	al := renderHTTPD(rt, la, "al2023")
	for _, want := range []string{
		"LoadModule wsgi_module /usr/lib64/httpd/modules/mod_wsgi_python3.so",
		"LoadModule ssl_module /usr/lib64/httpd/modules/mod_ssl.so",
		`home="` + la.DataDir + `" python-home="/opt/keystone-venv"`,
		"WSGIScriptAlias / \"" + la.WSGI + "\" process-group=keystone-keystone02 application-group=%{GLOBAL}",
	} {
		if !strings.Contains(al, want) {
			t.Errorf("al2023 httpd config lacks %q", want)
		}
	}
	if strings.Contains(al, "/usr/lib/apache2") {
		t.Error("al2023 httpd config refers to Debian's Apache modules")
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
