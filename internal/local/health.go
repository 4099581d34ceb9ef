package local

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
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/pki"
)

// HealthRow is one probe of the end-of-up health table.
type HealthRow struct {
	Check   string        `json:"check"`
	Target  string        `json:"target"`
	OK      bool          `json:"ok"`
	Detail  string        `json:"detail"`
	Latency time.Duration `json:"-"`
	order   int
}

// MarshalJSON gives the latency in milliseconds (internal/jsondur).
func (h HealthRow) MarshalJSON() ([]byte, error) {
	type plain HealthRow
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(h), jsondur.Millis(h.Latency)})
}

// HealthTimeout bounds each probe.
const HealthTimeout = 15 * time.Second

// Health runs the simple probes of the local target side by side: the database logins,
// TLS handshakes verified against the project CA, /v3 at / and /api/idm plus a token on
// every Keystone and the cross-node validation, the AMQPS handshake on every RabbitMQ
// node and nginx's /health, which nginx answers itself, with or without an application
// package. It probes no application port: those exist only with a package, and `cso check`
// (the full set) reports them skipped when the hosts' status documents say none is set.
func Health(ctx context.Context, l Layout, env *envfile.Env, hosts []inventory.Host, portBase int) []HealthRow {
	type probe struct {
		check, target string
		run           func(ctx context.Context) (string, error)
	}
	var probes []probe
	secrets := l.Secrets()
	caPEM, caErr := os.ReadFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	var roots *x509.CertPool
	if caErr == nil {
		roots, caErr = pki.Pool(caPEM)
	}
	tlsConf := func(h inventory.Host) (*tls.Config, error) {
		if caErr != nil {
			return nil, fmt.Errorf("project CA: %w", caErr)
		}
		return &tls.Config{RootCAs: roots, ServerName: h.FQDN, MinVersion: tls.VersionTLS12}, nil
	}
	for _, u := range []struct{ user, secret string }{{"keystone", agent.SecretKeystoneDB}, {"cso_user", agent.SecretPortalDB}} {
		probes = append(probes, probe{"mysql login", u.user + "@" + MySQLAddr(portBase), func(ctx context.Context) (string, error) {
			pw, ok, err := secrets.Lookup(ctx, u.secret)
			if err != nil || !ok {
				return "", errors.Join(errors.New("no secret"), err)
			}
			return "logged in", agent.MySQLLogin(ctx, l.MySQLServer(portBase), u.user, pw)
		}})
	}
	var keystones []inventory.Host
	for _, h := range hosts {
		switch h.Role {
		case envfile.RoleKeystone:
			keystones = append(keystones, h)
			port := h.Ports[inventory.PortKeystone]
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			probes = append(probes, probe{"tls", fmt.Sprintf("%s:%d", h.Name, port), func(ctx context.Context) (string, error) {
				return tlsHandshake(ctx, addr, tlsConf, h)
			}})
			for _, path := range []string{"/v3", "/api/idm/v3"} {
				probes = append(probes, probe{"keystone GET " + path, fmt.Sprintf("%s:%d", h.Name, port), func(ctx context.Context) (string, error) {
					c, err := keystoneClient(tlsConf, h)
					if err != nil {
						return "", err
					}
					return keystoneVersion(ctx, c, fmt.Sprintf("https://%s:%d%s", h.FQDN, port, path))
				}})
			}
		case envfile.RoleRabbitMQ:
			if p, ok := h.Ports[inventory.PortAMQPS]; ok {
				addr := fmt.Sprintf("127.0.0.1:%d", p)
				probes = append(probes, probe{"amqps handshake", fmt.Sprintf("%s:%d", h.Name, p), func(ctx context.Context) (string, error) {
					return amqpsHandshake(ctx, addr, tlsConf, h)
				}})
			}
			if p, ok := h.Ports[inventory.PortManagement]; ok {
				addr := fmt.Sprintf("127.0.0.1:%d", p)
				probes = append(probes, probe{"tls", fmt.Sprintf("%s:%d", h.Name, p), func(ctx context.Context) (string, error) {
					return tlsHandshake(ctx, addr, tlsConf, h)
				}})
			}
		case envfile.RoleFrontend:
			if p, ok := h.Ports[inventory.PortNginx]; ok {
				probes = append(probes, probe{"nginx GET /health", fmt.Sprintf("%s:%d", h.Name, p), func(ctx context.Context) (string, error) {
					return httpGet(ctx, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/health", p))
				}})
			}
		}
	}
	if len(keystones) > 0 {
		probes = append(probes, probe{"keystone tokens", "issue on each, validate on every other", func(ctx context.Context) (string, error) {
			return keystoneCross(ctx, secrets, keystones, tlsConf)
		}})
	}
	rows := make([]HealthRow, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, HealthTimeout)
			defer cancel()
			start := time.Now()
			detail, err := p.run(pctx)
			rows[i] = HealthRow{Check: p.check, Target: p.target, OK: err == nil, Detail: detail, Latency: time.Since(start), order: i}
			if err != nil {
				rows[i].Detail = err.Error()
			}
		}()
	}
	wg.Wait()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].order < rows[j].order })
	return rows
}

// WriteHealth prints the health table.
func WriteHealth(w io.Writer, rows []HealthRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tTARGET\tLATENCY\tDETAIL")
	for _, r := range rows {
		st := "ok"
		if !r.OK {
			st = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st, r.Check, r.Target, r.Latency.Round(time.Millisecond), oneLine(r.Detail))
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = string(bytes.ReplaceAll([]byte(s), []byte("\n"), []byte(" | ")))
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func tlsHandshake(ctx context.Context, addr string, conf func(inventory.Host) (*tls.Config, error), h inventory.Host) (string, error) {
	c, err := conf(h)
	if err != nil {
		return "", err
	}
	d := tls.Dialer{Config: c}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	return fmt.Sprintf("%s %s, verified for %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), h.FQDN), nil
}

// amqpsHandshake opens TLS and sends the AMQP 0-9-1 protocol header: a broker answers with a
// method frame (connection.start).
func amqpsHandshake(ctx context.Context, addr string, conf func(inventory.Host) (*tls.Config, error), h inventory.Host) (string, error) {
	c, err := conf(h)
	if err != nil {
		return "", err
	}
	d := tls.Dialer{Config: c}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return "", err
	}
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return "", fmt.Errorf("no AMQP answer: %w", err)
	}
	if hdr[0] != 1 {
		return "", fmt.Errorf("unexpected AMQP frame type %d", hdr[0])
	}
	return "TLS verified, connection.start received", nil
}

func keystoneClient(conf func(inventory.Host) (*tls.Config, error), h inventory.Host) (*http.Client, error) {
	c, err := conf(h)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", h.Ports[inventory.PortKeystone])
	tr := &http.Transport{
		TLSClientConfig: c,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr}, nil
}

func httpGet(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Status, nil
}

func keystoneVersion(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var doc struct {
		Version struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"version"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("GET %s: not a Keystone version document: %w", url, err)
	}
	return fmt.Sprintf("%s %s", doc.Version.ID, doc.Version.Status), nil
}

// IssueToken asks Keystone at base (https://host:port) for a project-scoped admin token.
func IssueToken(ctx context.Context, c *http.Client, base, password string) (string, error) {
	return IssueTokenAs(ctx, c, base, "admin", password)
}

// IssueTokenAs asks Keystone at base for a token of user (domain Default) scoped to project
// admin.
func IssueTokenAs(ctx context.Context, c *http.Client, base, user, password string) (string, error) {
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "domain": map[string]string{"id": "default"}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}}},
	}}
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/auth/tokens", bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s/v3/auth/tokens: %s", base, resp.Status)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", errors.New("no X-Subject-Token in the answer")
	}
	return tok, nil
}

// ValidateToken validates subject on Keystone at base, authenticated with own (a token of
// that node): 200 means the node's key set can read the subject token.
func ValidateToken(ctx context.Context, c *http.Client, base, own, subject string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v3/auth/tokens", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", own)
	req.Header.Set("X-Subject-Token", subject)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/v3/auth/tokens: %s", base, resp.Status)
	}
	return nil
}

func keystoneCross(ctx context.Context, secrets *agent.LocalSecrets, ks []inventory.Host, conf func(inventory.Host) (*tls.Config, error)) (string, error) {
	// The automation identity, which failed sign-ins as admin cannot lock out.
	pw, ok, err := secrets.Lookup(ctx, agent.SecretKeystoneAutomation)
	if err != nil || !ok {
		return "", errors.Join(errors.New("no keystone automation secret"), err)
	}
	tokens := make([]string, len(ks))
	clients := make([]*http.Client, len(ks))
	bases := make([]string, len(ks))
	errs := make([]error, len(ks))
	var wg sync.WaitGroup
	for i, h := range ks {
		if clients[i], err = keystoneClient(conf, h); err != nil {
			return "", err
		}
		bases[i] = fmt.Sprintf("https://%s:%d", h.FQDN, h.Ports[inventory.PortKeystone])
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tokens[i], errs[i] = IssueTokenAs(ctx, clients[i], bases[i], agent.KeystoneAutomationUser, pw); errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", h.Name, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	n := 0
	for i := range ks {
		for j := range ks {
			if i == j {
				continue
			}
			if err := ValidateToken(ctx, clients[j], bases[j], tokens[j], tokens[i]); err != nil {
				return "", fmt.Errorf("token of %s on %s: %w", ks[i].Name, ks[j].Name, err)
			}
			n++
		}
	}
	if len(ks) == 1 {
		return "token issued on " + ks[0].Name, nil
	}
	return fmt.Sprintf("%d tokens issued, %d cross-validations passed", len(ks), n), nil
}
