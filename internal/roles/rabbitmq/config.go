package rabbitmq

import (
	"fmt"
	"strings"
)

// TLS policy of every RabbitMQ TLS listener (AMQPS and management): TLS 1.2 and 1.3 only,
// the server's cipher order, ECDHE key exchange with AEAD ciphers only, no client-initiated
// renegotiation, and only strong named curves (OTP's default list includes binary and
// 160-192-bit curves).
var (
	TLSVersions = []string{"tlsv1.3", "tlsv1.2"}
	TLSCiphers  = []string{
		// TLS 1.3 (all AEAD, always ECDHE/DHE in OTP)
		"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
		// TLS 1.2: ECDHE + AEAD
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	}
	TLSCurves = []string{"x25519", "secp384r1", "secp256r1"}
)

// Memory alarm thresholds (vm_memory_high_watermark), measured with `cso bench rabbitmq`
// (docs/benchmarks.md): a host of its own on AWS, a fixed share of one machine locally.
const (
	MemoryWatermark      = "0.6"
	LocalMemoryWatermark = "1GiB"
)

// RenderConfig returns rabbitmq.conf for node n in a cluster of nodes (LLD 3.4.1 in the
// current syntax). The TLS option lists live in advanced.config: see RenderAdvanced.
func RenderConfig(n Node, nodes []Node) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Managed by cso agent (role rabbitmq, LLD 3.4.1); changes are overwritten.")
	w("# TLS options (certificates, versions, ciphers, curves, peer verification) of the")
	w("# AMQPS and management listeners are in advanced.config: rabbitmq.conf cannot set the")
	w("# curves (eccs), and advanced.config replaces a whole ssl_options list, not single keys.")
	w("")
	w("# No plain AMQP listener: clients use AMQPS only (docs/decisions/roles.md).")
	w("listeners.tcp = none")
	w("listeners.ssl.default = %s:%d", n.BindAddress, n.AMQPS)
	w("")
	w("cluster_formation.peer_discovery_backend = classic_config")
	for i, p := range nodes {
		w("cluster_formation.classic_config.nodes.%d = %s", i+1, p.Name)
	}
	// A fresh node takes the peer discovery lock, looks for a running peer to join, and
	// starts alone when it finds none; the others wait for the lock, then find it and join.
	// The lock holder's search is pure waiting when all start at once: keep it short.
	w("cluster_formation.discovery_retry_limit = 3")
	w("cluster_formation.discovery_retry_interval = 500")
	w("cluster_partition_handling = pause_minority")
	w("")
	w("# Vhost %s, user %s (its password as a salted hash) and its permissions, imported at", VHost, User)
	w("# every boot: the user exists as soon as the node runs, and a node that imports")
	w("# definitions at boot creates no guest account.")
	w("definitions.import_backend = local_filesystem")
	w("definitions.local.path = %s", n.Definitions)
	w("loopback_users.guest = true")
	w("")
	if n.Prometheus != 0 {
		// rabbitmq_prometheus (enabled_plugins): plain HTTP, reachable from the jump server
		// only (security group; docs/decisions/check-admin.md).
		w("# rabbitmq_prometheus scrape endpoint (/metrics), plain HTTP: the security group")
		w("# admits the jump server only.")
		w("prometheus.tcp.ip = %s", n.BindAddress)
		w("prometheus.tcp.port = %d", n.Prometheus)
		w("")
	}
	// Memory alarm (publishers blocked above it): on a host of its own, 60 % of the RAM, in
	// the production checklist's 0.4-0.7 range and leaving 30 % or more to the OS and the
	// page cache. Locally every node shares one machine's RAM, and a relative limit would
	// let each of them claim most of it: a fixed share instead (docs/decisions/roles.md).
	w("# Memory alarm: publishers are blocked above it (docs/decisions/roles.md).")
	if n.Loopback {
		w("vm_memory_high_watermark.absolute = %s", LocalMemoryWatermark)
	} else {
		w("vm_memory_high_watermark.relative = %s", MemoryWatermark)
	}
	w("")
	w("log.file.level = info")
	w("log.console = false")
	return []byte(b.String())
}

// RenderAdvanced returns advanced.config: the complete TLS options of the AMQPS listener
// (rabbit ssl_options) and of the management listener (rabbitmq_management ssl_config,
// the current form of `management.ssl.*`; `management.listener.ssl` is the pre-3.7.10 one).
//
// Clients are verified against the project CA when they present a certificate
// (verify_peer) but need not present one (fail_if_no_peer_cert false): applications
// authenticate as ssp_user with a password, over TLS.
func RenderAdvanced(n Node) []byte {
	common := func(extra ...string) string {
		opts := append(extra,
			fmt.Sprintf("{cacertfile, %q}", n.CACert()),
			fmt.Sprintf("{certfile, %q}", n.Cert()),
			fmt.Sprintf("{keyfile, %q}", n.Key()),
			"{verify, verify_peer}",
			"{fail_if_no_peer_cert, false}",
			"{depth, 3}",
			"{versions, ["+strings.Join(quoteAtoms(TLSVersions), ", ")+"]}",
			"{ciphers, ["+strings.Join(quoteStrings(TLSCiphers), ", ")+"]}",
			"{eccs, ["+strings.Join(TLSCurves, ", ")+"]}",
			"{honor_cipher_order, true}",
			"{honor_ecc_order, true}",
			"{secure_renegotiate, true}",
			"{client_renegotiation, false}",
		)
		return "[\n      " + strings.Join(opts, ",\n      ") + "\n    ]"
	}
	ip := "{ip, " + quote(n.BindAddress) + "}"
	var b strings.Builder
	b.WriteString("%% Managed by cso agent (role rabbitmq); changes are overwritten.\n")
	b.WriteString("[\n")
	fmt.Fprintf(&b, "  {rabbit, [\n    {ssl_options, %s}\n  ]},\n", common())
	fmt.Fprintf(&b, "  {rabbitmq_management, [\n    {ssl_config, %s}\n  ]}\n",
		common(fmt.Sprintf("{port, %d}", n.Management), ip))
	b.WriteString("].\n")
	return []byte(b.String())
}

// RenderDistConfig returns inter_node_tls.config, the ssl_dist_optfile of the node and of
// its CLI tools: Erlang distribution over TLS with the host's certificate (EKU serverAuth
// and clientAuth) and the project CA, both ways. The server side requires and verifies the
// peer's certificate; the client side verifies the server's against the CA and the host
// part of the node name (inet_tls_dist sends it as SNI and the hostname check uses it:
// localhost locally, the FQDN on AWS, both in every host certificate's SANs). Server-only
// options stay out of the client list: OTP 26 and later refuse them there
// (https://github.com/erlang/otp/issues/7497).
func RenderDistConfig(n Node) []byte {
	files := []string{
		fmt.Sprintf("{cacertfile, %q}", n.CACert()),
		fmt.Sprintf("{certfile, %q}", n.Cert()),
		fmt.Sprintf("{keyfile, %q}", n.Key()),
		"{verify, verify_peer}",
		"{depth, 3}",
		"{versions, [" + strings.Join(quoteAtoms(TLSVersions), ", ") + "]}",
		"{ciphers, [" + strings.Join(quoteStrings(TLSCiphers), ", ") + "]}",
		"{eccs, [" + strings.Join(TLSCurves, ", ") + "]}",
		"{secure_renegotiate, true}",
	}
	server := append(append([]string{}, files...),
		"{fail_if_no_peer_cert, true}",
		"{honor_cipher_order, true}",
		"{honor_ecc_order, true}",
		"{client_renegotiation, false}",
	)
	list := func(opts []string) string { return "[\n    " + strings.Join(opts, ",\n    ") + "\n  ]" }
	var b strings.Builder
	b.WriteString("%% Managed by cso agent (role rabbitmq); changes are overwritten.\n")
	b.WriteString("%% TLS of Erlang distribution (-proto_dist inet_tls -ssl_dist_optfile <this file>).\n")
	fmt.Fprintf(&b, "[\n  {server, %s},\n  {client, %s}\n].\n", list(server), list(files))
	return []byte(b.String())
}

// RenderEnabledPlugins returns the node's enabled_plugins file: the management API (the
// agent's and `cso check`'s view of the cluster) and rabbitmq_prometheus (the broker's own
// metrics on the prometheus port, part of RabbitMQ since 3.8.0).
func RenderEnabledPlugins() []byte { return []byte("[rabbitmq_management,rabbitmq_prometheus].\n") }

func quote(s string) string { return fmt.Sprintf("%q", s) }

func quoteStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func quoteAtoms(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "'" + s + "'"
	}
	return out
}
