package admin

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// aeadSuites are the TLS 1.2 cipher suites the dashboard offers: forward-secret AEAD only
// (AES-GCM, ChaCha20-Poly1305), for ECDSA (local PKI) and RSA (Terraform's host keys)
// certificates. No CBC suite: they are the ones padding-oracle attacks (Lucky13 and its
// kin) target. TLS 1.3's suites are all AEAD and not configurable in Go.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerTLSConfig is the dashboard's TLS configuration: TLS 1.2 or newer, AEAD cipher
// suites only.
func ServerTLSConfig(pair tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites}
}

// KeyPair serves the dashboard's certificate from its files and re-reads them when they
// change, so that a renewed certificate is served from the next handshake on without a
// restart (no connection refused or cut). The files are looked at, at most once per
// CheckEvery, by a handshake; a pair that does not load (the key written, the certificate
// not yet) keeps the previous one in service until the next look.
type KeyPair struct {
	CertFile, KeyFile string
	// Load reads and parses the pair (default tls.LoadX509KeyPair).
	Load       func(certFile, keyFile string) (tls.Certificate, error)
	CheckEvery time.Duration // default 1s
	// OnReload is told of each new pair served, or of a failed reload (optional).
	OnReload func(err error)

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string // size and modification time of both files when current was loaded
	checked time.Time
}

// NewKeyPair loads the pair once: an error here is the operator's (bad --cert/--key).
func NewKeyPair(certFile, keyFile string, load func(string, string) (tls.Certificate, error)) (*KeyPair, error) {
	if load == nil {
		load = tls.LoadX509KeyPair
	}
	k := &KeyPair{CertFile: certFile, KeyFile: keyFile, Load: load}
	stamp := k.fileStamp()
	pair, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	k.current, k.stamp, k.checked = &pair, stamp, time.Now()
	return k, nil
}

func (k *KeyPair) fileStamp() string {
	var b strings.Builder
	for _, f := range []string{k.CertFile, k.KeyFile} {
		st, err := os.Stat(f)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d@%d;", st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

// GetCertificate implements tls.Config.GetCertificate.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	every := k.CheckEvery
	if every <= 0 {
		every = time.Second
	}
	if time.Since(k.checked) < every {
		return k.current, nil
	}
	k.checked = time.Now()
	stamp := k.fileStamp()
	if stamp == k.stamp {
		return k.current, nil
	}
	pair, err := k.Load(k.CertFile, k.KeyFile)
	if err != nil {
		if k.OnReload != nil {
			k.OnReload(err)
		}
		return k.current, nil
	}
	k.current, k.stamp = &pair, stamp
	if k.OnReload != nil {
		k.OnReload(nil)
	}
	return k.current, nil
}

// ReloadingTLSConfig is ServerTLSConfig serving k's current pair.
func ReloadingTLSConfig(k *KeyPair) *tls.Config {
	return &tls.Config{GetCertificate: k.GetCertificate, MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites}
}
