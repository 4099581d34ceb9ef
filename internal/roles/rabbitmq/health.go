package rabbitmq

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Health of a RabbitMQ cluster, read over the management API with TLS verified against the
// project CA. `cso check`, the admin dashboard and the tests use these functions; they need
// a user with the monitoring (or administrator) tag: ssp_user has it.

// NodeStatus is one cluster member as GET /api/nodes reports it.
type NodeStatus struct {
	Name          string   `json:"name"`
	Running       bool     `json:"running"`
	Partitions    []string `json:"partitions"`
	MemAlarm      bool     `json:"mem_alarm"`
	DiskFreeAlarm bool     `json:"disk_free_alarm"`
	Uptime        int64    `json:"uptime"` // milliseconds
}

// Status is the cluster as one node's management API sees it.
type Status struct {
	ClusterName     string       `json:"cluster_name"`
	RabbitMQVersion string       `json:"rabbitmq_version"`
	Nodes           []NodeStatus `json:"nodes"`
	// Alarms lists resource alarms in effect anywhere in the cluster ("node: memory").
	Alarms []string `json:"alarms,omitempty"`
}

// Running returns the names of the running nodes, sorted.
func (s *Status) Running() []string {
	var out []string
	for _, n := range s.Nodes {
		if n.Running {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Partitioned returns "node: peers" for every node that reports a network partition.
func (s *Status) Partitioned() []string {
	var out []string
	for _, n := range s.Nodes {
		if len(n.Partitions) > 0 {
			out = append(out, n.Name+": "+strings.Join(n.Partitions, ","))
		}
	}
	return out
}

// Check returns nil when every node of want runs, no node reports a partition and no
// alarm is in effect; else an error that says which.
func (s *Status) Check(want []string) error {
	var problems []string
	running := map[string]bool{}
	for _, n := range s.Running() {
		running[n] = true
	}
	for _, w := range want {
		if !running[w] {
			problems = append(problems, "node "+w+" is not running in the cluster")
		}
	}
	if p := s.Partitioned(); len(p) > 0 {
		problems = append(problems, "network partition: "+strings.Join(p, "; "))
	}
	if len(s.Alarms) > 0 {
		problems = append(problems, "alarms: "+strings.Join(s.Alarms, "; "))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Client talks to one node's management API over TLS.
type Client struct {
	Endpoint string // https://host:port
	User     string
	Pass     string
	HTTP     *http.Client
}

// NewClient returns a client for endpoint (https://host:15671) that trusts only roots.
func NewClient(endpoint string, roots *x509.CertPool, user, pass string) *Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), User: user, Pass: pass,
		HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// Get fetches path (e.g. /api/overview) and decodes the JSON answer into v (if not nil).
func (c *Client) Get(ctx context.Context, path string, v any) error {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", c.Endpoint, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{URL: c.Endpoint + path, Code: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s%s: not the JSON expected: %w", c.Endpoint, path, err)
	}
	return nil
}

// HTTPError is a non-200 answer of the management API.
type HTTPError struct {
	URL  string
	Code int
	Body string
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
	return fmt.Sprintf("GET %s: HTTP %d%s: %s", e.URL, e.Code, hint, b)
}

// ClusterStatus reads the cluster's nodes, partitions and alarms from the management API
// at endpoint (https://host:port), trusting only roots.
func ClusterStatus(ctx context.Context, endpoint string, roots *x509.CertPool, user, pass string) (*Status, error) {
	return NewClient(endpoint, roots, user, pass).ClusterStatus(ctx)
}

// ClusterStatus reads GET /api/overview, /api/nodes and /api/health/checks/alarms.
func (c *Client) ClusterStatus(ctx context.Context) (*Status, error) {
	var ov struct {
		ClusterName     string `json:"cluster_name"`
		RabbitMQVersion string `json:"rabbitmq_version"`
	}
	if err := c.Get(ctx, "/api/overview", &ov); err != nil {
		return nil, err
	}
	st := &Status{ClusterName: ov.ClusterName, RabbitMQVersion: ov.RabbitMQVersion}
	if err := c.Get(ctx, "/api/nodes", &st.Nodes); err != nil {
		return nil, err
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	// The alarms health check answers 503 with the alarms when there are any.
	var alarms struct {
		Status string `json:"status"`
		Alarms []struct {
			Node     string `json:"node"`
			Resource string `json:"resource"`
		} `json:"alarms"`
	}
	err := c.Get(ctx, "/api/health/checks/alarms", &alarms)
	var he *HTTPError
	switch {
	case err == nil:
	case errors.As(err, &he) && he.Code == http.StatusServiceUnavailable:
		if json.Unmarshal([]byte(he.Body), &alarms) != nil || len(alarms.Alarms) == 0 {
			st.Alarms = append(st.Alarms, he.Body)
		}
	default:
		return nil, err
	}
	for _, a := range alarms.Alarms {
		st.Alarms = append(st.Alarms, a.Node+": "+a.Resource)
	}
	for _, n := range st.Nodes {
		if n.MemAlarm {
			st.Alarms = appendUnique(st.Alarms, n.Name+": memory")
		}
		if n.DiskFreeAlarm {
			st.Alarms = appendUnique(st.Alarms, n.Name+": disk")
		}
	}
	return st, nil
}

func appendUnique(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// Queue is what the management API says about one queue.
type Queue struct {
	Name   string   `json:"name"`
	VHost  string   `json:"vhost"`
	Type   string   `json:"type"` // classic, quorum, stream
	Node   string   `json:"node"`
	Leader string   `json:"leader"`
	Online []string `json:"online"`
	// Members are the nodes that hold a replica of a quorum queue.
	Members  []string `json:"members"`
	Messages int      `json:"messages"`
}

// Queue reads GET /api/queues/<vhost>/<name>.
func (c *Client) Queue(ctx context.Context, vhost, name string) (*Queue, error) {
	var q Queue
	err := c.Get(ctx, "/api/queues/"+url.PathEscape(vhost)+"/"+url.PathEscape(name), &q)
	if err != nil {
		return nil, err
	}
	return &q, nil
}

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
