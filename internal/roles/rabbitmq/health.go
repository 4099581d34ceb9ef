package rabbitmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"time"
)

// ProbeAMQPS checks that an AMQP 0-9-1 broker answers over TLS at addr: the certificate
// verifies against roots for serverName, and the broker answers the protocol header with
// a Connection.Start method frame. It does not log in.
func ProbeAMQPS(ctx context.Context, addr, serverName string, roots *x509.CertPool) error {
	d := &tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("AMQPS %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return fmt.Errorf("AMQPS %s: send protocol header: %w", addr, err)
	}
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return fmt.Errorf("AMQPS %s: no Connection.Start from the broker: %w", addr, err)
	}
	if hdr[0] != 1 { // frame type 1: method
		return fmt.Errorf("AMQPS %s: answered %q, not an AMQP method frame", addr, hdr)
	}
	return nil
}

// ProbeTLS checks that a TLS server at addr presents a certificate valid for serverName
// under roots.
func ProbeTLS(ctx context.Context, addr, serverName string, roots *x509.CertPool) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("TLS %s: %w", addr, err)
	}
	return conn.Close()
}
