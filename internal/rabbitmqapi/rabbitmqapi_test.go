package rabbitmqapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
)

// broker is a management API double over TLS with a certificate for name: it answers the
// cluster-health reads, records the declarations it is sent and refuses a wrong password.
type broker struct {
	srv      *httptest.Server
	roots    *x509.CertPool
	declared map[string]string // path -> body
	alarms   bool
}

func newBroker(t *testing.T, name string) *broker {
	t.Helper()
	ca := checktest.ValidCA(t)
	b := &broker{roots: x509.NewCertPool(), declared: map[string]string{}}
	b.roots.AddCert(ca.Cert)
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ValidLeaf(name)}}
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *broker) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, _ := r.BasicAuth(); u != "ssp_user" || p != "pw" {
		http.Error(w, `{"error":"not_authorized","reason":"Login failed"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not JSON", http.StatusUnsupportedMediaType)
			return
		}
		b.declared[r.URL.EscapedPath()] = string(body)
		w.WriteHeader(http.StatusCreated)
	case r.URL.Path == "/api/overview":
		_, _ = w.Write([]byte(`{"cluster_name":"rabbit@mq-1","rabbitmq_version":"3.13.7"}`))
	case r.URL.Path == "/api/nodes":
		_, _ = w.Write([]byte(`[{"name":"rabbit@mq-2","running":false},{"name":"rabbit@mq-1","running":true,"partitions":["rabbit@mq-3"]}]`))
	case r.URL.Path == "/api/health/checks/alarms" && b.alarms:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"failed","alarms":[{"node":"rabbit@mq-1","resource":"disk"}]}`))
	case r.URL.Path == "/api/health/checks/alarms":
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	default:
		http.NotFound(w, r)
	}
}

func TestGetSendAndErrors(t *testing.T) {
	b := newBroker(t, "127.0.0.1")
	ctx := context.Background()
	c := rabbitmqapi.New(b.srv.URL+"/", b.roots, "ssp_user", "pw")
	var ov struct {
		ClusterName string `json:"cluster_name"`
	}
	if err := c.Get(ctx, "/api/overview", &ov); err != nil || ov.ClusterName != "rabbit@mq-1" {
		t.Fatalf("overview %+v, %v", ov, err)
	}
	if err := c.Send(ctx, http.MethodPut, "/api/queues/ssp/q%2F1", map[string]any{"durable": true}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(b.declared["/api/queues/ssp/q%2F1"]), &got); err != nil || got["durable"] != true {
		t.Fatalf("declared %v (%v)", b.declared, err)
	}

	err := c.Get(ctx, "/api/nope", nil)
	var he *rabbitmqapi.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusNotFound || he.Method != http.MethodGet {
		t.Fatalf("missing path: %v", err)
	}
	wrong := rabbitmqapi.New(b.srv.URL, b.roots, "ssp_user", "wrong")
	err = wrong.Send(ctx, http.MethodPut, "/api/queues/ssp/x", map[string]any{})
	if !errors.As(err, &he) || he.Code != http.StatusUnauthorized || !strings.Contains(err.Error(), "PUT "+b.srv.URL+"/api/queues/ssp/x: HTTP 401 (wrong credentials") {
		t.Fatalf("wrong password: %v", err)
	}
	// Do returns the status and the body of any answer, and a transport error as is.
	if code, body, err := wrong.Do(ctx, http.MethodGet, "/api/overview", nil); code != http.StatusUnauthorized || !strings.Contains(string(body), "Login failed") || err != nil {
		t.Fatalf("Do: %d %q %v", code, body, err)
	}
	untrusted := rabbitmqapi.New(b.srv.URL, x509.NewCertPool(), "ssp_user", "pw")
	var cerr *tls.CertificateVerificationError
	if _, _, err := untrusted.Do(ctx, http.MethodGet, "/api/overview", nil); !errors.As(err, &cerr) {
		t.Fatalf("a certificate of another CA: %v", err)
	}
}

// ForHost verifies the certificate for the host's FQDN and connects to its address (the
// local target's names resolve only through its target file).
func TestForHost(t *testing.T) {
	const fqdn = "mq-1.cso.invalid"
	b := newBroker(t, fqdn)
	addr, port, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	h := inventory.Host{Name: "rabbitmq-server-1", FQDN: fqdn, Address: addr, Ports: map[string]int{inventory.PortManagement: p}}
	c := rabbitmqapi.ForHost(h, b.roots, "ssp_user", "pw")
	if c.Endpoint != "https://"+net.JoinHostPort(fqdn, port) {
		t.Errorf("endpoint %s", c.Endpoint)
	}
	b.alarms = true
	st, err := c.ClusterStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Running(); len(got) != 1 || got[0] != "rabbit@mq-1" || st.Nodes[0].Name != "rabbit@mq-1" {
		t.Errorf("running %v, nodes %+v (sorted by name)", got, st.Nodes)
	}
	err = st.Check([]string{"rabbit@mq-1", "rabbit@mq-2"})
	for _, want := range []string{"node rabbit@mq-2 is not running", "network partition: rabbit@mq-1: rabbit@mq-3", "alarms: rabbit@mq-1: disk"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v, want %q", err, want)
		}
	}
}
