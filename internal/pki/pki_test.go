package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	caOnce          sync.Once
	caCert, caKey   []byte
	caErr           error
	testNow         = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	testSpec        = HostSpec("keystone01", "keystone01.dev-ha.cso.ss", []string{"identity.dev-ha.cso.ss"}, "127.0.0.1")
	otherHostsSpecs = HostSpec("keystone02", "keystone02.dev-ha.cso.ss", nil, "127.0.0.1")
)

func testCA(t *testing.T) *CA {
	t.Helper()
	caOnce.Do(func() { caCert, caKey, caErr = NewCA("dev-ha", testNow) })
	if caErr != nil {
		t.Fatal(caErr)
	}
	ca, err := LoadCA(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestCA(t *testing.T) {
	ca := testCA(t)
	c := ca.Cert
	if c.Subject.CommonName != "dev-ha DXC SSP Root CA" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "DXC" {
		t.Errorf("subject %v, want O=DXC, CN=dev-ha DXC SSP Root CA (LLD 2.3.3)", c.Subject)
	}
	k, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || k.N.BitLen() != 4096 {
		t.Errorf("CA key is not RSA 4096")
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("not a CA certificate")
	}
	if years := c.NotAfter.Sub(testNow).Hours() / 24 / 365; years < 29.9 || years > 30.1 {
		t.Errorf("CA valid for %.1f years, want 30", years)
	}
	if p := CAProblem(caCert, caKey, "dev-ha", testNow); p != "" {
		t.Errorf("fresh CA has a problem: %s", p)
	}
	if p := CAProblem(caCert, caKey, "prod-ha", testNow); !strings.Contains(p, "want") {
		t.Errorf("CA of another environment accepted: %q", p)
	}
	if p := CAProblem(caCert, caKey, "dev-ha", testNow.Add(CAValidity-10*24*time.Hour)); !strings.Contains(p, "expires") {
		t.Errorf("expiring CA accepted: %q", p)
	}
	_, otherKey, _ := NewCAKeyForTest()
	if _, err := LoadCA(caCert, otherKey); err == nil {
		t.Error("a CA certificate with a foreign key was accepted")
	}
}

// NewCAKeyForTest returns an unrelated key in PEM.
func NewCAKeyForTest() ([]byte, []byte, error) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	return nil, pemBlock("PRIVATE KEY", der), err
}

func TestServerCertificate(t *testing.T) {
	ca := testCA(t)
	cert, key, err := ca.Issue(testSpec, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	wantDNS := []string{"identity.dev-ha.cso.ss", "keystone01", "keystone01.dev-ha.cso.ss", "localhost"}
	if strings.Join(c.DNSNames, ",") != strings.Join(wantDNS, ",") {
		t.Errorf("DNS SANs %v, want %v", c.DNSNames, wantDNS)
	}
	if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP SANs %v, want 127.0.0.1", c.IPAddresses)
	}
	if pk, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() {
		t.Error("server key is not ECDSA P-256")
	}
	if days := c.NotAfter.Sub(testNow).Hours() / 24; days < 360 || days > 370 {
		t.Errorf("server certificate valid for %.0f days, want about a year", days)
	}
	pool, _ := Pool(ca.CertPEM)
	for _, name := range wantDNS {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: testNow}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	tests := []struct {
		name string
		cert []byte
		key  []byte
		spec ServerSpec
		now  time.Time
		want string // "" = keep
	}{
		{"valid is kept", cert, key, testSpec, testNow, ""},
		{"same names in another order are kept", cert, key, HostSpec("keystone01", "keystone01.dev-ha.cso.ss", []string{"identity.dev-ha.cso.ss", "localhost"}, "127.0.0.1", "127.0.0.1"), testNow, ""},
		{"expiring within 30 days", cert, key, testSpec, testNow.Add(340 * 24 * time.Hour), "expires"},
		{"names changed", cert, key, otherHostsSpecs, testNow, "names differ"},
		{"address added", cert, key, HostSpec("keystone01", "keystone01.dev-ha.cso.ss", []string{"identity.dev-ha.cso.ss"}, "127.0.0.1", "10.0.0.5"), testNow, "names differ"},
		{"wrong key", cert, caKey, testSpec, testNow, "does not match"},
		{"garbage", []byte("x"), key, testSpec, testNow, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ServerProblem(tc.cert, tc.key, ca.Cert, tc.spec, tc.now)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("ServerProblem = %q, want %q", got, tc.want)
			}
		})
	}
	otherCert, otherKey, err := NewCA("dev-ha", testNow)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := LoadCA(otherCert, otherKey)
	if p := ServerProblem(cert, key, other.Cert, testSpec, testNow); !strings.Contains(p, "not signed") {
		t.Errorf("certificate of another CA accepted: %q", p)
	}
}

// A short-lived certificate is renewed in the last third of its life, a year-long one 30
// days before its expiry.
func TestRenewWindow(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		life, want time.Duration
	}{
		{ServerValidity, RenewBefore},
		{3 * time.Hour, time.Hour},
		{30 * time.Minute, 10 * time.Minute},
	} {
		cert := &x509.Certificate{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(tc.life)}
		if got := RenewWindow(cert); got != tc.want {
			t.Errorf("lifetime %s: window %s, want %s", tc.life, got, tc.want)
		}
	}
}

func TestPoolFile(t *testing.T) {
	certPEM, _, err := NewCA("dev", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "empty.crt")
	if err := os.WriteFile(good, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, _ := ParseCert(certPEM)
	pool, err := PoolFile(good)
	if err != nil || !pool.Equal(func() *x509.CertPool { p := x509.NewCertPool(); p.AddCert(ca); return p }()) {
		t.Fatalf("pool of %s: %v", good, err)
	}
	if _, err := PoolFile(empty); err == nil || !strings.Contains(err.Error(), empty+" holds no PEM certificate") {
		t.Errorf("a file without a certificate: %v", err)
	}
	if _, err := PoolFile(filepath.Join(dir, "missing.crt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
