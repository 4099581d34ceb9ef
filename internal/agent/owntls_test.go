package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// tlsSM is Secrets Manager's GetSecretValue over a map of TLS documents; it records every
// id asked for.
type tlsSM struct {
	mu     sync.Mutex
	values map[string]string
	asked  []string
}

func (f *tlsSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, aws.ToString(in.SecretId))
	v, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func (f *tlsSM) set(id, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[id] = v
}

var ownTLSCA = sync.OnceValues(func() (*pki.CA, error) {
	c, k, err := pki.NewCA("dev", time.Now())
	if err != nil {
		return nil, err
	}
	return pki.LoadCA(c, k)
})

type ownTLSFixture struct {
	sm    *tlsSM
	rt    *Runtime
	certs map[string][2][]byte
	ca    *pki.CA
}

// newOwnTLSFixture is keystone01 of environment dev on AWS: every host's TLS secret in the
// fake Secrets Manager, its own directory empty.
func newOwnTLSFixture(t *testing.T) *ownTLSFixture {
	t.Helper()
	ca, err := ownTLSCA()
	if err != nil {
		t.Fatal(err)
	}
	env := &envfile.Env{Name: "dev", DomainSuffix: "cso.ss"}
	f := &ownTLSFixture{sm: &tlsSM{values: map[string]string{}}, certs: map[string][2][]byte{}, ca: ca}
	var hosts []inventory.Host
	for _, name := range []string{"keystone01", "keystone02"} {
		h := inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: len(hosts) + 1, FQDN: env.FQDN(name)}
		hosts = append(hosts, h)
		cert, key, err := ca.Issue(pki.HostSpec(name, h.FQDN, nil), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.certs[name] = [2][]byte{cert, key}
		doc, _ := json.Marshal(map[string]any{"certificate": string(cert), "private_key": string(key), "ca_certificate": string(ca.CertPEM)})
		f.sm.values[HostTLSSecretID("dev", name)] = string(doc)
	}
	root := t.TempDir()
	f.rt = &Runtime{Env: env, Host: hosts[0], Hosts: hosts,
		Paths:   Paths{Root: root, SSLCerts: filepath.Join(root, "shared"), Etc: filepath.Join(root, "etc"), HostTLS: filepath.Join(root, "etc", "cso", "tls")},
		Secrets: &AWSSecrets{Client: f.sm, Env: "dev"}}
	return f
}

type ownTLSRole struct{}

func (ownTLSRole) Role() envfile.Role { return envfile.RoleKeystone }
func (ownTLSRole) Steps(rt *Runtime) ([]Step, error) {
	return OwnTLSSteps(rt), nil
}

func TestOwnTLSInstallsOnlyTheHostsOwnPair(t *testing.T) {
	f := newOwnTLSFixture(t)
	ctx := context.Background()
	if len(OwnTLSSteps(f.rt)) != 1 {
		t.Fatal("no own-certificate step on AWS")
	}
	res, err := Run(ctx, f.rt, ownTLSRole{}, nil)
	if err != nil || len(res.Changed) != 1 {
		t.Fatalf("run: %v, changes %q", err, res.Changed)
	}
	own := f.rt.Paths.OwnTLS("keystone01")
	for _, c := range []struct {
		path string
		want []byte
		mode os.FileMode
	}{{own.Cert, f.certs["keystone01"][0], 0o644}, {own.Key, f.certs["keystone01"][1], 0o600}, {own.CA, f.ca.CertPEM, 0o644}} {
		got, err := os.ReadFile(c.path)
		if err != nil || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(c.want)) {
			t.Errorf("%s: %v, not the secret's material", c.path, err)
		}
		if st, err := os.Stat(c.path); err != nil || st.Mode().Perm() != c.mode {
			t.Errorf("%s: %v, want mode %04o", c.path, err, c.mode)
		}
	}
	if st, err := os.Stat(f.rt.Paths.HostTLS); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, want mode 0700", f.rt.Paths.HostTLS, err)
	}
	// Nothing in the shared store, and no other host's secret read.
	if _, err := os.Stat(f.rt.Paths.SSLCerts); err == nil {
		t.Error("the host wrote to the shared store")
	}
	for _, id := range f.sm.asked {
		if id != HostTLSSecretID("dev", "keystone01") {
			t.Errorf("keystone01 read %s: a host reads its own TLS secret only", id)
		}
	}

	// Converged; drift is repaired.
	if res, err := Run(ctx, f.rt, ownTLSRole{}, nil); err != nil || len(res.Changed) != 0 {
		t.Fatalf("second run: %v, changes %q", err, res.Changed)
	}
	os.Chmod(own.Key, 0o644)
	if res, err := Run(ctx, f.rt, ownTLSRole{}, nil); err != nil || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "chmod 0600") {
		t.Fatalf("mode drift: %v, changes %q; want chmod 0600", err, res.Changed)
	}
	if st, _ := os.Stat(own.Key); st.Mode().Perm() != 0o600 {
		t.Error("the key's mode was not repaired")
	}
}

func TestOwnTLSRefusesAnotherHostsPair(t *testing.T) {
	f := newOwnTLSFixture(t)
	f.sm.values[HostTLSSecretID("dev", "keystone01")] = f.sm.values[HostTLSSecretID("dev", "keystone02")]
	_, err := Run(context.Background(), f.rt, ownTLSRole{}, nil)
	if err == nil || !strings.Contains(err.Error(), "host keystone01: refusing the certificate in dev/cso/tls/keystone01") ||
		!strings.Contains(err.Error(), "keystone01.dev.cso.ss") {
		t.Fatalf("error %v; want keystone02's certificate refused for keystone01", err)
	}
	if _, err := os.Stat(f.rt.Paths.OwnTLS("keystone01").Key); err == nil {
		t.Error("a refused key was written")
	}
}

// The grant of a host's own secret names its instance, so Terraform applies it after the
// instance starts: the task waits (bounded) for the secret to become readable.
func TestOwnTLSWaitsForItsSecret(t *testing.T) {
	f := newOwnTLSFixture(t)
	id := HostTLSSecretID("dev", "keystone01")
	doc := f.sm.values[id]
	delete(f.sm.values, id)
	ctx := context.Background()

	task := OwnTLSTask{Src: f.rt.Secrets.(HostTLSSource), Wait: 300 * time.Millisecond}
	start := time.Now()
	if err := task.Apply(ctx, f.rt); err == nil || !strings.Contains(err.Error(), id+" not found: run cso deploy") {
		t.Fatalf("missing secret: %v; want it named", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %s; want about the 300ms wait", d)
	}

	task.Wait = 10 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.sm.set(id, doc)
	}()
	if err := task.Apply(ctx, f.rt); err != nil {
		t.Fatalf("secret readable after 300ms: %v", err)
	}
	if _, err := os.Stat(f.rt.Paths.OwnTLS("keystone01").Key); err != nil {
		t.Error(err)
	}
}

// The local target has no own-certificate step: the jump role (the local CA) issues every
// host's pair into the shared store, where the roles read them as before.
func TestOwnTLSLocal(t *testing.T) {
	dir := t.TempDir()
	p := Paths{SSLCerts: filepath.Join(dir, "shared"), Etc: filepath.Join(dir, "etc")}
	rt := &Runtime{Paths: p, Secrets: &LocalSecrets{Dir: filepath.Join(dir, "secrets")}}
	if steps := OwnTLSSteps(rt); steps != nil {
		t.Errorf("local target: steps %v, want none", steps)
	}
	store := pki.Store{Dir: p.SSLCerts}
	if got, want := p.OwnTLS("keystone01"), (TLSFiles{Cert: store.ServerCert("keystone01"), Key: store.ServerKey("keystone01"), CA: store.CACert()}); got != want {
		t.Errorf("local TLS files %+v, want the shared store's %+v", got, want)
	}
	p.HostTLS = "/etc/cso/tls"
	if got := p.OwnTLS("keystone01"); got != (TLSFiles{Cert: "/etc/cso/tls/server.crt", Key: "/etc/cso/tls/server.key", CA: "/etc/cso/tls/ca.crt"}) {
		t.Errorf("AWS TLS files %+v", got)
	}
}
