package testprovider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"golang.org/x/crypto/ssh"
)

// The tls resources produce genuine keys, CSRs and certificates (crypto/x509), so stacks
// and tests that parse or chain them see real PEM.

// setComputed sets m[name] when the attribute exists and is unknown (planned "known
// after apply", or a data source attribute the configuration left null).
// A value of another primitive or collection kind is converted to the schema's type
// (fixtures are shared by resources whose schemas differ), or dropped.
func setComputed(m map[string]tftypes.Value, name string, v tftypes.Value) {
	cur, ok := m[name]
	if !ok || cur.IsKnown() {
		return
	}
	if cv, ok := convertTo(cur.Type(), v); ok {
		m[name] = cv
	}
}

func convertTo(t tftypes.Type, v tftypes.Value) (tftypes.Value, bool) {
	if v.Type().Equal(t) {
		return v, true
	}
	if v.IsNull() || !v.IsFullyKnown() {
		return v, false
	}
	switch {
	case t.Is(tftypes.String):
		return newStr(canonicalScalar(v)), v.Type().Is(tftypes.Bool) || v.Type().Is(tftypes.Number)
	case t.Is(tftypes.Bool):
		if s, ok := str(v); ok && (s == "true" || s == "false") {
			return tftypes.NewValue(tftypes.Bool, s == "true"), true
		}
	case t.Is(tftypes.Number):
		if s, ok := str(v); ok {
			if f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven); err == nil {
				return tftypes.NewValue(tftypes.Number, f), true
			}
		}
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}):
		if !v.Type().Is(tftypes.List{}) && !v.Type().Is(tftypes.Set{}) {
			return v, false
		}
		var et tftypes.Type
		if l, ok := t.(tftypes.List); ok {
			et = l.ElementType
		} else {
			et = t.(tftypes.Set).ElementType
		}
		var out []tftypes.Value
		for _, e := range elems(v) {
			ce, ok := convertTo(et, e)
			if !ok {
				return v, false
			}
			out = append(out, ce)
		}
		return tftypes.NewValue(t, out), true
	}
	return v, false
}

func canonicalScalar(v tftypes.Value) string {
	if f, ok := num(v); ok {
		return f.Text('f', -1)
	}
	return fmt.Sprint(boolOr(v, false))
}

func setStr(m map[string]tftypes.Value, name, s string) { setComputed(m, name, newStr(s)) }

func setBool(m map[string]tftypes.Value, name string, b bool) {
	setComputed(m, name, tftypes.NewValue(tftypes.Bool, b))
}

func setNum(m map[string]tftypes.Value, name string, n int64) {
	setComputed(m, name, tftypes.NewValue(tftypes.Number, new(big.Float).SetInt64(n)))
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func tlsPrivateKey(f *filler, m map[string]tftypes.Value) error {
	alg, _ := str(m["algorithm"])
	var key crypto.Signer
	var err error
	var legacyPEM string
	switch alg {
	case "RSA":
		bits := int(intOr(m["rsa_bits"], 2048))
		setNum(m, "rsa_bits", int64(bits))
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, bits); err == nil {
			key = k
			legacyPEM = pemString("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
		}
	case "ECDSA":
		curveName, ok := str(m["ecdsa_curve"])
		if !ok {
			curveName = "P224"
		}
		setStr(m, "ecdsa_curve", curveName)
		curves := map[string]elliptic.Curve{"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521()}
		c, ok := curves[curveName]
		if !ok {
			return fmt.Errorf("ecdsa_curve %q: want P224, P256, P384 or P521", curveName)
		}
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(c, rand.Reader); err == nil {
			key = k
			der, merr := x509.MarshalECPrivateKey(k)
			if merr != nil {
				return merr
			}
			legacyPEM = pemString("EC PRIVATE KEY", der)
		}
	case "ED25519":
		var k ed25519.PrivateKey
		if _, k, err = ed25519.GenerateKey(rand.Reader); err == nil {
			key = k
		}
	default:
		return fmt.Errorf("algorithm %q: want RSA, ECDSA or ED25519", alg)
	}
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if legacyPEM == "" {
		legacyPEM = pemString("PRIVATE KEY", pkcs8)
	}
	setStr(m, "private_key_pem", legacyPEM)
	setStr(m, "private_key_pem_pkcs8", pemString("PRIVATE KEY", pkcs8))
	if blk, err := ssh.MarshalPrivateKey(key, ""); err == nil {
		setStr(m, "private_key_openssh", string(pem.EncodeToMemory(blk)))
	} else {
		setStr(m, "private_key_openssh", "")
	}
	return setPublicKeyAttrs(m, key.Public())
}

func setPublicKeyAttrs(m map[string]tftypes.Value, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	setStr(m, "public_key_pem", pemString("PUBLIC KEY", der))
	sum := sha1.Sum(der)
	setStr(m, "id", fmt.Sprintf("%x", sum))
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		// P224 has no SSH encoding; the real provider leaves these empty too.
		setStr(m, "public_key_openssh", "")
		setStr(m, "public_key_fingerprint_md5", "")
		setStr(m, "public_key_fingerprint_sha256", "")
		return nil
	}
	setStr(m, "public_key_openssh", string(ssh.MarshalAuthorizedKey(sshPub)))
	md := md5.Sum(sshPub.Marshal())
	parts := make([]string, len(md))
	for i, b := range md {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	setStr(m, "public_key_fingerprint_md5", strings.Join(parts, ":"))
	setStr(m, "public_key_fingerprint_sha256", ssh.FingerprintSHA256(sshPub))
	return nil
}

// parsePrivateKeyPEM reads PKCS#1, SEC1 or PKCS#8 PEM.
func parsePrivateKeyPEM(s string) (crypto.Signer, string, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, "", errors.New("private key is not PEM")
	}
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("parse private key: %w", err)
	}
	switch kk := k.(type) {
	case *rsa.PrivateKey:
		return kk, "RSA", nil
	case *ecdsa.PrivateKey:
		return kk, "ECDSA", nil
	case ed25519.PrivateKey:
		return kk, "ED25519", nil
	}
	return nil, "", fmt.Errorf("unsupported private key type %T", k)
}

func subjectOf(v tftypes.Value) pkix.Name {
	var n pkix.Name
	if !v.IsKnown() || v.IsNull() {
		return n
	}
	l := elems(v)
	if len(l) == 0 {
		return n
	}
	s := objMap(l[0])
	get := func(k string) string { x, _ := str(s[k]); return x }
	one := func(k string) []string {
		if x := get(k); x != "" {
			return []string{x}
		}
		return nil
	}
	n.CommonName = get("common_name")
	n.Organization = one("organization")
	n.OrganizationalUnit = one("organizational_unit")
	n.Country = one("country")
	n.Province = one("province")
	n.Locality = one("locality")
	n.StreetAddress = one("street_address")
	n.PostalCode = one("postal_code")
	n.SerialNumber = get("serial_number")
	if e := get("email_address"); e != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: []int{1, 2, 840, 113549, 1, 9, 1}, Value: e})
	}
	return n
}

func sansOf(m map[string]tftypes.Value) ([]string, []net.IP, []*url.URL, error) {
	dns := strList(m["dns_names"])
	var ips []net.IP
	for _, s := range strList(m["ip_addresses"]) {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, nil, fmt.Errorf("ip_addresses: %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, s := range strList(m["uris"]) {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("uris: %w", err)
		}
		uris = append(uris, u)
	}
	return dns, ips, uris, nil
}

func applyUses(tmpl *x509.Certificate, uses []string) {
	ku := map[string]x509.KeyUsage{
		"digital_signature": x509.KeyUsageDigitalSignature, "content_commitment": x509.KeyUsageContentCommitment,
		"key_encipherment": x509.KeyUsageKeyEncipherment, "data_encipherment": x509.KeyUsageDataEncipherment,
		"key_agreement": x509.KeyUsageKeyAgreement, "cert_signing": x509.KeyUsageCertSign,
		"crl_signing": x509.KeyUsageCRLSign, "encipher_only": x509.KeyUsageEncipherOnly, "decipher_only": x509.KeyUsageDecipherOnly,
	}
	eku := map[string]x509.ExtKeyUsage{
		"any_extended": x509.ExtKeyUsageAny, "server_auth": x509.ExtKeyUsageServerAuth, "client_auth": x509.ExtKeyUsageClientAuth,
		"code_signing": x509.ExtKeyUsageCodeSigning, "email_protection": x509.ExtKeyUsageEmailProtection,
		"ipsec_end_system": x509.ExtKeyUsageIPSECEndSystem, "ipsec_tunnel": x509.ExtKeyUsageIPSECTunnel,
		"ipsec_user": x509.ExtKeyUsageIPSECUser, "timestamping": x509.ExtKeyUsageTimeStamping,
		"ocsp_signing": x509.ExtKeyUsageOCSPSigning, "microsoft_server_gated_crypto": x509.ExtKeyUsageMicrosoftServerGatedCrypto,
		"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
		"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
		"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
	}
	for _, u := range uses {
		if k, ok := ku[u]; ok {
			tmpl.KeyUsage |= k
		}
		if k, ok := eku[u]; ok {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, k)
		}
	}
}

// certTemplate builds the common part of self-signed and locally signed certificates.
func certTemplate(m map[string]tftypes.Value) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	hours := intOr(m["validity_period_hours"], 0)
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now,
		NotAfter:              now.Add(time.Duration(hours) * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  boolOr(m["is_ca_certificate"], false),
	}
	applyUses(tmpl, strList(m["allowed_uses"]))
	return tmpl, nil
}

func setCertResult(m map[string]tftypes.Value, tmpl *x509.Certificate, der []byte) {
	setStr(m, "cert_pem", pemString("CERTIFICATE", der))
	setStr(m, "validity_start_time", tmpl.NotBefore.Format(time.RFC3339))
	setStr(m, "validity_end_time", tmpl.NotAfter.Format(time.RFC3339))
	setBool(m, "ready_for_renewal", false)
	setStr(m, "id", tmpl.SerialNumber.String())
}

func subjectKeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha1.Sum(der)
	return sum[:]
}

func tlsSelfSignedCert(f *filler, m map[string]tftypes.Value) error {
	pemStr, _ := str(m["private_key_pem"])
	key, alg, err := parsePrivateKeyPEM(pemStr)
	if err != nil {
		return fmt.Errorf("private_key_pem: %w", err)
	}
	tmpl, err := certTemplate(m)
	if err != nil {
		return err
	}
	tmpl.Subject = subjectOf(m["subject"])
	if tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = sansOf(m); err != nil {
		return err
	}
	if boolOr(m["set_subject_key_id"], false) || tmpl.IsCA {
		tmpl.SubjectKeyId = subjectKeyID(key.Public())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create certificate: %w", err)
	}
	setStr(m, "key_algorithm", alg)
	setCertResult(m, tmpl, der)
	return nil
}

func tlsCertRequest(f *filler, m map[string]tftypes.Value) error {
	pemStr, _ := str(m["private_key_pem"])
	key, alg, err := parsePrivateKeyPEM(pemStr)
	if err != nil {
		return fmt.Errorf("private_key_pem: %w", err)
	}
	req := &x509.CertificateRequest{Subject: subjectOf(m["subject"])}
	if req.DNSNames, req.IPAddresses, req.URIs, err = sansOf(m); err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, req, key)
	if err != nil {
		return fmt.Errorf("create certificate request: %w", err)
	}
	setStr(m, "key_algorithm", alg)
	setStr(m, "cert_request_pem", pemString("CERTIFICATE REQUEST", der))
	sum := sha1.Sum(der)
	setStr(m, "id", fmt.Sprintf("%x", sum))
	return nil
}

func tlsLocallySignedCert(f *filler, m map[string]tftypes.Value) error {
	csrPEM, _ := str(m["cert_request_pem"])
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		return errors.New("cert_request_pem is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return fmt.Errorf("cert_request_pem: %w", err)
	}
	caKeyPEM, _ := str(m["ca_private_key_pem"])
	caKey, caAlg, err := parsePrivateKeyPEM(caKeyPEM)
	if err != nil {
		return fmt.Errorf("ca_private_key_pem: %w", err)
	}
	caPEM, _ := str(m["ca_cert_pem"])
	cblk, _ := pem.Decode([]byte(caPEM))
	if cblk == nil {
		return errors.New("ca_cert_pem is not PEM")
	}
	ca, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return fmt.Errorf("ca_cert_pem: %w", err)
	}
	tmpl, err := certTemplate(m)
	if err != nil {
		return err
	}
	tmpl.Subject = csr.Subject
	tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, tmpl.EmailAddresses = csr.DNSNames, csr.IPAddresses, csr.URIs, csr.EmailAddresses
	if boolOr(m["set_subject_key_id"], false) {
		tmpl.SubjectKeyId = subjectKeyID(csr.PublicKey)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("sign certificate: %w", err)
	}
	setStr(m, "ca_key_algorithm", caAlg)
	setCertResult(m, tmpl, der)
	return nil
}

func dataTLSPublicKey(f *filler, m map[string]tftypes.Value) error {
	var pub crypto.PublicKey
	alg := ""
	if s, ok := str(m["private_key_pem"]); ok && s != "" {
		key, a, err := parsePrivateKeyPEM(s)
		if err != nil {
			return fmt.Errorf("private_key_pem: %w", err)
		}
		pub, alg = key.Public(), a
	} else if s, ok := str(m["private_key_openssh"]); ok && s != "" {
		k, err := ssh.ParseRawPrivateKey([]byte(s))
		if err != nil {
			return fmt.Errorf("private_key_openssh: %w", err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return fmt.Errorf("private_key_openssh: unsupported key %T", k)
		}
		pub = signer.Public()
		switch pub.(type) {
		case *rsa.PublicKey:
			alg = "RSA"
		case *ecdsa.PublicKey:
			alg = "ECDSA"
		default:
			alg = "ED25519"
		}
	} else {
		return errors.New("set private_key_pem or private_key_openssh")
	}
	setStr(m, "algorithm", alg)
	return setPublicKeyAttrs(m, pub)
}

func dataTLSCertificate(f *filler, m map[string]tftypes.Value) error {
	content, _ := str(m["content"])
	if content == "" {
		return errors.New("the test provider has no network: give the certificate chain in content, not url")
	}
	certT := m["certificates"].Type().(tftypes.List)
	objT := certT.ElementType.(tftypes.Object)
	var out []tftypes.Value
	rest := []byte(content)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("content: %w", err)
		}
		sum := sha1.Sum(c.Raw)
		attrs := map[string]tftypes.Value{
			"cert_pem":             newStr(pemString("CERTIFICATE", c.Raw)),
			"is_ca":                tftypes.NewValue(tftypes.Bool, c.IsCA),
			"issuer":               newStr(c.Issuer.String()),
			"not_after":            newStr(c.NotAfter.UTC().Format(time.RFC3339)),
			"not_before":           newStr(c.NotBefore.UTC().Format(time.RFC3339)),
			"public_key_algorithm": newStr(c.PublicKeyAlgorithm.String()),
			"serial_number":        newStr(c.SerialNumber.String()),
			"sha1_fingerprint":     newStr(fmt.Sprintf("%x", sum)),
			"signature_algorithm":  newStr(c.SignatureAlgorithm.String()),
			"subject":              newStr(c.Subject.String()),
			"version":              tftypes.NewValue(tftypes.Number, big.NewFloat(float64(c.Version))),
		}
		for k, at := range objT.AttributeTypes { // keep in step with the schema
			if _, ok := attrs[k]; !ok {
				attrs[k] = tftypes.NewValue(at, nil)
			}
		}
		for k := range attrs {
			if _, ok := objT.AttributeTypes[k]; !ok {
				delete(attrs, k)
			}
		}
		out = append(out, tftypes.NewValue(objT, attrs))
	}
	if len(out) == 0 {
		return errors.New("content holds no PEM certificate")
	}
	setComputed(m, "certificates", tftypes.NewValue(certT, out))
	h := sha256.Sum256([]byte(content))
	setStr(m, "id", base64.RawURLEncoding.EncodeToString(h[:12]))
	return nil
}
