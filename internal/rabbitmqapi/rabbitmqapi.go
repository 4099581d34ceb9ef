// Package rabbitmqapi is the one client of RabbitMQ's management HTTP API (TLS verified
// against the project CA, Basic authentication as ssp_user) that the RabbitMQ role, the
// backups, `cso check` and the tests share, with the cluster-health reads built on it. It
// imports nothing Linux-only: the operator's commands (check, backup) build for Windows and
// macOS too.
package rabbitmqapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/inventory"
)

// maxAnswer bounds how much of an answer is read: the definitions of a vhost that the
// backups export are the largest the platform asks for.
const maxAnswer = 64 << 20

// Client talks to one node's management API.
type Client struct {
	Endpoint string // https://host:port
	User     string
	Pass     string
	HTTP     *http.Client
}

// New returns a client for endpoint (https://host:15671) that trusts only roots; the name
// in endpoint is dialled as is.
func New(endpoint string, roots *x509.CertPool, user, pass string) *Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), User: user, Pass: pass,
		HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// ForHost returns a client of host h's management port as user: TLS verified against roots
// for the host's FQDN, connections to its address when it has one (the local target; on AWS
// the FQDN resolves in the private zone).
func ForHost(h inventory.Host, roots *x509.CertPool, user, pass string) *Client {
	port := strconv.Itoa(h.Ports[inventory.PortManagement])
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: h.FQDN},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h.Address != "" {
				addr = net.JoinHostPort(h.Address, port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	return &Client{Endpoint: "https://" + net.JoinHostPort(h.FQDN, port), User: user, Pass: pass,
		HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Do sends one request for path, with body (when not nil) as JSON, and returns the status
// and the answer. A transport error is returned as the HTTP client gave it, so that callers
// can inspect it (errors.As) and word it their way.
func (c *Client) Do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		doc, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(doc)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.User, c.Pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s%s: read answer: %w", method, c.Endpoint, path, err)
	}
	return resp.StatusCode, answer, nil
}

// Get fetches path (e.g. /api/overview) and decodes the JSON answer into v (if not nil).
// An answer other than 200 is an *HTTPError.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	code, answer, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", c.Endpoint, path, err)
	}
	if code != http.StatusOK {
		return c.httpError(http.MethodGet, path, code, answer)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(answer, v); err != nil {
		return fmt.Errorf("GET %s%s: not the JSON expected: %w", c.Endpoint, path, err)
	}
	return nil
}

// Send sends body as JSON with method (PUT, POST, DELETE) to path; an answer other than 2xx
// is an *HTTPError.
func (c *Client) Send(ctx context.Context, method, path string, body any) error {
	code, answer, err := c.Do(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.Endpoint, path, err)
	}
	if code/100 != 2 {
		return c.httpError(method, path, code, answer)
	}
	return nil
}

func (c *Client) httpError(method, path string, code int, answer []byte) *HTTPError {
	return &HTTPError{Method: method, URL: c.Endpoint + path, Code: code, Body: string(bytes.TrimSpace(answer))}
}

// HTTPError is an answer of the management API other than the one expected.
type HTTPError struct {
	Method string
	URL    string
	Code   int
	Body   string
}

func (e *HTTPError) Error() string {
	b := e.Body
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	hint := ""
	if e.Code == http.StatusUnauthorized {
		hint = " (wrong credentials, or the user lacks the monitoring tag)"
	}
	return fmt.Sprintf("%s %s: HTTP %d%s: %s", e.Method, e.URL, e.Code, hint, b)
}
