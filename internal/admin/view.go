package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// View is what the dashboard shows and /admin/api/status returns.
type View struct {
	Env       string         `json:"env"`
	Kind      string         `json:"kind"`
	Generated time.Time      `json:"generated"`
	Error     string         `json:"error,omitempty"` // the target could not be read
	Summary   check.Summary  `json:"summary"`
	Duration  string         `json:"-"` // for the page; JSON: check_duration_ms
	Hosts     []HostView     `json:"hosts"`
	Keystone  []check.Result `json:"keystone"`
	RabbitMQ  []check.Result `json:"rabbitmq"`
	MySQL     []check.Result `json:"mysql"`
	Shared    []check.Result `json:"shared"`
	Certs     []CertView     `json:"certificates"`
	// OtherLogs are logs of what is not a host of the inventory (the local MariaDB).
	OtherLogs []HostLogs     `json:"other_logs,omitempty"`
	Results   []check.Result `json:"results"`
	// Queues are the RabbitMQ queues with their depths and consumers, from QueuesFrom.
	Queues      []check.Queue `json:"rabbitmq_queues"`
	QueuesFrom  string        `json:"rabbitmq_queues_from,omitempty"`
	QueuesError string        `json:"rabbitmq_queues_error,omitempty"`
	// KeySets are the shared Keystone key sets with the age of each key.
	KeySets []KeySetView `json:"keystone_key_sets"`
	// HostCharts and ClusterCharts draw the recent check runs (filled in by view).
	HostCharts    []Chart `json:"host_charts,omitempty"`
	ClusterCharts []Chart `json:"cluster_charts,omitempty"`
	// Refresh is the page's reload interval in seconds.
	Refresh int `json:"-"`
	// Deploy is the last deployment said in words; LastDeploy its JSON document, indented.
	Deploy          *DeploySummary `json:"-"`
	LastDeploy      string         `json:"-"`
	LastDeployJSON  any            `json:"last_deploy,omitempty"`
	LastDeployError string         `json:"last_deploy_error,omitempty"`
	// CheckMS is how long the checks took, in milliseconds (internal/jsondur).
	CheckMS float64 `json:"check_duration_ms"`
}

// HostView is one host: its services' results, setup progress and log tail.
type HostView struct {
	inventory.Host
	Status   check.Status   `json:"status"` // worst of its results
	Services []check.Result `json:"services"`
	Setup    *status.Host   `json:"setup,omitempty"`
	Done     int            `json:"steps_done"`
	Total    int            `json:"steps_total"`
	Logs     []LogView      `json:"logs,omitempty"`
	// Agent is the cso version the host's agent published ("" when it published none).
	Agent string `json:"agent_version,omitempty"`
}

// HostLogs are the log tails of one name of Target.Logs.
type HostLogs struct {
	Name string    `json:"name"`
	Logs []LogView `json:"logs"`
}

// LogView is the tail of one log file.
type LogView struct {
	File  string   `json:"file"`
	Lines []string `json:"lines"`
	Error string   `json:"error,omitempty"`
}

// CertView is a certificate with its days to expiry.
type CertView struct {
	Check    string       `json:"check"`
	Target   string       `json:"target"`
	Status   check.Status `json:"status"`
	Detail   string       `json:"detail"`
	NotAfter time.Time    `json:"not_after,omitzero"`
	DaysLeft int          `json:"days_left"`
}

// view returns the cached view, refreshing it when older than CacheFor; each fresh run is
// added to the history that the charts draw.
func (s *Server) view(ctx context.Context) *View {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && s.cfg.Now().Sub(s.cachedAt) < s.cfg.CacheFor {
		return s.cached
	}
	v := s.build(ctx)
	if v.Error == "" {
		s.history.add(sampleOf(v))
	}
	v.HostCharts, v.ClusterCharts = s.history.charts(v.Hosts)
	v.Refresh = int(s.cfg.Refresh / time.Second)
	s.cached, s.cachedAt = v, s.cfg.Now()
	return v
}

func (s *Server) build(ctx context.Context) *View {
	now := s.cfg.Now()
	t, err := s.cfg.loadTarget()
	if err != nil {
		return &View{Generated: now, Error: err.Error(), Summary: check.Summary{Worst: check.Fail, Fail: 1}}
	}
	checker := check.New(t, check.Options{Timeout: s.cfg.CheckTimeout, Now: s.cfg.Now})
	// The queue listing runs beside the probes: a node that does not answer costs its
	// timeout once, not on top of the run.
	qc := make(chan queueListing, 1)
	go func() {
		qs, from, err := checker.RabbitQueues(context.WithoutCancel(ctx))
		qc <- queueListing{qs, from, err}
	}()
	rep := checker.Run(context.WithoutCancel(ctx))
	v := &View{Env: t.Env, Kind: t.Kind, Generated: now, Summary: rep.Summary, Results: rep.Results,
		Duration: rep.Duration.Round(time.Millisecond).String(), CheckMS: jsondur.Millis(rep.Duration)}
	byHost := v.groupResults(rep.Results, now)
	store := checker.StatusStore()
	for _, h := range t.Hosts {
		v.Hosts = append(v.Hosts, s.hostView(ctx, h, rep.Results, byHost[h.Name], store, t.Logs[h.Name]))
	}
	v.OtherLogs = s.otherLogs(t)
	v.LastDeploy, v.LastDeployJSON, v.LastDeployError = lastDeploy(t)
	if v.LastDeployJSON != nil {
		v.Deploy = summarizeDeploy(v.LastDeployJSON)
	}
	if q := <-qc; q.err != nil {
		v.QueuesError = q.err.Error()
	} else {
		v.Queues, v.QueuesFrom = q.qs, q.from
	}
	v.KeySets = keySets(s.cfg.keystoneKeysDir(t), now)
	return v
}

// queueListing is checker.RabbitQueues's answer.
type queueListing struct {
	qs   []check.Queue
	from string
	err  error
}

// groupResults sorts the results into the view's panels (Keystone, RabbitMQ, MySQL,
// certificates, shared) and returns each host's service and host results.
func (v *View) groupResults(results []check.Result, now time.Time) map[string][]check.Result {
	byHost := map[string][]check.Result{}
	for _, r := range results {
		switch r.Group {
		case check.GroupKeystone:
			v.Keystone = append(v.Keystone, r)
		case check.GroupRabbitMQ:
			v.RabbitMQ = append(v.RabbitMQ, r)
		case check.GroupMySQL:
			v.MySQL = append(v.MySQL, r)
		case check.GroupCert:
			cv := CertView{Check: r.Check, Target: r.Target, Status: r.Status, Detail: r.Detail, NotAfter: r.NotAfter}
			if !r.NotAfter.IsZero() {
				cv.DaysLeft = int(r.NotAfter.Sub(now).Hours() / 24)
			}
			v.Certs = append(v.Certs, cv)
		case check.GroupHost:
			if r.Host == "" {
				v.Shared = append(v.Shared, r)
			}
		case check.GroupService:
			if r.Host == "" {
				v.MySQL = append(v.MySQL, r)
			}
		}
		if r.Host != "" && (r.Group == check.GroupService || r.Group == check.GroupHost) {
			byHost[r.Host] = append(byHost[r.Host], r)
		}
	}
	return byHost
}

// hostView is host h's panel: its worst result, its set-up progress and agent version from
// its status document (store nil: none), and the tails of its logs.
func (s *Server) hostView(ctx context.Context, h inventory.Host, results, services []check.Result, store status.Store, logs []string) HostView {
	hv := HostView{Host: h, Status: check.OK, Services: services}
	for _, r := range results {
		// A host whose application is not installed shows skip; anything worse wins.
		if r.Host == h.Name && r.Status.Rank() > hv.Status.Rank() {
			hv.Status = r.Status
		}
	}
	if store != nil {
		if st, err := store.Get(ctx, h.Name); err == nil {
			hv.Setup = &st
			if st.Agent != nil {
				hv.Agent = st.Agent.Short()
			}
			hv.Total = len(st.Steps)
			for _, step := range st.Steps {
				if step.State == status.StateDone || step.State == status.StateSkipped {
					hv.Done++
				}
			}
		}
	}
	hv.Logs = s.tails(logs)
	if len(hv.Logs) == 0 && hv.Setup != nil && len(hv.Setup.Log) > 0 {
		// On AWS the host's files are not readable from here: the agent's own newest
		// progress lines travel in its status document.
		lines := hv.Setup.Log
		if len(lines) > s.cfg.LogLines {
			lines = lines[len(lines)-s.cfg.LogLines:]
		}
		hv.Logs = []LogView{{File: "agent progress (from its status document)", Lines: lines}}
	}
	return hv
}

// otherLogs are the tails of the logs of t that belong to no host (the local target's
// shared daemons), by name.
func (s *Server) otherLogs(t *target.Target) []HostLogs {
	var others []string
	for name := range t.Logs {
		if _, isHost := inventory.Find(t.Hosts, name); !isHost {
			others = append(others, name)
		}
	}
	sort.Strings(others)
	var out []HostLogs
	for _, name := range others {
		out = append(out, HostLogs{Name: name, Logs: s.tails(t.Logs[name])})
	}
	return out
}

func (s *Server) tails(files []string) []LogView {
	var out []LogView
	for _, f := range files {
		lines, err := tail(f, s.cfg.LogLines)
		lv := LogView{File: f, Lines: lines}
		if err != nil {
			lv.Error = err.Error()
		}
		out = append(out, lv)
	}
	return out
}

// tail returns the last n lines of file, reading at most its last 64 KiB.
func tail(file string, n int) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const max = 64 << 10
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, err
	}
	if off > 0 { // the first line is cut
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

func lastDeploy(t *target.Target) (indented string, doc any, errMsg string) {
	if t.LastDeploy == "" {
		return "", nil, ""
	}
	b, err := os.ReadFile(t.LastDeploy)
	if err != nil {
		return "", nil, fmt.Sprintf("read last deployment: %v", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", nil, fmt.Sprintf("%s is not JSON: %v", t.LastDeploy, err)
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	if len(out) > 32<<10 {
		out = append(out[:32<<10], []byte("\n...")...)
	}
	return string(out), doc, ""
}

var funcs = template.FuncMap{
	"head": func(title string, refresh int) any {
		return struct {
			Title   string
			Refresh int
		}{title, refresh}
	},
	"days": func(d float64) string {
		if d < 1 {
			return fmt.Sprintf("%.0f h", d*24)
		}
		return fmt.Sprintf("%.1f d", d)
	},
	"upper": strings.ToUpper,

	"str": func(s any) string { return fmt.Sprint(s) }, // a check.Status, or a literal status

	// problem: a host panel opens for a warning or failure, not for skipped checks.
	"problem": func(s check.Status) bool { return s.Rank() > check.Skip.Rank() },
	"ms": func(d time.Duration) string {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"ports": func(h inventory.Host) string {
		names := make([]string, 0, len(h.Ports))
		for n := range h.Ports {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return h.Ports[names[i]] < h.Ports[names[j]] })
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d", n, h.Ports[n])
		}
		return strings.Join(parts, ", ")
	},
}
