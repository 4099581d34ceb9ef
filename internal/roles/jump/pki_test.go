package jump

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// fakeSM is Secrets Manager's GetSecretValue over a map of secret id to SecretString.
type fakeSM struct {
	mu     sync.Mutex
	values map[string]string
	asked  map[string]bool // every secret id read
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[string]bool{}
	}
	f.asked[aws.ToString(in.SecretId)] = true
	v, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

// tfIssue signs a host certificate the way terraform/modules/security does
// (tls_locally_signed_cert over an RSA 2048 tls_private_key, PKCS#1 PEM; DNS names only).
func tfIssue(t *testing.T, ca *pki.CA, fqdn string, dnsNames ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"DXC"}, CommonName: fqdn},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func newTestCA(env string) (*pki.CA, error) {
	c, k, err := pki.NewCA(env, time.Now())
	if err != nil {
		return nil, err
	}
	return pki.LoadCA(c, k)
}

// testCAs are Terraform's CA of environment dev and another CA of the same name (what an
// agent that generated its own CA made); RSA 4096 keys take a while, so the tests share them.
var testCAs = sync.OnceValues(func() ([2]*pki.CA, error) {
	tf, err := newTestCA("dev")
	if err != nil {
		return [2]*pki.CA{}, err
	}
	other, err := newTestCA("dev")
	return [2]*pki.CA{tf, other}, err
})

func cas(t *testing.T) (tf, other *pki.CA) {
	t.Helper()
	c, err := testCAs()
	if err != nil {
		t.Fatal(err)
	}
	return c[0], c[1]
}

func tlsDoc(t *testing.T, cert, key, ca []byte, dns []string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"certificate": string(cert), "private_key": string(key), "ca_certificate": string(ca), "dns_names": dns})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type pkiRole struct{ store pki.Store }

func (pkiRole) Role() envfile.Role { return envfile.RoleJump }
func (r pkiRole) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	return append(agent.OwnTLSSteps(rt), agent.Step{Name: "pki", Tasks: pkiTasks(rt, r.store)}), nil
}

// awsFixture is a jump host on AWS: Terraform's CA, one TLS secret per host in the fake
// Secrets Manager, and an empty shared store.
type awsFixture struct {
	ca     *pki.CA
	sm     *fakeSM
	env    *envfile.Env
	hosts  []inventory.Host
	certs  map[string][2][]byte // host -> certificate, key as Terraform stored them
	store  pki.Store
	paths  agent.Paths
	rootFS string
}

func newAWSFixture(t *testing.T, ca *pki.CA) *awsFixture {
	env := &envfile.Env{Name: "dev", DomainSuffix: "cso.ss"}
	f := &awsFixture{ca: ca, sm: &fakeSM{values: map[string]string{}}, env: env, certs: map[string][2][]byte{}}
	for _, h := range []struct {
		name  string
		role  envfile.Role
		alias string
	}{
		{"jump-server-1", envfile.RoleJump, ""},
		{"keystone01", envfile.RoleKeystone, "identity"},
		{"rabbitmq-server-1", envfile.RoleRabbitMQ, "mq"},
	} {
		host := inventory.Host{Name: h.name, Role: h.role, Index: 1, FQDN: env.FQDN(h.name)}
		dns := []string{host.FQDN, h.name}
		if h.alias != "" {
			host.Aliases = []string{env.FQDN(h.alias)}
			dns = append(dns, env.FQDN(h.alias))
		}
		f.hosts = append(f.hosts, host)
		cert, key := tfIssue(t, ca, host.FQDN, dns...)
		f.certs[h.name] = [2][]byte{cert, key}
		f.sm.values[agent.HostTLSSecretID("dev", h.name)] = tlsDoc(t, cert, key, ca.CertPEM, dns)
	}
	f.rootFS = t.TempDir()
	f.paths = agent.Paths{Root: f.rootFS, SSLCerts: filepath.Join(f.rootFS, "ssl-certs"), Data: filepath.Join(f.rootFS, "data"),
		HostTLS: filepath.Join(f.rootFS, "etc", "cso", "tls")}
	f.store = pki.Store{Dir: f.paths.SSLCerts}
	return f
}

func (f *awsFixture) runtime() *agent.Runtime {
	return &agent.Runtime{Env: f.env, Host: f.hosts[0], Hosts: f.hosts, Paths: f.paths,
		Secrets: &agent.AWSSecrets{Client: f.sm, Env: f.env.Name}}
}

func (f *awsFixture) run(t *testing.T, dryRun bool) (agent.Result, error) {
	t.Helper()
	rt := f.runtime()
	rt.DryRun = dryRun
	return agent.Run(context.Background(), rt, pkiRole{f.store}, nil)
}

func TestPKIFromTerraform(t *testing.T) {
	ca, other := cas(t)
	f := newAWSFixture(t, ca)
	rt := f.runtime()
	for _, task := range pkiTasks(rt, f.store) {
		switch task.(type) {
		case tfCATask, sharedKeysTask:
		default:
			t.Fatalf("on AWS the PKI step runs %T; want only the CA certificate and the shared store's cleanup", task)
		}
	}

	// A stale CA of an agent that generated its own (the old behaviour) is replaced, its key removed.
	staleKey, err := x509.MarshalPKCS8PrivateKey(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(CAKeyPath(f.paths)), 0o700)
	os.WriteFile(CAKeyPath(f.paths), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: staleKey}), 0o600)
	os.WriteFile(localCACertPath(f.paths), other.CertPEM, 0o644)
	os.MkdirAll(filepath.Dir(f.store.CACert()), 0o755)
	os.WriteFile(f.store.CACert(), other.CertPEM, 0o644)
	// Keys an earlier jump agent copied into the shared store, which every role mounts.
	for _, h := range f.hosts[1:] {
		os.MkdirAll(f.store.HostDir(h.Name), 0o755)
		os.WriteFile(f.store.ServerKey(h.Name), f.certs[h.Name][1], 0o640)
		os.WriteFile(f.store.ServerCert(h.Name), f.certs[h.Name][0], 0o644)
	}

	// A dry run reports and writes nothing.
	res, err := f.run(t, true)
	if err != nil || len(res.Changed) != 3 {
		t.Fatalf("dry run: %v, changes %q; want the own certificate, the CA and the stale keys", err, res.Changed)
	}
	if got, _ := os.ReadFile(f.store.CACert()); !bytes.Equal(got, other.CertPEM) {
		t.Fatal("the dry run replaced the CA certificate")
	}
	if _, err := os.Stat(f.paths.HostTLS); err == nil {
		t.Fatal("the dry run wrote the host's certificate")
	}
	if _, err := os.Stat(f.store.ServerKey("keystone01")); err != nil {
		t.Fatal("the dry run removed a key")
	}

	res, err = f.run(t, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.store.CACert()); !bytes.Equal(got, ca.CertPEM) {
		t.Error("the shared store's CA certificate is not Terraform's")
	}
	if st, err := os.Stat(f.store.CACert()); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("CA certificate: %v, want mode 0644", err)
	}
	for _, p := range []string{CAKeyPath(f.paths), localCACertPath(f.paths)} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s still exists: the jump host must hold no CA of its own on AWS", p)
		}
	}
	// The jump server read its own TLS secret and no other host's.
	for id := range f.sm.asked {
		if strings.Contains(id, "/cso/tls/") && id != agent.HostTLSSecretID("dev", "jump-server-1") {
			t.Errorf("the jump agent read %s: a host reads its own TLS secret only", id)
		}
	}
	// Its own pair is in its own directory; the only private key on disk is that one.
	own := f.paths.OwnTLS("jump-server-1")
	if cert, _ := os.ReadFile(own.Cert); !bytes.Equal(cert, f.certs["jump-server-1"][0]) {
		t.Error("the jump server's own certificate is not its secret's")
	}
	if st, err := os.Stat(own.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("own key %v, want mode 0600", err)
	}
	filepath.WalkDir(f.rootFS, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		k, err := pki.ParseKey(b)
		if err != nil {
			return nil
		}
		type pub interface{ Equal(crypto.PublicKey) bool }
		if k.Public().(pub).Equal(ca.Key.Public()) {
			t.Errorf("%s holds the CA key", p)
		}
		if p != own.Key {
			t.Errorf("%s holds a private key: the only one on the jump host is its own, in %s", p, own.Key)
		}
		return nil
	})

	// Converged: a second run changes nothing.
	if res, err = f.run(t, false); err != nil || len(res.Changed) != 0 {
		t.Fatalf("second run: %v, changes %q; want none", err, res.Changed)
	}

	// A renewed secret is installed.
	h := f.hosts[0]
	cert, key := tfIssue(t, ca, h.FQDN, h.FQDN, h.Name)
	f.sm.values["dev/cso/tls/jump-server-1"] = tlsDoc(t, cert, key, ca.CertPEM, nil)
	if res, err = f.run(t, false); err != nil || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "from dev/cso/tls/jump-server-1") {
		t.Errorf("renewed secret: %v, changes %q; want jump-server-1 reinstalled", err, res.Changed)
	}
	if got, _ := os.ReadFile(own.Cert); !bytes.Equal(got, cert) {
		t.Error("the renewed certificate was not installed")
	}
}

func TestPKIFromTerraformRefuses(t *testing.T) {
	ca, other := cas(t)
	ctx := context.Background()

	installed := func(f *awsFixture) bool {
		_, err := os.Stat(f.paths.OwnTLS("jump-server-1").Cert)
		return err == nil
	}
	t.Run("signed by another CA", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		cert, key := tfIssue(t, other, f.hosts[0].FQDN, f.hosts[0].FQDN, "jump-server-1")
		f.sm.values["dev/cso/tls/jump-server-1"] = tlsDoc(t, cert, key, ca.CertPEM, nil)
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host jump-server-1: refusing the certificate in dev/cso/tls/jump-server-1") ||
			!strings.Contains(err.Error(), "not signed by the root CA") {
			t.Fatalf("error %v; want the certificate refused", err)
		}
		if installed(f) {
			t.Error("the refused certificate was written")
		}
	})
	t.Run("another host's certificate", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		f.sm.values["dev/cso/tls/jump-server-1"] = f.sm.values["dev/cso/tls/keystone01"]
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host jump-server-1: refusing") || !strings.Contains(err.Error(), "jump-server-1.dev.cso.ss") {
			t.Fatalf("error %v; want jump-server-1 refused for its name", err)
		}
	})
	t.Run("key of another host", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		f.sm.values["dev/cso/tls/jump-server-1"] = tlsDoc(t, f.certs["jump-server-1"][0], f.certs["keystone01"][1], ca.CertPEM, nil)
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host jump-server-1") || !strings.Contains(err.Error(), "private_key does not match") {
			t.Fatalf("error %v; want the key refused", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Error("the error shows key material")
		}
	})
	t.Run("jump secret not created yet", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		delete(f.sm.values, "dev/cso/tls/jump-server-1")
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "dev/cso/tls/jump-server-1 not found: run cso deploy so Terraform creates it") {
			t.Fatalf("error %v; want the jump host's secret named", err)
		}
		if _, err := os.Stat(f.store.CACert()); err == nil {
			t.Error("a CA certificate was installed without Terraform's")
		}
		if _, err := os.Stat(CAKeyPath(f.paths)); err == nil {
			t.Error("a CA was generated on AWS")
		}
	})
	t.Run("ca_certificate of another environment", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		f.env.Name = "prod"
		for id, v := range f.sm.values {
			f.sm.values["prod"+strings.TrimPrefix(id, "dev")] = v
		}
		task := tfCATask{store: f.store, src: &agent.AWSSecrets{Client: f.sm, Env: "prod"}}
		rt := f.runtime()
		_, err := task.Check(ctx, rt)
		if err == nil || !strings.Contains(err.Error(), `prod/cso/tls/jump-server-1, field ca_certificate: "dev DXC SSP Root CA" is not the root CA "prod DXC SSP Root CA"`) {
			t.Fatalf("error %v; want the CA of another environment refused", err)
		}
	})
}

// The local target keeps its own CA: generated once, key 0600 on the jump host only.
func TestPKILocalGeneratesCA(t *testing.T) {
	dir := t.TempDir()
	env := &envfile.Env{Name: "dev", DomainSuffix: "cso.ss"}
	h := inventory.Host{Name: "jump-server-1", Role: envfile.RoleJump, Index: 1, FQDN: env.FQDN("jump-server-1"), Address: "127.0.0.1"}
	paths := agent.Paths{SSLCerts: filepath.Join(dir, "ssl-certs"), Data: filepath.Join(dir, "data")}
	rt := &agent.Runtime{Env: env, Host: h, Hosts: []inventory.Host{h}, Paths: paths, Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")}}
	store := pki.Store{Dir: paths.SSLCerts}
	if _, err := agent.Run(context.Background(), rt, pkiRole{store}, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(CAKeyPath(paths)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("local CA key: %v, want mode 0600", err)
	}
	caCert, _ := os.ReadFile(store.CACert())
	caKey, _ := os.ReadFile(CAKeyPath(paths))
	if p := pki.CAProblem(caCert, caKey, "dev", time.Now()); p != "" {
		t.Fatalf("local CA: %s", p)
	}
	ca, _ := pki.ParseCert(caCert)
	cert, _ := os.ReadFile(store.ServerCert(h.Name))
	key, _ := os.ReadFile(store.ServerKey(h.Name))
	if p := pki.ServerProblem(cert, key, ca, pki.HostSpec(h.Name, h.FQDN, nil, "127.0.0.1"), time.Now()); p != "" {
		t.Fatalf("local server certificate: %s", p)
	}
	if res, err := agent.Run(context.Background(), rt, pkiRole{store}, nil); err != nil || len(res.Changed) != 0 {
		t.Fatalf("second local run: %v, changes %q", err, res.Changed)
	}
}

// On the local target the project CA also signs the MariaDB's certificate, for the address
// clients dial and the LLD's mysql.<zone>; on AWS (Terraform is the CA) RDS has its own.
func TestDatabaseCertificateOnTheLocalTarget(t *testing.T) {
	env := &envfile.Env{Name: "dev-ha", DomainSuffix: "cso.ss"}
	rt := &agent.Runtime{Env: env, MySQL: "127.0.0.1:3406"}
	h, ok := DatabaseCertHost(rt)
	if !ok || h.Name != DatabaseCertName || h.Address != "127.0.0.1" || h.FQDN != env.FQDN("mysql") {
		t.Errorf("DatabaseCertHost = %+v, %v", h, ok)
	}
	spec := certTask{host: h}.spec()
	if len(spec.IPs) != 1 || !spec.IPs[0].Equal([]byte{127, 0, 0, 1}) || !strings.Contains(strings.Join(spec.DNSNames, " "), env.FQDN("mysql")) {
		t.Errorf("certificate spec %+v: want 127.0.0.1 and %s", spec, env.FQDN("mysql"))
	}
	rt.MySQL = "db.internal:3306"
	if h, ok := DatabaseCertHost(rt); !ok || h.Address != "" || len(h.Aliases) != 1 || h.Aliases[0] != "db.internal" {
		t.Errorf("a named database: %+v, %v", h, ok)
	}
	rt.MySQL = ""
	if _, ok := DatabaseCertHost(rt); ok {
		t.Error("no database address, yet a certificate subject")
	}
	rt.MySQL = "127.0.0.1:3406"
	rt.Secrets = &agent.LocalSecrets{Dir: t.TempDir()}
	found := false
	for _, task := range pkiTasks(rt, pki.Store{Dir: t.TempDir()}) {
		if task.Name() == "server certificate "+DatabaseCertName {
			found = true
		}
	}
	if !found {
		t.Error("the local jump host issues no database certificate")
	}
}

// On AWS the jump server checks only the secrets its own role reads (its IAM policy grants
// no other); locally it generates every one before the other roles ask.
func TestSecretTasksByTarget(t *testing.T) {
	names := func(rt *agent.Runtime) []string {
		var out []string
		for _, task := range secretTasks(rt) {
			out = append(out, strings.TrimPrefix(task.Name(), "secret "))
		}
		return out
	}
	ca, _ := cas(t)
	f := newAWSFixture(t, ca)
	if got := names(f.runtime()); strings.Join(got, ",") != strings.Join(JumpSecrets, ",") {
		t.Errorf("AWS: jump checks %v, want %v", got, JumpSecrets)
	}
	for _, n := range names(f.runtime()) {
		if n == agent.SecretErlangCookie {
			t.Error("AWS: the jump server reads the Erlang cookie, which only the RabbitMQ role may")
		}
	}
	local := &agent.Runtime{Secrets: &agent.LocalSecrets{Dir: t.TempDir()}}
	if got := names(local); strings.Join(got, ",") != strings.Join(GeneratedSecrets, ",") {
		t.Errorf("local: jump generates %v, want %v", got, GeneratedSecrets)
	}
}
