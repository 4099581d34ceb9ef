package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/userfile"
)

// dialer connects to the environment's hosts. Locally every host is 127.0.0.1 while its
// certificate names its FQDN, so connections go to the host's address and TLS verifies the
// FQDN; on AWS the address is empty and the FQDN resolves through the private zone.
type dialer struct {
	addrs map[string]string // lower-case FQDN or alias -> address to dial
	net   net.Dialer
}

func (d *dialer) DialContext(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	if a, ok := d.addrs[strings.ToLower(host)]; ok && a != "" {
		hostport = net.JoinHostPort(a, port)
	}
	return d.net.DialContext(ctx, network, hostport)
}

// tcpProbe connects and disconnects.
func (c *Checker) tcpProbe(fqdn string, port int) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		conn, err := c.dial.DialContext(ctx, "tcp", net.JoinHostPort(fqdn, strconv.Itoa(port)))
		if err != nil {
			return fail("connect to %s: %s", c.where(fqdn, port), netErr(err))
		}
		conn.Close()
		return ok("port %d open", port)
	}
}

// closedWait bounds a closedProbe's dial: on AWS a port no security group opens drops the
// SYN, and silence for this long means unreachable.
const closedWait = 3 * time.Second

// closedProbe asserts that nothing accepts connections on a port the platform keeps closed
// (RabbitMQ's plain AMQP): refused or unanswered is the healthy outcome.
func (c *Checker) closedProbe(fqdn string, port int) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		dctx, cancel := context.WithTimeout(ctx, closedWait)
		defer cancel()
		conn, err := c.dial.DialContext(dctx, "tcp", net.JoinHostPort(fqdn, strconv.Itoa(port)))
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || dctx.Err() != nil {
				return ok("port %d unreachable (no answer within %s)", port, closedWait)
			}
			return ok("port %d closed: %s", port, netErr(err))
		}
		conn.Close()
		return fail("%s accepts connections: this port must be closed", c.where(fqdn, port))
	}
}

// where names the address actually dialled, for details.
func (c *Checker) where(fqdn string, port int) string {
	if a := c.dial.addrs[strings.ToLower(fqdn)]; a != "" && a != fqdn {
		return fmt.Sprintf("%s:%d (%s)", fqdn, port, a)
	}
	return fmt.Sprintf("%s:%d", fqdn, port)
}

// tlsProbe completes a handshake verified against the project CA for the host's FQDN.
func (c *Checker) tlsProbe(fqdn string, port int) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		if c.roots == nil {
			return fail("cannot verify: %v", c.caErr)
		}
		conn, err := c.handshake(ctx, fqdn, port, &tls.Config{RootCAs: c.roots, ServerName: fqdn, MinVersion: tls.VersionTLS12})
		if err != nil {
			return fail("TLS handshake with %s: %s", c.where(fqdn, port), tlsErr(err))
		}
		st := conn.ConnectionState()
		conn.Close()
		return ok("%s, certificate verified for %s by the project CA", tls.VersionName(st.Version), fqdn)
	}
}

func (c *Checker) handshake(ctx context.Context, fqdn string, port int, cfg *tls.Config) (*tls.Conn, error) {
	raw, err := c.dial.DialContext(ctx, "tcp", net.JoinHostPort(fqdn, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// certProbe reads the certificate an endpoint presents, whatever its validity, and reports
// its validity window and days to expiry (verification is tlsProbe's job).
func (c *Checker) certProbe(fqdn string, port int) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		// InsecureSkipVerify only to read an expired or wrong certificate; nothing is sent.
		conn, err := c.handshake(ctx, fqdn, port, &tls.Config{InsecureSkipVerify: true, ServerName: fqdn}) //nolint:gosec
		if err != nil {
			return fail("cannot read the certificate of %s: %s", c.where(fqdn, port), tlsErr(err))
		}
		defer conn.Close()
		certs := conn.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return fail("%s presented no certificate", c.where(fqdn, port))
		}
		return c.validity(certs[0], fmt.Sprintf("certificate of %s:%d", fqdn, port))
	}
}

// caProbe checks the CA certificate: the file at path, or the PEM the description carries.
func (c *Checker) caProbe(path, inline string) func(context.Context) Outcome {
	return func(context.Context) Outcome {
		var cert *x509.Certificate
		var err error
		if inline != "" {
			path = "ca_pem of the target description"
			cert, err = parseCert(path, []byte(inline))
		} else {
			cert, err = readCert(path)
		}
		if err != nil {
			return fail("%v", err)
		}
		if !cert.IsCA {
			return fail("%s is not a CA certificate (basic constraints CA:FALSE)", path)
		}
		return c.validity(cert, "CA "+path)
	}
}

// validity grades a certificate's validity window: fail when expired, not yet valid or
// expiring within FailDays; warn when it expires within WarnDays.
func (c *Checker) validity(cert *x509.Certificate, what string) Outcome {
	now := c.now()
	subject := cert.Subject.CommonName
	if subject == "" && len(cert.DNSNames) > 0 {
		subject = cert.DNSNames[0]
	}
	info := certInfo(cert, now)
	o := Outcome{NotAfter: cert.NotAfter, Cert: info}
	switch {
	case now.After(cert.NotAfter):
		o.Status = Fail
		o.Detail = fmt.Sprintf("%s (CN %s) expired %s, %s ago", what, subject, cert.NotAfter.UTC().Format(time.RFC3339), ago(now.Sub(cert.NotAfter)))
	case now.Before(cert.NotBefore):
		o.Status = Fail
		o.Detail = fmt.Sprintf("%s (CN %s) not valid before %s", what, subject, cert.NotBefore.UTC().Format(time.RFC3339))
	default:
		days := info.DaysLeft
		o.Status = OK
		o.Detail = fmt.Sprintf("%s (CN %s) expires %s: %d days left", what, subject, cert.NotAfter.UTC().Format("2006-01-02"), days)
		switch {
		case days < c.opts.FailDays:
			o.Status = Fail
			o.Detail += fmt.Sprintf(" (under %d: renew it now)", c.opts.FailDays)
		case days < c.opts.WarnDays:
			o.Status = Warn
			o.Detail += fmt.Sprintf(" (under %d: renew it)", c.opts.WarnDays)
		}
	}
	return o
}

// certInfo describes cert for `cso certs`.
func certInfo(cert *x509.Certificate, now time.Time) *CertInfo {
	sans := append([]string(nil), cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	left := cert.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	if left < 0 && left > -24*time.Hour {
		days = -1 // expired today: not "0 days left"
	}
	return &CertInfo{
		Subject: cert.Subject.String(), SANs: sans, Issuer: cert.Issuer.String(), Serial: fmt.Sprintf("%x", cert.SerialNumber),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), DaysLeft: days,
	}
}

func ago(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return d.Round(time.Second).String()
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := userfile.Read(path, target.MaxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	return parseCert(path, data)
}

func parseCert(path string, data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// httpExpect grades an HTTP status code; body is the first bytes of the answer.
type httpExpect func(code int, body []byte) Outcome

// httpProbe requests url and grades the answer. hdr may carry credentials.
func (c *Checker) httpProbe(method, url string, hdr http.Header, expect httpExpect) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		code, body, err := c.do(ctx, method, url, hdr, nil)
		if err != nil {
			return fail("%s %s: %s", method, url, httpErr(err))
		}
		return expect(code, body)
	}
}

// do performs one request and returns status, up to 64 KiB of body and the error.
func (c *Checker) do(ctx context.Context, method, url string, hdr http.Header, body io.Reader) (int, []byte, error) {
	code, _, b, err := c.doHeaders(ctx, method, url, hdr, body)
	return code, b, err
}

func (c *Checker) doHeaders(ctx context.Context, method, url string, hdr http.Header, body io.Reader) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, resp.Header, b, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

func expectCodes(what string, codes ...int) httpExpect {
	return func(code int, body []byte) Outcome {
		for _, c := range codes {
			if code == c {
				return ok("%s: HTTP %d", what, code)
			}
		}
		return fail("%s: HTTP %d, expected %s%s", what, code, joinInts(codes), snippet(body))
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " or ")
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return ": " + oneLine(s)
}

// netErr shortens the usual dial errors to what an operator needs.
func netErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg := op.Err.Error()
		if strings.Contains(msg, "connection refused") {
			return "connection refused (is the service running?)"
		}
		return msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

func tlsErr(err error) string {
	var cerr *tls.CertificateVerificationError
	if errors.As(err, &cerr) {
		return "certificate not accepted: " + cerr.Err.Error()
	}
	return netErr(err)
}

func httpErr(err error) string {
	var cerr *tls.CertificateVerificationError
	if errors.As(err, &cerr) {
		return "certificate not accepted: " + cerr.Err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return netErr(op)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// memcachedProbe asks a Keystone node's memcached for its version (text protocol): the
// cache answers, not only its port.
func (c *Checker) memcachedProbe(fqdn string, port int) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		conn, err := c.dial.DialContext(ctx, "tcp", net.JoinHostPort(fqdn, strconv.Itoa(port)))
		if err != nil {
			return fail("connect to %s: %s", c.where(fqdn, port), netErr(err))
		}
		defer conn.Close()
		if dl, has := ctx.Deadline(); has {
			conn.SetDeadline(dl)
		}
		if _, err := conn.Write([]byte("version\r\n")); err != nil {
			return fail("%s: %v", c.where(fqdn, port), err)
		}
		line, err := bufio.NewReader(io.LimitReader(conn, 256)).ReadString('\n')
		if err != nil {
			return fail("%s did not answer version: %v", c.where(fqdn, port), err)
		}
		v, found := strings.CutPrefix(strings.TrimSpace(line), "VERSION ")
		if !found {
			return fail("%s answered %q to version: not memcached", c.where(fqdn, port), oneLine(strings.TrimSpace(line)))
		}
		return ok("memcached %s", v)
	}
}
