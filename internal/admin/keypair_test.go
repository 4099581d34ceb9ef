package admin

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/pki"
)

// TestKeyPairServesRenewedCertificate: the dashboard's listener serves a renewed
// certificate from the next handshake after its files change, keeps the previous one while
// the new files do not pair, and never stops accepting.
func TestKeyPairServesRenewedCertificate(t *testing.T) {
	now := time.Now()
	caPEM, caKey, err := pki.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	spec := pki.HostSpec("jump", "jump.test", nil, "127.0.0.1")
	write := func(cert, key []byte) {
		t.Helper()
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, cert, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c1, k1, _ := ca.Issue(spec, now)
	write(c1, k1)
	kp, err := NewKeyPair(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	kp.CheckEvery = time.Millisecond
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ReloadingTLSConfig(kp))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	pool, _ := pki.Pool(caPEM)
	served := func() *x509.Certificate {
		t.Helper()
		time.Sleep(5 * time.Millisecond) // past CheckEvery
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "jump.test"})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	first, _ := pki.ParseCert(c1)
	if got := served(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("not serving the first certificate")
	}
	// Half written: a new key with the old certificate does not pair; the old pair stays.
	_, k2, _ := ca.Issue(spec, now)
	if err := os.WriteFile(keyFile, k2, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("a mismatched pair replaced the served certificate")
	}
	c3, k3, _ := ca.Issue(spec, now)
	write(c3, k3)
	third, _ := pki.ParseCert(c3)
	if got := served(); got.SerialNumber.Cmp(third.SerialNumber) != 0 {
		t.Fatalf("renewed certificate not served: got serial %v, want %v", got.SerialNumber, third.SerialNumber)
	}
}
