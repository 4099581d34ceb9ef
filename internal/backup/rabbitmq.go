package backup

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
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
func ExportRabbitMQ(ctx context.Context, c *rabbitmqapi.Client) ([]byte, error) {
	d := RabbitDefs{VHost: inventory.RabbitMQVHost}
	var vhosts []struct {
		Name string `json:"name"`
	}
	if err := c.Get(ctx, "/api/vhosts", &vhosts); err != nil {
		return nil, err
	}
	for _, v := range vhosts {
		d.VHosts = append(d.VHosts, v.Name)
	}
	vh := url.PathEscape(inventory.RabbitMQVHost)
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
func ImportRabbitMQ(ctx context.Context, c *rabbitmqapi.Client, data []byte) (int, error) {
	var d RabbitDefs
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, fmt.Errorf("%s: %w", ArtRabbitMQ, err)
	}
	if d.VHost != inventory.RabbitMQVHost {
		return 0, fmt.Errorf("%s: definitions of vhost %q, expected %q", ArtRabbitMQ, d.VHost, inventory.RabbitMQVHost)
	}
	n := 0
	send := func(method, path string, body map[string]any) error {
		n++
		return c.Send(ctx, method, path, body)
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

// RabbitClient is a management API client of node h as user ssp_user, TLS verified against
// the CA in caPEM (rabbitmqapi.ForHost).
func RabbitClient(h inventory.Host, caPEM []byte, pass string) (*rabbitmqapi.Client, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no CA certificate to verify %s with", h.FQDN)
	}
	return rabbitmqapi.ForHost(h, roots, inventory.RabbitMQUser, pass), nil
}
