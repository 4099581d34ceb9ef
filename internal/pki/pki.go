// Package pki issues the project's certificates: a root CA per environment (RSA 4096, 30
// years, O=DXC, CN="<env> DXC SSP Root CA" as LLD 2.3.3) and a server certificate per host
// (ECDSA P-256, about a year) with the host's DNS names and addresses. The material lives in
// the shared certificate store laid out as LLD 3.3.2 and 3.4.1 do:
//
//	<store>/ca/ca.crt
//	<store>/<host>/server.crt
//	<store>/<host>/server.key
//
// The CA key is not in the store: it stays on the jump host (0600).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Validity periods and the renewal window.
const (
	CAValidity     = 30 * 365 * 24 * time.Hour
	ServerValidity = 365 * 24 * time.Hour
	RenewBefore    = 30 * 24 * time.Hour
	CARSABits      = 4096
)

// Store is the shared certificate store (EFS /opt/ssl-certs, or a directory locally).
type Store struct{ Dir string }

func (s Store) CACert() string                { return filepath.Join(s.Dir, "ca", "ca.crt") }
func (s Store) HostDir(host string) string    { return filepath.Join(s.Dir, host) }
func (s Store) ServerCert(host string) string { return filepath.Join(s.Dir, host, "server.crt") }
func (s Store) ServerKey(host string) string  { return filepath.Join(s.Dir, host, "server.key") }

// CASubject is the subject of env's root CA.
func CASubject(env string) pkix.Name {
	return pkix.Name{Organization: []string{"DXC"}, CommonName: env + " DXC SSP Root CA"}
}

// CA is a loaded certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// NewCA creates env's root CA and returns its certificate and private key in PEM.
func NewCA(env string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, CARSABits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               CASubject(env),
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// LoadCA parses a CA certificate and key and checks that they belong together.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate is not a CA (basic constraints)")
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// CAProblem says why a CA must be replaced for env at now, or "" when it is good.
func CAProblem(certPEM, keyPEM []byte, env string, now time.Time) string {
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		return err.Error()
	}
	if ca.Cert.Subject.CommonName != CASubject(env).CommonName {
		return fmt.Sprintf("CA is %q, want %q", ca.Cert.Subject.CommonName, CASubject(env).CommonName)
	}
	if now.Add(RenewBefore).After(ca.Cert.NotAfter) {
		return "CA expires " + ca.Cert.NotAfter.Format(time.DateOnly)
	}
	return ""
}

// ServerSpec is what a host's server certificate must name.
type ServerSpec struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
}

func (s ServerSpec) normal() ServerSpec {
	dns := slices.Clone(s.DNSNames)
	sort.Strings(dns)
	dns = slices.Compact(dns)
	ips := slices.Clone(s.IPs)
	sort.Slice(ips, func(i, j int) bool { return bytes.Compare(ips[i].To16(), ips[j].To16()) < 0 })
	ips = slices.CompactFunc(ips, func(a, b net.IP) bool { return a.Equal(b) })
	return ServerSpec{CommonName: s.CommonName, DNSNames: dns, IPs: ips}
}

// Issue signs a server certificate for spec with a new ECDSA P-256 key, valid for
// ServerValidity.
func (ca *CA) Issue(spec ServerSpec, now time.Time) (certPEM, keyPEM []byte, err error) {
	return ca.IssueFor(spec, now, ServerValidity)
}

// IssueFor is Issue with another validity (`cso certs renew --lifetime`: short-lived
// certificates for renewal drills and tests).
func (ca *CA) IssueFor(spec ServerSpec, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		return nil, nil, fmt.Errorf("certificate validity %s: must be positive", validity)
	}
	spec = spec.normal()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"DXC"}, CommonName: spec.CommonName},
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID(&key.PublicKey),
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign server certificate %s: %w", spec.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// ServerProblem says why a host's certificate must be reissued, or "" when it is good:
// it must parse, match its key, chain to ca, cover exactly spec's names and addresses and
// not expire within RenewBefore.
func ServerProblem(certPEM, keyPEM []byte, ca *x509.Certificate, spec ServerSpec, now time.Time) string {
	spec = spec.normal()
	cert, err := ParseCert(certPEM)
	if err != nil {
		return "certificate: " + err.Error()
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return "key: " + err.Error()
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return "key does not match certificate"
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return "not signed by the project CA"
	}
	if now.Add(RenewWindow(cert)).After(cert.NotAfter) {
		return "expires " + cert.NotAfter.Format(time.RFC3339)
	}
	have := ServerSpec{CommonName: cert.Subject.CommonName, DNSNames: cert.DNSNames, IPs: cert.IPAddresses}.normal()
	if have.CommonName != spec.CommonName || !slices.Equal(have.DNSNames, spec.DNSNames) ||
		!slices.EqualFunc(have.IPs, spec.IPs, func(a, b net.IP) bool { return a.Equal(b) }) {
		return fmt.Sprintf("names differ (have %s %v, want %s %v)", have.CommonName, append(have.DNSNames, ipStrings(have.IPs)...),
			spec.CommonName, append(spec.DNSNames, ipStrings(spec.IPs)...))
	}
	return ""
}

// RenewWindow is how long before its expiry a server certificate is re-issued:
// RenewBefore (30 days), or the last third of its lifetime when that is shorter, so that a
// short-lived certificate (hours) is renewed once it is two thirds through its life and
// not at every run.
func RenewWindow(cert *x509.Certificate) time.Duration {
	// NotBefore is backdated by an hour at issue (clock skew): not part of the lifetime.
	life := cert.NotAfter.Sub(cert.NotBefore) - time.Hour
	if third := life / 3; third > 0 && third < RenewBefore {
		return third
	}
	return RenewBefore
}

// ParseCert parses the first certificate of a PEM document.
func ParseCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// ParseKey parses a PKCS#8, PKCS#1 or SEC 1 private key in PEM.
func ParseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("unsupported private key type")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key encoding")
}

// Pool returns a certificate pool holding the CA certificate in caPEM.
func Pool(caPEM []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in CA file")
	}
	return p, nil
}

// PoolFile returns a certificate pool holding the CA certificates of the PEM file path.
func PoolFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha1.Sum(der) // RFC 5280 4.2.1.2 method 1: an identifier, not a security function
	return sum[:]
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// HostSpec builds the server certificate names of a host: its FQDN (the common name), its
// aliases, its short name and localhost; IP addresses when they are known.
func HostSpec(name, fqdn string, aliases []string, addresses ...string) ServerSpec {
	s := ServerSpec{CommonName: fqdn}
	if s.CommonName == "" {
		s.CommonName = name
	}
	s.DNSNames = append([]string{fqdn, name, "localhost"}, aliases...)
	s.DNSNames = slices.DeleteFunc(s.DNSNames, func(d string) bool { return strings.TrimSpace(d) == "" })
	for _, a := range addresses {
		if ip := net.ParseIP(a); ip != nil {
			s.IPs = append(s.IPs, ip)
		}
	}
	return s.normal()
}
