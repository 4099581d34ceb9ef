package backup

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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/inventory"
)

// RabbitDefs is the RabbitMQ artefact: the definitions of the platform's vhost read over
// the management API (the shape of GET /api/definitions/<vhost>), and the vhosts the
// cluster holds. Users are not in it: the platform's one user (ssp_user) and its
// permissions are the RabbitMQ role's, with the password of the environment's secret
// (docs/decisions/backup.md).
type RabbitDefs struct {
	VHost     string           `json:"vhost"`
	VHosts    []string         `json:"vhosts"`
	Queues    []map[string]any `json:"queues"`
	Exchanges []map[string]any `json:"exchanges"`
	Bindings  []map[string]any `json:"bindings"`
	Policies  []map[string]any `json:"policies"`
}

func vhostPath(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = url.PathEscape(p)
	}
	return "/" + strings.Join(esc, "/")
}

// ExportRabbitMQ reads the definitions of vhost ssp over the management API of c.
func ExportRabbitMQ(ctx context.Context, c *RabbitAPI) ([]byte, error) {
	d := RabbitDefs{VHost: RabbitVHost}
	var vhosts []struct {
		Name string `json:"name"`
	}
	if err := c.Get(ctx, "/api/vhosts", &vhosts); err != nil {
		return nil, err
	}
	for _, v := range vhosts {
		d.VHosts = append(d.VHosts, v.Name)
	}
	vh := url.PathEscape(RabbitVHost)
	var queues, exchanges, bindings, policies []map[string]any
	for _, g := range []struct {
		path string
		v    *[]map[string]any
	}{{"/api/queues/" + vh, &queues}, {"/api/exchanges/" + vh, &exchanges}, {"/api/bindings/" + vh, &bindings}, {"/api/policies/" + vh, &policies}} {
		if err := c.Get(ctx, g.path, g.v); err != nil {
			return nil, err
		}
	}
	for _, q := range queues {
		d.Queues = append(d.Queues, pick(q, "name", "durable", "auto_delete", "arguments"))
	}
	for _, e := range exchanges {
		name, _ := e["name"].(string)
		if name == "" || strings.HasPrefix(name, "amq.") {
			continue // the default and amq.* exchanges exist in every vhost
		}
		d.Exchanges = append(d.Exchanges, pick(e, "name", "type", "durable", "auto_delete", "internal", "arguments"))
	}
	for _, b := range bindings {
		if s, _ := b["source"].(string); s == "" {
			continue // the default exchange's implicit bindings
		}
		d.Bindings = append(d.Bindings, pick(b, "source", "destination", "destination_type", "routing_key", "arguments"))
	}
	for _, p := range policies {
		d.Policies = append(d.Policies, pick(p, "name", "pattern", "apply-to", "definition", "priority"))
	}
	return json.MarshalIndent(d, "", "  ")
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// ImportRabbitMQ declares the exchanges, queues, bindings and policies of data on the
// cluster c talks to (existing objects with the same definition are left as they are).
func ImportRabbitMQ(ctx context.Context, c *RabbitAPI, data []byte) (int, error) {
	var d RabbitDefs
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, fmt.Errorf("%s: %w", ArtRabbitMQ, err)
	}
	if d.VHost != RabbitVHost {
		return 0, fmt.Errorf("%s: definitions of vhost %q, expected %q", ArtRabbitMQ, d.VHost, RabbitVHost)
	}
	n := 0
	send := func(method, path string, body map[string]any) error {
		n++
		return call(ctx, c, method, path, body)
	}
	for _, p := range d.Policies {
		name, _ := p["name"].(string)
		body := pick(p, "pattern", "apply-to", "definition", "priority")
		if err := send(http.MethodPut, "/api/policies"+vhostPath(d.VHost, name), body); err != nil {
			return n, err
		}
	}
	for _, e := range d.Exchanges {
		name, _ := e["name"].(string)
		if err := send(http.MethodPut, "/api/exchanges"+vhostPath(d.VHost, name), pick(e, "type", "durable", "auto_delete", "internal", "arguments")); err != nil {
			return n, err
		}
	}
	for _, q := range d.Queues {
		name, _ := q["name"].(string)
		if err := send(http.MethodPut, "/api/queues"+vhostPath(d.VHost, name), pick(q, "durable", "auto_delete", "arguments")); err != nil {
			return n, err
		}
	}
	for _, b := range d.Bindings {
		src, _ := b["source"].(string)
		dst, _ := b["destination"].(string)
		kind := "q"
		if t, _ := b["destination_type"].(string); t == "exchange" {
			kind = "e"
		}
		path := "/api/bindings" + vhostPath(d.VHost, "e", src, kind, dst)
		if err := send(http.MethodPost, path, pick(b, "routing_key", "arguments")); err != nil {
			return n, err
		}
	}
	return n, nil
}

// call sends one management API request with a JSON body.
func call(ctx context.Context, c *RabbitAPI, method, path string, body map[string]any) error {
	doc, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+path, bytes.NewReader(doc))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.User, c.Pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s%s: HTTP %d: %s", method, c.Endpoint, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// RabbitClient is a management API client of node h as user ssp_user: TLS verified against
// the CA in caPEM for the node's FQDN, connections to its address when it has one (the
// local target; on AWS the FQDN resolves in the private zone).
func RabbitClient(h inventory.Host, caPEM []byte, pass string) (*RabbitAPI, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no CA certificate to verify %s with", h.FQDN)
	}
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
	return &RabbitAPI{Endpoint: "https://" + net.JoinHostPort(h.FQDN, port), User: RabbitUser, Pass: pass,
		HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// The platform's RabbitMQ vhost and user: internal/roles/rabbitmq's VHost and User (a test
// keeps them equal). Not imported: that package drives Linux processes, and `cso check`
// reads backups on any operating system.
const (
	RabbitVHost = "ssp"
	RabbitUser  = "ssp_user"
)

// RabbitAPI talks to one RabbitMQ node's management API.
type RabbitAPI struct {
	Endpoint string // https://host:port
	User     string
	Pass     string
	HTTP     *http.Client
}

// Get fetches path and decodes the JSON answer into v.
func (c *RabbitAPI) Get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.User, c.Pass)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", c.Endpoint, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", c.Endpoint, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: HTTP %d: %s", c.Endpoint, path, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 300)]))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s%s: not the JSON expected: %w", c.Endpoint, path, err)
	}
	return nil
}
