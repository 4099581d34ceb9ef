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
	"syscall"
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
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
	return []agent.Step{{Name: "pki", Tasks: pkiTasks(rt, r.store)}}, nil
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
	f.paths = agent.Paths{Root: f.rootFS, SSLCerts: filepath.Join(f.rootFS, "ssl-certs"), Data: filepath.Join(f.rootFS, "data")}
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
		case tfCATask, tfCertTask:
		default:
			t.Fatalf("on AWS the PKI step runs %T; want only the Terraform tasks", task)
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

	// A dry run reports and writes nothing.
	res, err := f.run(t, true)
	if err != nil || len(res.Changed) != 1+len(f.hosts) {
		t.Fatalf("dry run: %v, changes %q; want the CA and %d certificates", err, res.Changed, len(f.hosts))
	}
	if got, _ := os.ReadFile(f.store.CACert()); !bytes.Equal(got, other.CertPEM) {
		t.Fatal("the dry run replaced the CA certificate")
	}
	if _, err := os.Stat(f.store.HostDir("keystone01")); err == nil {
		t.Fatal("the dry run wrote a host's certificate")
	}
	if _, err := os.Stat(CAKeyPath(f.paths)); err != nil {
		t.Fatal("the dry run removed the stale CA key")
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
	// No private key but the hosts' own server keys anywhere in the host's tree or the store.
	hostKeys := 0
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
		c, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "server.crt"))
		if cert, _ := pki.ParseCert(c); filepath.Base(p) != "server.key" || cert == nil || !k.Public().(pub).Equal(cert.PublicKey) {
			t.Errorf("%s holds a private key that is no host's server key", p)
		}
		hostKeys++
		return nil
	})
	if hostKeys != len(f.hosts) {
		t.Errorf("%d private keys on disk, want %d (one per host)", hostKeys, len(f.hosts))
	}
	pool, _ := pki.Pool(ca.CertPEM)
	for _, h := range f.hosts {
		cert, _ := os.ReadFile(f.store.ServerCert(h.Name))
		key, _ := os.ReadFile(f.store.ServerKey(h.Name))
		if !bytes.Equal(cert, f.certs[h.Name][0]) || !bytes.Equal(key, f.certs[h.Name][1]) {
			t.Errorf("%s: store holds other material than its Terraform secret", h.Name)
		}
		if c, err := pki.ParseCert(cert); err != nil {
			t.Errorf("%s: %v", h.Name, err)
		} else if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: h.FQDN}); err != nil {
			t.Errorf("%s: installed certificate does not verify against the store CA: %v", h.Name, err)
		}
		if st, err := os.Stat(f.store.ServerCert(h.Name)); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: server.crt %v, want mode 0644", h.Name, err)
		}
		st, err := os.Stat(f.store.ServerKey(h.Name))
		if err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("%s: server.key %v, want mode 0640", h.Name, err)
		}
		if s := st.Sys().(*syscall.Stat_t); s.Uid != 0 || int(s.Gid) != keyGID(h) {
			t.Errorf("%s: server.key owned by %d:%d, want 0:%d", h.Name, s.Uid, s.Gid, keyGID(h))
		}
	}

	// Converged: a second run changes nothing.
	if res, err = f.run(t, false); err != nil || len(res.Changed) != 0 {
		t.Fatalf("second run: %v, changes %q; want none", err, res.Changed)
	}

	// Drift is repaired: a key's mode, a certificate that differs from its secret.
	os.Chmod(f.store.ServerKey("keystone01"), 0o644)
	if res, err = f.run(t, false); err != nil || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "chmod 0640") {
		t.Errorf("mode drift: %v, changes %q; want one chmod", err, res.Changed)
	}
	cert, key := tfIssue(t, ca, f.hosts[1].FQDN, f.hosts[1].FQDN, "keystone01", "identity.dev.cso.ss")
	f.sm.values["dev/cso/tls/keystone01"] = tlsDoc(t, cert, key, ca.CertPEM, nil)
	if res, err = f.run(t, false); err != nil || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "from dev/cso/tls/keystone01") {
		t.Errorf("renewed secret: %v, changes %q; want keystone01 reinstalled", err, res.Changed)
	}
	if got, _ := os.ReadFile(f.store.ServerCert("keystone01")); !bytes.Equal(got, cert) {
		t.Error("keystone01: the renewed certificate was not installed")
	}
}

func TestPKIFromTerraformRefuses(t *testing.T) {
	ca, other := cas(t)
	ctx := context.Background()

	installed := func(f *awsFixture, host string) bool {
		_, err := os.Stat(f.store.ServerCert(host))
		return err == nil
	}
	t.Run("signed by another CA", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		cert, key := tfIssue(t, other, f.hosts[1].FQDN, f.hosts[1].FQDN, "keystone01")
		f.sm.values["dev/cso/tls/keystone01"] = tlsDoc(t, cert, key, other.CertPEM, nil)
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host keystone01: refusing the certificate in dev/cso/tls/keystone01") ||
			!strings.Contains(err.Error(), "not signed by the root CA") {
			t.Fatalf("error %v; want keystone01's certificate refused", err)
		}
		if installed(f, "keystone01") {
			t.Error("the refused certificate was written")
		}
	})
	t.Run("another host's certificate", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		f.sm.values["dev/cso/tls/rabbitmq-server-1"] = f.sm.values["dev/cso/tls/keystone01"]
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host rabbitmq-server-1: refusing") || !strings.Contains(err.Error(), "rabbitmq-server-1.dev.cso.ss") {
			t.Fatalf("error %v; want rabbitmq-server-1 refused for its name", err)
		}
	})
	t.Run("key of another host", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		f.sm.values["dev/cso/tls/keystone01"] = tlsDoc(t, f.certs["keystone01"][0], f.certs["jump-server-1"][1], ca.CertPEM, nil)
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "host keystone01") || !strings.Contains(err.Error(), "private_key does not match") {
			t.Fatalf("error %v; want keystone01's key refused", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Error("the error shows key material")
		}
	})
	t.Run("secret not created yet", func(t *testing.T) {
		f := newAWSFixture(t, ca)
		delete(f.sm.values, "dev/cso/tls/rabbitmq-server-1")
		_, err := f.run(t, false)
		if err == nil || !strings.Contains(err.Error(), "server certificate rabbitmq-server-1 (from Terraform): check: dev/cso/tls/rabbitmq-server-1 not found: run cso deploy so Terraform creates it") {
			t.Fatalf("error %v; want the missing secret named", err)
		}
		if !installed(f, "keystone01") {
			t.Error("hosts before the missing one were not installed")
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
