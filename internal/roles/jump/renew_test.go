package jump

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

const day = 24 * time.Hour

// renewCAs are root CAs of the environments of these tests (RSA 4096: made once).
var renewCAs sync.Map // env name -> *pki.CA

func renewCA(t *testing.T, env string) *pki.CA {
	t.Helper()
	if ca, ok := renewCAs.Load(env); ok {
		return ca.(*pki.CA)
	}
	ca, err := newTestCA(env)
	if err != nil {
		t.Fatal(err)
	}
	renewCAs.Store(env, ca)
	return ca
}

// renewFixture is an environment on AWS as Terraform leaves it in moto's Secrets Manager:
// the root CA secret and one TLS secret per host, in Terraform's layout.
type renewFixture struct {
	m     *awstest.Server
	sm    *secretsmanager.Client
	env   *envfile.Env
	ca    *pki.CA
	hosts []inventory.Host
}

func newRenewFixture(t *testing.T, env string) *renewFixture {
	t.Helper()
	m := awstest.Moto(t)
	e := &envfile.Env{Name: env, DomainSuffix: "cso.ss"}
	f := &renewFixture{m: m, sm: m.SecretsManager(), env: e, ca: renewCA(t, env)}
	for _, h := range []struct {
		name  string
		role  envfile.Role
		index int
		alias string
	}{
		{"jump-server-1", envfile.RoleJump, 1, ""},
		{"keystone01", envfile.RoleKeystone, 1, "identity"},
		{"keystone02", envfile.RoleKeystone, 2, ""},
		{"rabbitmq-server-1", envfile.RoleRabbitMQ, 1, "mq"},
	} {
		host := inventory.Host{Name: h.name, Role: h.role, Index: h.index, FQDN: e.FQDN(h.name)}
		if h.alias != "" {
			host.Aliases = []string{e.FQDN(h.alias)}
		}
		f.hosts = append(f.hosts, host)
	}
	return f
}

// seedRootCA stores the root CA secret as Terraform writes it.
func (f *renewFixture) seedRootCA(t *testing.T) {
	t.Helper()
	doc, err := json.Marshal(map[string]string{"certificate": string(f.ca.CertPEM), "private_key": string(caKeyPEM(t, f.ca))})
	if err != nil {
		t.Fatal(err)
	}
	f.m.Secret(t, agent.RootCASecretID(f.env.Name), string(doc))
}

// caKeyPEM is the CA key as Terraform's tls_private_key writes it (PKCS#1 PEM).
func caKeyPEM(t *testing.T, ca *pki.CA) []byte {
	t.Helper()
	k, ok := ca.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("CA key %T, want RSA", ca.Key)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// seedHost stores host's TLS secret with a certificate for spec that expires in left
// (one year of lifetime, as Terraform issues them) and returns the stored pair.
func (f *renewFixture) seedHost(t *testing.T, h inventory.Host, spec pki.ServerSpec, left time.Duration) (cert, key []byte) {
	t.Helper()
	now := time.Now()
	cert, key, err := f.ca.IssueFor(spec, now.Add(left-365*day), 365*day)
	if err != nil {
		t.Fatal(err)
	}
	f.m.Secret(t, agent.HostTLSSecretID(f.env.Name, h.Name), tlsDoc(t, cert, key, f.ca.CertPEM, spec.DNSNames))
	return cert, key
}

// version returns the current version id and the document of host's TLS secret.
func (f *renewFixture) version(t *testing.T, host string) (string, map[string]any) {
	t.Helper()
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(agent.HostTLSSecretID(f.env.Name, host))})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		t.Fatalf("secret of %s is not JSON: %v", host, err)
	}
	return aws.ToString(out.VersionId), doc
}

// versions returns the current version id of every host's secret.
func (f *renewFixture) versions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range f.hosts {
		out[h.Name], _ = f.version(t, h.Name)
	}
	return out
}

type renewRole struct{}

func (renewRole) Role() envfile.Role                            { return envfile.RoleJump }
func (renewRole) Steps(rt *agent.Runtime) ([]agent.Step, error) { return renewSteps(rt), nil }

// run is one jump agent run (a new process each timer run: a new secret store).
func (f *renewFixture) run(t *testing.T, dryRun bool) (agent.Result, string, error) {
	t.Helper()
	var progress bytes.Buffer
	root := t.TempDir()
	rt := &agent.Runtime{Env: f.env, Host: f.hosts[0], Hosts: f.hosts, DryRun: dryRun, Progress: &progress,
		Paths:   agent.Paths{Root: root, SSLCerts: filepath.Join(root, "ssl-certs"), Data: filepath.Join(root, "data"), HostTLS: filepath.Join(root, "tls")},
		Secrets: &agent.AWSSecrets{Client: f.sm, Env: f.env.Name}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := agent.Run(ctx, rt, renewRole{}, nil)
	return res, progress.String(), err
}

func pub(t *testing.T, keyPEM string) crypto.PublicKey {
	t.Helper()
	k, err := pki.ParseKey([]byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// TestRenewCertificatesInSecretsManager: the jump agent re-issues, in moto's Secrets
// Manager, the certificate that expires in 10 days (same names, new key, signed by the
// root CA) and the one that names other names than its host needs; a certificate with 300
// days left is untouched; a dry run and a second run write nothing; the host's own agent
// installs the renewed pair.
func TestRenewCertificatesInSecretsManager(t *testing.T) {
	f := newRenewFixture(t, "renew-dev")
	f.seedRootCA(t)
	specs := map[string]pki.ServerSpec{}
	for _, h := range f.hosts {
		specs[h.Name] = AWSCertSpec(h, f.hosts)
	}
	if want := []string{"identity.renew-dev.cso.ss", "keystone02", "keystone02.renew-dev.cso.ss", "localhost"}; !slices.Equal(specs["keystone02"].DNSNames, want) {
		t.Fatalf("keystone02 names %v, want %v (Terraform's dns_names: every host of a role carries its alias)", specs["keystone02"].DNSNames, want)
	}
	expiring, expiringKey := f.seedHost(t, f.hosts[1], specs["keystone01"], 10*day)
	f.seedHost(t, f.hosts[0], specs["jump-server-1"], 300*day)
	_, keptKey := f.seedHost(t, f.hosts[2], specs["keystone02"], 300*day)
	// rabbitmq-server-1's certificate lacks its service alias: its names differ.
	short := pki.HostSpec("rabbitmq-server-1", f.hosts[3].FQDN, nil)
	f.seedHost(t, f.hosts[3], short, 300*day)
	before := f.versions(t)

	// A dry run says what it would do and writes nothing.
	res, _, err := f.run(t, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "keystone01 (expires") || !strings.Contains(res.Changed[0], "rabbitmq-server-1 (names differ") ||
		strings.Contains(res.Changed[0], "keystone02") || strings.Contains(res.Changed[0], "jump-server-1") {
		t.Fatalf("dry run changes %q: want keystone01 (expiring) and rabbitmq-server-1 (names) only", res.Changed)
	}
	if got := f.versions(t); !maps.Equal(got, before) {
		t.Fatalf("a dry run wrote secrets: versions %v, were %v", got, before)
	}

	res, progress, err := f.run(t, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || !strings.Contains(progress, "renewed the certificate of keystone01") {
		t.Fatalf("run changed %q, progress:\n%s", res.Changed, progress)
	}
	after := f.versions(t)
	for _, h := range []string{"jump-server-1", "keystone02"} {
		if after[h] != before[h] {
			t.Errorf("%s: its certificate has 300 days left, yet its secret got a new version", h)
		}
	}
	if _, doc := f.version(t, "keystone02"); doc["private_key"] != string(keptKey) {
		t.Error("keystone02's key changed")
	}
	now := time.Now()
	for _, h := range []inventory.Host{f.hosts[1], f.hosts[3]} {
		v, doc := f.version(t, h.Name)
		if v == before[h.Name] {
			t.Errorf("%s: no new version of its secret", h.Name)
			continue
		}
		for _, k := range []string{"certificate", "private_key", "ca_certificate", "dns_names"} {
			if doc[k] == nil {
				t.Errorf("%s: the new version lacks field %s of Terraform's layout", h.Name, k)
			}
		}
		certPEM, _ := doc["certificate"].(string)
		keyPEM, _ := doc["private_key"].(string)
		if doc["ca_certificate"] != string(f.ca.CertPEM) {
			t.Errorf("%s: ca_certificate is not the root CA's certificate", h.Name)
		}
		if err := agent.VerifyHostPair([]byte(certPEM), []byte(keyPEM), f.ca.Cert, h.FQDN, now); err != nil {
			t.Errorf("%s: the new pair does not verify with the root CA: %v", h.Name, err)
		}
		c, err := pki.ParseCert([]byte(certPEM))
		if err != nil {
			t.Fatal(err)
		}
		want := specs[h.Name]
		if got := slices.Sorted(slices.Values(c.DNSNames)); !slices.Equal(got, want.DNSNames) || c.Subject.CommonName != h.FQDN || len(c.IPAddresses) != 0 {
			t.Errorf("%s: new certificate names %s %v %v, want %s %v", h.Name, c.Subject.CommonName, got, c.IPAddresses, h.FQDN, want.DNSNames)
		}
		var dns []string
		for _, d := range doc["dns_names"].([]any) {
			dns = append(dns, d.(string))
		}
		if !slices.Equal(dns, want.DNSNames) {
			t.Errorf("%s: dns_names %v, want %v", h.Name, dns, want.DNSNames)
		}
		if left := c.NotAfter.Sub(now); left < 364*day || left > 366*day {
			t.Errorf("%s: the new certificate is valid %s more, want a year", h.Name, left)
		}
	}
	_, doc := f.version(t, "keystone01")
	old, _ := pki.ParseCert(expiring)
	if renewed, _ := pki.ParseCert([]byte(doc["certificate"].(string))); !slices.Equal(slices.Sorted(slices.Values(renewed.DNSNames)), slices.Sorted(slices.Values(old.DNSNames))) {
		t.Errorf("keystone01: names %v, the expiring certificate had %v", renewed.DNSNames, old.DNSNames)
	}
	if pub(t, doc["private_key"].(string)).(interface{ Equal(crypto.PublicKey) bool }).Equal(pub(t, string(expiringKey))) {
		t.Error("keystone01: the renewed certificate kept the old key")
	}

	// A second run changes nothing.
	res, _, err = f.run(t, false)
	if err != nil || len(res.Changed) != 0 {
		t.Fatalf("second run: changed %q, err %v; want nothing", res.Changed, err)
	}
	if got := f.versions(t); !maps.Equal(got, after) {
		t.Errorf("the second run wrote secrets: versions %v, were %v", got, after)
	}

	// keystone01's own agent installs the renewed pair from its secret.
	root := t.TempDir()
	rt := &agent.Runtime{Env: f.env, Host: f.hosts[1], Hosts: f.hosts,
		Paths:   agent.Paths{Root: root, SSLCerts: filepath.Join(root, "ssl-certs"), HostTLS: filepath.Join(root, "tls")},
		Secrets: &agent.AWSSecrets{Client: f.sm, Env: f.env.Name}}
	if err := (agent.OwnTLSTask{Src: rt.Secrets.(agent.HostTLSSource)}).Apply(context.Background(), rt); err != nil {
		t.Fatalf("keystone01 refuses its renewed pair: %v", err)
	}
}

// TestRenewRefusesABadRootCA: a missing or malformed root CA secret fails the run with an
// error naming the secret, and no host secret is written.
func TestRenewRefusesABadRootCA(t *testing.T) {
	other := renewCA(t, "renew-other")
	for _, tc := range []struct {
		name, env string
		value     string // "" = no secret
		want      string
	}{
		{name: "missing", env: "renew-missing", want: "renew-missing/cso-pki/root-ca not found in Secrets Manager"},
		{name: "not JSON", env: "renew-notjson", value: "-----BEGIN PRIVATE KEY-----", want: "secret renew-notjson/cso-pki/root-ca in Secrets Manager is not the JSON document Terraform writes"},
		{name: "no key", env: "renew-nokey", value: `{"certificate":"x"}`, want: `secret renew-nokey/cso-pki/root-ca in Secrets Manager: field "private_key" is missing`},
		{name: "key of another CA", env: "renew-mismatch", want: "secret renew-mismatch/cso-pki/root-ca in Secrets Manager: CA key does not match the CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRenewFixture(t, tc.env)
			value := tc.value
			if tc.name == "key of another CA" {
				b, _ := json.Marshal(map[string]string{"certificate": string(f.ca.CertPEM), "private_key": string(caKeyPEM(t, other))})
				value = string(b)
			}
			if value != "" {
				f.m.Secret(t, agent.RootCASecretID(tc.env), value)
			}
			for i, h := range f.hosts {
				left := 300 * day
				if i == 1 {
					left = 10 * day
				}
				f.seedHost(t, h, AWSCertSpec(h, f.hosts), left)
			}
			before := f.versions(t)
			_, _, err := f.run(t, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run with root CA secret %s: err %v, want one containing %q", tc.name, err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("the error quotes the secret's value: %v", err)
			}
			if got := f.versions(t); !maps.Equal(got, before) {
				t.Errorf("secrets written despite the bad root CA: %v, were %v", got, before)
			}
		})
	}
}
