// Package bench is the load tool that operators and tests share (`cso bench keystone`):
// bounded in requests and in time, aimed only at loopback or at the environment's own
// hosts, and refusing before it sends anything when the load or the target is not allowed.
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/keystoneapi"
	"github.com/cso-ssp/platform/internal/target"
)

// Bounds of a run: a load tool that could run forever, or with thousands of clients, is a
// denial of service waiting for a typo.
const (
	MaxRequests = 1_000_000
	MaxDuration = 30 * time.Minute
	MaxClients  = 256
	// MaxRate bounds a rate-limited run (--rate), requests per second across all clients.
	MaxRate = 10_000
	// RequestTimeout bounds one request (Keystone's own Apache Timeout is 60 s).
	RequestTimeout = 30 * time.Second
)

// Keystone operations the tool measures.
const (
	OpValidate = "validate" // GET /v3/auth/tokens with X-Subject-Token
	OpIssue    = "issue"    // POST /v3/auth/tokens with a password
)

// KeystoneOptions describe one run against the Keystone nodes of a target.
type KeystoneOptions struct {
	Op       string        // OpValidate or OpIssue
	Clients  int           // concurrent clients, spread over the nodes round-robin
	Requests int           // total requests across all clients (the run stops at the first bound)
	Duration time.Duration // wall-clock bound of the run
	// Rate limits the run to this many requests per second across all clients, evenly
	// spaced (a steady load such as the LLD's production rate); 0 sends as fast as the
	// clients are answered.
	Rate float64
	// Credentials of the password authentication (validation also needs them for its tokens).
	User, Project, Domain, Password string
	// RetryOtherNode: a request that fails with a transport error or a 5xx is sent again,
	// once, to the next node, as a client behind the load balancer sees a node going away
	// (the rolling-restart test). Only the retry's answer counts; Result.Retried says how
	// many there were.
	RetryOtherNode bool
	// Observe, when set, is called after every finished request (from the clients'
	// goroutines, concurrently): the fault tests place each failure in time with it.
	Observe func(Sample)
}

// Sample is one finished request: when it started, how long it took, on which node and
// how it ended.
type Sample struct {
	Node     string
	Start    time.Time
	Duration time.Duration
	Status   string // the HTTP status code, or "error" for a transport error
	OK       bool
	Detail   string // what went wrong, when not OK
}

// Validate refuses options without bounds or without a credential: the error says which
// flag, and nothing has been sent.
func (o KeystoneOptions) Validate() error {
	var errs []error
	if o.Op != OpValidate && o.Op != OpIssue {
		errs = append(errs, fmt.Errorf("operation %q: use %s or %s", o.Op, OpValidate, OpIssue))
	}
	if o.Clients < 1 || o.Clients > MaxClients {
		errs = append(errs, fmt.Errorf("clients %d: between 1 and %d", o.Clients, MaxClients))
	}
	if o.Requests < 1 || o.Requests > MaxRequests {
		errs = append(errs, fmt.Errorf("requests %d: between 1 and %d (a run is bounded in count)", o.Requests, MaxRequests))
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: more than 0 and at most %s (a run is bounded in time)", o.Duration, MaxDuration))
	}
	if o.Rate < 0 || o.Rate > MaxRate {
		errs = append(errs, fmt.Errorf("rate %g: between 0 (unlimited) and %d requests per second", o.Rate, MaxRate))
	}
	if o.User == "" || o.Project == "" || o.Domain == "" {
		errs = append(errs, errors.New("user, project and domain must be named"))
	}
	if o.Password == "" {
		errs = append(errs, fmt.Errorf("no password for Keystone user %q", o.User))
	}
	return errors.Join(errs...)
}

// Node is one Keystone node the tool sends to.
type Node struct {
	Name string `json:"name"`
	URL  string `json:"url"` // https://<fqdn>:<port>
	// dial is where connections go: the host's loopback address, or its FQDN.
	dial string
	fqdn string
}

// KeystoneNodes returns the Keystone nodes of t, refusing any whose address is neither
// loopback (127.0.0.0/8, ::1) nor the node's own name in the environment's private zone
// (<host>.<env>.<suffix>, resolved by the environment's DNS). A target description that
// points elsewhere is refused whole: nothing is sent to any node.
func KeystoneNodes(t *target.Target) ([]Node, error) {
	return nodesOf(t, envfile.RoleKeystone, inventory.PortKeystone, "https", "Keystone")
}

// nodesOf returns the hosts of role in t as nodes at scheme://<fqdn>:<port>, dialled at
// the address allowedAddress permits; any host refused refuses the whole target.
func nodesOf(t *target.Target, role envfile.Role, port, scheme, what string) ([]Node, error) {
	var nodes []Node
	var errs []error
	for _, h := range inventory.ByRole(t.Hosts, role) {
		p := h.Ports[port]
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s node %s: no valid %s port", role, h.Name, port))
			continue
		}
		dial, err := allowedAddress(t.Env, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u := fmt.Sprintf("%s://%s:%d", scheme, h.FQDN, p)
		if scheme == "amqps" {
			u += "/"
		}
		nodes = append(nodes, Node{Name: h.Name, URL: u, dial: net.JoinHostPort(dial, strconv.Itoa(p)), fqdn: h.FQDN})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("the target description of %s has no %s node", t.Env, what)
	}
	return nodes, nil
}

// allowedAddress is where host h may be reached: its address when that is loopback, else
// its FQDN when that is the host's own name in environment env's zone.
func allowedAddress(env string, h inventory.Host) (string, error) {
	if h.Address != "" {
		ip := net.ParseIP(h.Address)
		if ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("%s node %s: address %q is not loopback (127.0.0.0/8, ::1): the load tool sends only to loopback or to the environment's own hosts", h.Role, h.Name, h.Address)
		}
		return ip.String(), nil
	}
	fqdn := strings.ToLower(strings.TrimSuffix(h.FQDN, "."))
	prefix := strings.ToLower(h.Name) + "." + strings.ToLower(env) + "."
	if env == "" || h.Name == "" || !strings.HasPrefix(fqdn, prefix) || len(fqdn) == len(prefix) || net.ParseIP(fqdn) != nil {
		return "", fmt.Errorf("%s node %s: name %q is not the host's own name in environment %s's zone (%s<suffix>): the load tool sends only to loopback or to the environment's own hosts", h.Role, h.Name, h.FQDN, env, prefix)
	}
	return fqdn, nil
}

// Result is what a run measured. Latencies are of completed requests, in milliseconds.
type Result struct {
	Op         string         `json:"operation"`
	Nodes      []string       `json:"nodes"`
	Clients    int            `json:"clients"`
	Limit      int            `json:"request_limit"`
	RateLimit  float64        `json:"rate_limit_per_second,omitempty"` // --rate; 0 = unlimited
	Sent       int            `json:"sent"`                            // requests started
	OK         int            `json:"ok"`                              // answered as expected (200 validate, 201 issue)
	Failed     int            `json:"failed"`                          // another status, or a transport error
	Unfinished int            `json:"unfinished"`                      // cut off by the duration bound
	ByStatus   map[string]int `json:"by_status"`                       // "200", "404", "error" ...
	PerNode    map[string]int `json:"per_node"`                        // requests started per node
	Retried    int            `json:"retried"`                         // requests sent again to another node (RetryOtherNode)
	Seconds    float64        `json:"-"`
	DurationMS float64        `json:"duration_ms"`           // wall-clock time of the run
	PerSec     float64        `json:"throughput_per_second"` // OK answers per second
	P50        float64        `json:"p50_ms"`
	P95        float64        `json:"p95_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	// FirstError is one failure's detail, to say what went wrong.
	FirstError string `json:"first_error,omitempty"`
}

// Keystone runs o against nodes of t: every client sends its share of o.Requests to one
// node (client i to node i mod n), so load is spread evenly over every node, and each
// validation presents a token issued by another node when there is one, as the portal's
// services behind the load balancer would. It stops after o.Requests requests or
// o.Duration, whichever comes first.
func Keystone(ctx context.Context, t *target.Target, nodes []Node, o KeystoneOptions) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	client, err := newClient(t, nodes, o.Clients)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	r := &keystoneRun{o: o, nodes: nodes, client: client, body: keystoneapi.PasswordAuthBody(o.credentials()),
		perNode: make([]atomic.Int64, len(nodes)),
		res:     &Result{Op: o.Op, Clients: o.Clients, Limit: o.Requests, RateLimit: o.Rate, ByStatus: map[string]int{}, PerNode: map[string]int{}}}
	if o.Op == OpValidate {
		if r.tokens, err = r.issueTokensToValidate(ctx); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	for _, n := range nodes {
		r.res.Nodes = append(r.res.Nodes, n.Name)
	}
	begin := time.Now()
	permits := ratePermits(runCtx, o.Rate)
	var wg sync.WaitGroup
	for c := range o.Clients {
		// Each client has its share of the count bound, so the nodes get equal shares
		// whatever their speed: a slow node is measured, not bypassed.
		quota := o.Requests / o.Clients
		if c < o.Requests%o.Clients {
			quota++
		}
		wg.Go(func() { r.runClient(runCtx, c%len(nodes), quota, permits) })
	}
	wg.Wait()
	r.summarize(time.Since(begin))
	return r.res, nil
}

// keystoneRun is the shared state of one Keystone run.
type keystoneRun struct {
	o       KeystoneOptions
	nodes   []Node
	client  *http.Client
	body    []byte   // the password authentication, built once
	tokens  []string // per node, for validations: its own token
	perNode []atomic.Int64

	mu  sync.Mutex
	lat []time.Duration
	res *Result
}

// issueTokensToValidate gets one token per node, to authenticate (X-Auth-Token) and to
// validate (X-Subject-Token, the next node's).
func (r *keystoneRun) issueTokensToValidate(ctx context.Context) ([]string, error) {
	tokens := make([]string, len(r.nodes))
	for i, n := range r.nodes {
		sctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		tok, _, err := keystoneapi.Client{HTTP: r.client, URLs: []string{n.URL}}.Issue(sctx, r.o.credentials())
		cancel()
		if err != nil {
			return nil, fmt.Errorf("a token to validate from %s: %w", n.Name, err)
		}
		tokens[i] = tok
	}
	return tokens, nil
}

// ratePermits hands out one permit per interval of a rate-limited run until ctx ends (nil:
// no limit); clients wait for one before each request. A permit not taken in time is not
// saved up: no bursts after a stall.
func ratePermits(ctx context.Context, rate float64) <-chan struct{} {
	if rate <= 0 {
		return nil
	}
	permits := make(chan struct{})
	interval := time.Duration(float64(time.Second) / rate)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case permits <- struct{}{}:
				default:
				}
			}
		}
	}()
	return permits
}

// runClient sends quota requests to node ni, each after a permit when the run is
// rate-limited, until ctx ends.
func (r *keystoneRun) runClient(ctx context.Context, ni, quota int, permits <-chan struct{}) {
	for range quota {
		if permits != nil {
			select {
			case <-ctx.Done():
				return
			case <-permits:
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.measureOne(ctx, ni)
	}
}

// measureOne sends one request to node ni (again to the next node after a failure, with
// RetryOtherNode) and records its outcome and latency.
func (r *keystoneRun) measureOne(ctx context.Context, ni int) {
	node := r.nodes[ni]
	want := http.StatusOK
	if r.o.Op == OpIssue {
		want = http.StatusCreated
	}
	t0 := time.Now()
	resp, err := r.send(ctx, ni)
	if r.o.RetryOtherNode && len(r.nodes) > 1 && ctx.Err() == nil && (err != nil || resp.StatusCode >= 500) {
		node = r.nodes[(ni+1)%len(r.nodes)]
		r.mu.Lock()
		r.res.Retried++
		r.mu.Unlock()
		resp, err = r.send(ctx, (ni+1)%len(r.nodes))
	}
	d := time.Since(t0)
	s := Sample{Node: node.Name, Start: t0, Duration: d}
	switch {
	case err != nil && ctx.Err() != nil:
		r.record(d, "", false, "", true) // the duration bound cut it off
		return
	case err != nil:
		s.Status, s.Detail = "error", fmt.Sprintf("%s: %v", node.Name, err)
	default:
		s.Status, s.OK = strconv.Itoa(resp.StatusCode), resp.StatusCode == want
		if !s.OK {
			s.Detail = fmt.Sprintf("%s answered HTTP %d, want %d", node.Name, resp.StatusCode, want)
		}
	}
	r.record(d, s.Status, s.OK, s.Detail, false)
	if r.o.Observe != nil {
		r.o.Observe(s)
	}
}

// send sends the run's request to node ni and reads the answer to its end.
func (r *keystoneRun) send(ctx context.Context, ni int) (*http.Response, error) {
	node := r.nodes[ni]
	r.perNode[ni].Add(1)
	var req *http.Request
	if r.o.Op == OpValidate {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, node.URL+"/v3/auth/tokens", nil)
		req.Header.Set("X-Auth-Token", r.tokens[ni])
		req.Header.Set("X-Subject-Token", r.tokens[(ni+1)%len(r.nodes)])
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, node.URL+"/v3/auth/tokens", bytes.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// record counts one request: cut off by the duration bound (not measured), or its latency
// and status.
func (r *keystoneRun) record(d time.Duration, key string, ok bool, detail string, cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cut {
		r.res.Unfinished++
		return
	}
	r.lat = append(r.lat, d)
	r.res.ByStatus[key]++
	if ok {
		r.res.OK++
		return
	}
	r.res.Failed++
	if r.res.FirstError == "" {
		r.res.FirstError = detail
	}
}

// summarize fills the result's counts, rate and latency percentiles after the run.
func (r *keystoneRun) summarize(elapsed time.Duration) {
	res := r.res
	res.Sent = res.OK + res.Failed + res.Unfinished
	for i, n := range r.nodes {
		res.PerNode[n.Name] = int(r.perNode[i].Load())
	}
	res.Seconds = elapsed.Seconds()
	res.DurationMS = float64(elapsed.Microseconds()) / 1000
	if res.Seconds > 0 {
		res.PerSec = float64(res.OK) / res.Seconds
	}
	slices.Sort(r.lat)
	res.P50, res.P95, res.P99 = ms(percentile(r.lat, 50)), ms(percentile(r.lat, 95)), ms(percentile(r.lat, 99))
	if len(r.lat) > 0 {
		res.Max = ms(r.lat[len(r.lat)-1])
	}
}

// percentile is the nearest-rank percentile p of sorted durations (0 when there are none).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(0, min(rank, len(sorted))-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// newClient is an HTTPS client that trusts only the environment's CA, verifies each node's
// certificate for its FQDN and dials the node's allowed address; at most one idle
// connection per client and node.
func newClient(t *target.Target, nodes []Node, clients int) (*http.Client, error) {
	pem, err := t.CACertPEM()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("the target description's CA certificate holds no PEM certificate")
	}
	dial := map[string]string{}
	for _, n := range nodes {
		_, port, _ := net.SplitHostPort(n.dial)
		dial[net.JoinHostPort(strings.ToLower(n.fqdn), port)] = n.dial
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := dial[strings.ToLower(addr)]
			if !ok {
				return nil, fmt.Errorf("%s is not a Keystone node of the target", addr) // never reached: URLs are the nodes'
			}
			return d.DialContext(ctx, network, to)
		},
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// credentials are the password authentication of o.
func (o KeystoneOptions) credentials() keystoneapi.Credentials {
	return keystoneapi.Credentials{User: o.User, Password: o.Password, Domain: o.Domain, Project: o.Project}
}

// WriteText prints r for an operator.
func (r *Result) WriteText(w io.Writer) error {
	codes := make([]string, 0, len(r.ByStatus))
	for k := range r.ByStatus {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	var status []string
	for _, k := range codes {
		status = append(status, fmt.Sprintf("%s=%d", k, r.ByStatus[k]))
	}
	var per []string
	for _, n := range r.Nodes {
		per = append(per, fmt.Sprintf("%s=%d", n, r.PerNode[n]))
	}
	rate := ""
	if r.RateLimit > 0 {
		rate = fmt.Sprintf(", limited to %g/s", r.RateLimit)
	}
	_, err := fmt.Fprintf(w, `keystone %s: %d clients over %s%s
requests   %d sent (limit %d): %d ok, %d failed, %d cut off by the duration bound
by status  %s
per node   %s
duration   %.2f s
throughput %.1f/s
latency    p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms
`, r.Op, r.Clients, strings.Join(r.Nodes, ", "), rate, r.Sent, r.Limit, r.OK, r.Failed, r.Unfinished,
		strings.Join(status, " "), strings.Join(per, " "), r.Seconds, r.PerSec, r.P50, r.P95, r.P99, r.Max)
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "first error %s\n", r.FirstError)
	}
	return err
}
