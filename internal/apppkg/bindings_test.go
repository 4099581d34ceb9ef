package apppkg_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// TestBindingsContract renders the bindings of an HA backend host and writes them: every
// name of contract version 1 is in the environment, every secret only in a 0600 file of
// a 0700 directory, the truststore opens in Java's keytool with its password and holds the
// project CA, a second run changes nothing, and a rotated secret changes the digest.
func TestBindingsContract(t *testing.T) {
	s := stacktest.New(t, "bindings", inventory.LocalOptions{HA: true, PortBase: 16170})
	be := s.Host("backend-server-1")
	rt := s.Runtime(be)
	rt.MySQL, rt.MySQLCAFile = "127.0.0.1:19476", s.Certs.CACert()
	ctx := context.Background()
	b, err := apppkg.RenderBindings(ctx, rt, apppkg.KnownBindings)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range b.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	root := apppkg.BindingsRoot(rt.Paths)
	want := map[string]string{
		"CSO_BINDINGS_VERSION": "1", "SERVICE_BINDING_ROOT": root, "CSO_ENVIRONMENT": s.Env.Name,
		"CSO_MYSQL_HOST": "127.0.0.1", "CSO_MYSQL_PORT": "19476", "CSO_MYSQL_DATABASE": "cso_portal", "CSO_MYSQL_USER": "cso_user",
		"CSO_MYSQL_PASSWORD_FILE": filepath.Join(root, "mysql", "password"), "CSO_MYSQL_DNS_NAME": s.Env.FQDN("mysql"),
		"CSO_RABBITMQ_VHOST": "ssp", "CSO_RABBITMQ_USER": "ssp_user", "CSO_KEYSTONE_USER": agent.KeystoneApplicationUser,
		"CSO_TRUSTSTORE": filepath.Join(root, "ca", "truststore.p12"), "CSO_TRUSTSTORE_TYPE": "PKCS12",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	mq := inventory.ByRole(s.Hosts, envfile.RoleRabbitMQ)
	if got := strings.Split(env["CSO_RABBITMQ_ADDRESSES"], ","); len(got) != len(mq) || len(mq) != 3 {
		t.Errorf("CSO_RABBITMQ_ADDRESSES %q: want every one of the %d nodes", env["CSO_RABBITMQ_ADDRESSES"], len(mq))
	}
	if !strings.HasSuffix(env["CSO_KEYSTONE_IDM_URL"], "/api/idm/v3") || len(strings.Split(env["CSO_KEYSTONE_URLS"], ",")) != 2 {
		t.Errorf("Keystone URLs: %q and %q", env["CSO_KEYSTONE_IDM_URL"], env["CSO_KEYSTONE_URLS"])
	}
	for _, name := range []string{agent.SecretPortalDB, agent.SecretRabbitMQ, agent.SecretKeystoneApplication} {
		v := s.Secret(name)
		if !slices.Contains(b.Secrets, v) {
			t.Errorf("secret %s is not among the bindings' secrets", name)
		}
		for _, kv := range b.Env {
			if strings.Contains(kv, v) {
				t.Errorf("secret %s in the environment: %s", name, strings.SplitN(kv, "=", 2)[0])
			}
		}
	}

	user := apppkg.ServiceUser()
	if os.Geteuid() == 0 {
		// The services' own account exists (the bindings step creates it on a real host).
		if err := (agent.SystemUser{User: apppkg.BindingsUser, Home: "/nonexistent", Comment: "CSO application services"}).Apply(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(tasks []agent.Task) (changed int) {
		for _, task := range tasks {
			c, err := task.Check(ctx, rt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Needed {
				changed++
				if err := task.Apply(ctx, rt); err != nil {
					t.Fatal(err)
				}
			}
		}
		return changed
	}
	if apply(apppkg.BindingTasks(b, user)) == 0 {
		t.Fatal("the first run wrote nothing")
	}
	for _, p := range b.Paths() {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 0600", p, st.Mode().Perm())
		}
		if d, _ := os.Stat(filepath.Dir(p)); d.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o, want 0700", filepath.Dir(p), d.Mode().Perm())
		}
	}
	got, _ := os.ReadFile(filepath.Join(root, "keystone", "password"))
	if string(got) != s.Secret(agent.SecretKeystoneApplication) {
		t.Error("keystone/password does not hold the service account's password")
	}
	// A second rendering reuses the truststore's password, so nothing changes.
	b2, err := apppkg.RenderBindings(ctx, rt, apppkg.KnownBindings)
	if err != nil {
		t.Fatal(err)
	}
	if n := apply(apppkg.BindingTasks(b2, user)); n != 0 {
		t.Errorf("a second run changed %d things", n)
	}
	if b2.Digest() != b.Digest() {
		t.Error("the digest changed without a change")
	}
	if keytool, err := exec.LookPath("keytool"); err == nil {
		pw, _ := os.ReadFile(filepath.Join(root, "ca", "truststore-password"))
		cmd := exec.Command(keytool, "-list", "-storetype", "PKCS12", "-keystore", filepath.Join(root, "ca", "truststore.p12"), "-storepass:env", "TSPW")
		cmd.Env = append(os.Environ(), "TSPW="+string(pw))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "trustedCertEntry") {
			t.Errorf("keytool cannot read the truststore: %v\n%s", err, out)
		}
	}
	// Rotation: a new secret is a new digest (the services' configuration hash).
	if err := os.WriteFile(filepath.Join(s.Dir, "secrets", agent.SecretRabbitMQ), []byte("RotatedPassw0rdRotatedPassw0rd12"), 0o600); err != nil {
		t.Fatal(err)
	}
	b3, err := apppkg.RenderBindings(ctx, rt, apppkg.KnownBindings)
	if err != nil {
		t.Fatal(err)
	}
	if b3.Digest() == b.Digest() {
		t.Error("a rotated secret left the digest unchanged: the services would not restart")
	}
	if n := apply(apppkg.BindingTasks(b3, user)); n != 1 {
		t.Errorf("a rotated secret changed %d files, want 1 (rabbitmq/password)", n)
	}
}

// TestManifestBindingsAndPortsNameTheLine: an unknown binding and a service on a port the
// LLD gives another service are refused with the manifest's line.
func TestManifestBindingsAndPortsNameTheLine(t *testing.T) {
	m := fixture.Manifest()
	fixture.WithBindings(m)
	m.Bindings = append(m.Bindings, "ldap")
	m.Services[3].Port = 8202 // portal-ui's
	data, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	lineOf := func(sub string, after int) int {
		for i := after; i < len(lines); i++ {
			if strings.Contains(lines[i], sub) {
				return i + 1
			}
		}
		return 0
	}
	_, err = apppkg.ParseManifest("p.tar.gz", data)
	var ps *apppkg.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want *apppkg.Problems, got %v", err)
	}
	ldap := lineOf("- ldap", 0)
	port := lineOf("port: 8202", lineOf("name: "+m.Services[3].Name, 0))
	for _, w := range []string{
		"cso-app.yaml:" + strconv.Itoa(ldap) + ": bindings[3]: unknown binding \"ldap\"",
		"cso-app.yaml:" + strconv.Itoa(port) + ": services[3] (" + m.Services[3].Name + ").port: port 8202 is the LLD's port of service portal-ui (frontend)",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
