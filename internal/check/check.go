// Package check is the health-probe engine behind `cso check` and the admin dashboard: it
// turns a running environment's description (internal/target) into probes (TCP, TLS,
// certificates, HTTP, the Keystone and RabbitMQ clusters, MySQL users, the shared store and
// each host's setup status), runs them all in parallel, each under its own timeout, and
// renders the results as a table or JSON.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cso-ssp/platform/internal/jsondur"
)

// Status of one result.
type Status string

// Statuses, from best to worst. Skip is a probe of something the environment does not
// install (e.g. the application services without an application package): it is neither
// healthy nor broken, and never makes a run warn or fail.
const (
	OK   Status = "ok"
	Skip Status = "skip"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Rank orders statuses for display, best first: ok, skip, warn, fail (an unknown status
// ranks as fail).
func (s Status) Rank() int {
	switch s {
	case OK:
		return 0
	case Skip:
		return 1
	case Warn:
		return 2
	}
	return 3
}

// Worse returns the worse of a and b for a summary: a skip never raises the worst status
// above ok.
func Worse(a, b Status) Status {
	if b != Skip && b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Groups sort results into the dashboard's panels.
const (
	GroupService  = "service"  // TCP, TLS and HTTP of a host's ports
	GroupCert     = "cert"     // certificate validity and days to expiry
	GroupKeystone = "keystone" // Keystone cluster: tokens, cross-validation, fernet keys
	GroupRabbitMQ = "rabbitmq" // RabbitMQ cluster: nodes, partitions, alarms, quorum
	GroupMySQL    = "mysql"    // database users
	GroupHost     = "host"     // shared store and agent setup status
)

// Result is the outcome of one probe.
type Result struct {
	Check   string        `json:"check"`  // e.g. "tls", "keystone token"
	Target  string        `json:"target"` // e.g. "keystone01:5000"
	Status  Status        `json:"status"`
	Latency time.Duration `json:"-"`
	Detail  string        `json:"detail"`
	Group   string        `json:"group"`
	Host    string        `json:"host,omitempty"` // the host the probe is about, if one
	// NotAfter is the end of validity of the certificate a cert probe looked at.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Cert describes that certificate (cert probes only): what `cso certs` lists.
	Cert *CertInfo `json:"cert,omitempty"`
}

// CertInfo is what a cert probe read from a certificate.
type CertInfo struct {
	Subject   string    `json:"subject"`
	SANs      []string  `json:"sans,omitempty"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// DaysLeft is whole days until NotAfter, negative once expired.
	DaysLeft int `json:"days_left"`
}

// MarshalJSON adds the latency in milliseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(r), jsondur.Millis(r.Latency)})
}

// Outcome is what a probe function returns.
type Outcome struct {
	Status   Status
	Detail   string
	NotAfter time.Time
	Cert     *CertInfo
}

func ok(format string, a ...any) Outcome {
	return Outcome{Status: OK, Detail: fmt.Sprintf(format, a...)}
}
func warn(format string, a ...any) Outcome {
	return Outcome{Status: Warn, Detail: fmt.Sprintf(format, a...)}
}
func fail(format string, a ...any) Outcome {
	return Outcome{Status: Fail, Detail: fmt.Sprintf(format, a...)}
}
func skip(format string, a ...any) Outcome {
	return Outcome{Status: Skip, Detail: fmt.Sprintf(format, a...)}
}

// Probe is one check of one target.
type Probe struct {
	Check   string
	Target  string
	Group   string
	Host    string
	Timeout time.Duration // 0: the engine's default
	Run     func(ctx context.Context) Outcome
}

// Report is the result of a whole run.
type Report struct {
	Env      string        `json:"env"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	Results  []Result      `json:"results"`
	Summary  Summary       `json:"summary"`
}

// Summary counts results by status. Worst is ok, warn or fail: skipped checks are counted
// but do not make it worse.
type Summary struct {
	OK      int    `json:"ok"`
	Warn    int    `json:"warn"`
	Fail    int    `json:"fail"`
	Skipped int    `json:"skipped"`
	Worst   Status `json:"status"`
}

// MarshalJSON adds the duration in milliseconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(r), jsondur.Millis(r.Duration)})
}

// Failed reports whether any result failed.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// Run runs every probe in parallel, each under its own timeout (defaultTimeout when the
// probe sets none), and returns the results in probe order. A probe that does not return
// when its timeout expires (one that ignores its context) is reported as failed without
// waiting for it.
func Run(ctx context.Context, probes []Probe, defaultTimeout time.Duration) *Report {
	rep := &Report{Started: time.Now(), Results: make([]Result, len(probes))}
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Results[i] = runOne(ctx, p, defaultTimeout)
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(rep.Started)
	rep.Summary = summarize(rep.Results)
	return rep
}

// Settle runs probes, then re-runs the failed ones every interval until none fails or
// window has passed. Right after a start some failures mend themselves within seconds: an
// application service re-checks its bindings once the platform account it signs in with
// exists. A probe still failing at the end of the window fails; one that recovered says so,
// so the settling stays visible.
func Settle(ctx context.Context, probes []Probe, defaultTimeout, window, interval time.Duration) *Report {
	rep := Run(ctx, probes, defaultTimeout)
	deadline := rep.Started.Add(window)
	for rep.Summary.Fail > 0 && time.Now().Add(interval).Before(deadline) {
		select {
		case <-ctx.Done():
			return rep
		case <-time.After(interval):
		}
		var again []Probe
		var at []int
		for i, r := range rep.Results {
			if r.Status == Fail {
				again, at = append(again, probes[i]), append(at, i)
			}
		}
		retry := Run(ctx, again, defaultTimeout)
		for j, i := range at {
			r := retry.Results[j]
			if r.Status != Fail {
				r.Detail += fmt.Sprintf(" (failed at first; recovered within %s)", time.Since(rep.Started).Round(time.Second))
			}
			rep.Results[i] = r
		}
		rep.Summary = summarize(rep.Results)
	}
	rep.Duration = time.Since(rep.Started)
	return rep
}

func runOne(ctx context.Context, p Probe, defaultTimeout time.Duration) Result {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	res := Result{Check: p.Check, Target: p.Target, Group: p.Group, Host: p.Host}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan Outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fail("probe crashed: %v", r)
			}
		}()
		done <- p.Run(pctx)
	}()
	var out Outcome
	select {
	case out = <-done:
	case <-pctx.Done():
		// Give a well-behaved probe a moment to report its own, more precise, error.
		select {
		case out = <-done:
		case <-time.After(50 * time.Millisecond):
			out = fail("no answer within %s", timeout)
		}
	}
	res.Latency = time.Since(start)
	if out.Status == "" {
		out.Status = Fail
	}
	if out.Status == OK && pctx.Err() != nil && ctx.Err() == nil {
		// The probe said ok but only after its deadline; keep its word but say so.
		out.Detail += fmt.Sprintf(" (after the %s timeout)", timeout)
	}
	res.Status, res.Detail, res.NotAfter, res.Cert = out.Status, out.Detail, out.NotAfter, out.Cert
	return res
}

func summarize(rs []Result) Summary {
	s := Summary{Worst: OK}
	for _, r := range rs {
		switch r.Status {
		case OK:
			s.OK++
		case Skip:
			s.Skipped++
		case Warn:
			s.Warn++
		default:
			s.Fail++
		}
		s.Worst = Worse(s.Worst, r.Status)
	}
	return s
}

// Sorted returns the results ordered by status (failures first, then warnings, skipped
// checks, ok), keeping probe order within a status; the table shows what is wrong first.
func (r *Report) Sorted() []Result {
	out := append([]Result(nil), r.Results...)
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := out[i].Status.Rank(), out[j].Status.Rank(); a != b {
			return a > b
		}
		return false
	})
	return out
}

// WriteTable renders the report as an aligned table followed by a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTARGET\tSTATUS\tLATENCY\tDETAIL")
	for _, res := range r.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.Check, res.Target, strings.ToUpper(string(res.Status)),
			formatLatency(res.Latency), oneLine(res.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s: %d ok, %d warn, %d fail, %d skipped in %s\n", strings.ToUpper(string(r.Summary.Worst)),
		r.Summary.OK, r.Summary.Warn, r.Summary.Fail, r.Summary.Skipped, r.Duration.Round(time.Millisecond))
	return err
}

// WriteShort renders what needs attention: failures and warnings one row each, skipped
// checks counted by reason, then the summary line of WriteTable. The ok results are only
// counted (WriteTable lists them).
func (r *Report) WriteShort(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := 0
	var reasons []string
	skipped := map[string][]string{}
	for _, res := range r.Sorted() {
		switch res.Status {
		case OK:
		case Skip:
			if _, seen := skipped[res.Detail]; !seen {
				reasons = append(reasons, res.Detail)
			}
			skipped[res.Detail] = append(skipped[res.Detail], res.Target)
		default:
			if rows == 0 {
				fmt.Fprintln(tw, "CHECK\tTARGET\tSTATUS\tLATENCY\tDETAIL")
			}
			rows++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.Check, res.Target, strings.ToUpper(string(res.Status)),
				formatLatency(res.Latency), oneLine(res.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rows > 0 {
		fmt.Fprintln(w)
	}
	for _, why := range reasons {
		fmt.Fprintf(w, "SKIP %d checks (%s ...): %s\n", len(skipped[why]), skipped[why][0], oneLine(why))
	}
	_, err := fmt.Fprintf(w, "%s: %d ok, %d warn, %d fail, %d skipped in %s\n", strings.ToUpper(string(r.Summary.Worst)),
		r.Summary.OK, r.Summary.Warn, r.Summary.Fail, r.Summary.Skipped, r.Duration.Round(time.Millisecond))
	return err
}

// WriteJSON renders the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}
