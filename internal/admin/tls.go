package admin

import "crypto/tls"

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
