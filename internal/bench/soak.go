package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cso-ssp/platform/internal/target"
)

// The soak of issue #12 (fault 6): the LLD's production rate through Keystone and a steady
// message flow through RabbitMQ for a while, every host's agent re-run every minute, and
// the memory of every daemon compared between the start and the end.
const (
	// ProductionRate is the LLD's peak API rate (9.7: 5,000 requests a minute), each of
	// which has its token validated by Keystone.
	ProductionRate = 5000.0 / 60
	// MaxSoakMessageRate bounds the message flow of a soak.
	MaxSoakMessageRate = 1000
	// soakDrain is how long the message flow may take after the soak to have its last
	// messages confirmed and delivered.
	soakDrain = 30 * time.Second
)

// SoakOptions describe one soak run.
type SoakOptions struct {
	Duration     time.Duration // at most MaxDuration
	KeystoneRate float64       // validations per second through every Keystone node
	Clients      int           // Keystone clients
	MessageRate  float64       // messages per second published with confirms (0: no RabbitMQ flow)
	AgentEvery   time.Duration // every host's agent re-runs this often (0: never)
	// Warmup passes before the memory of the daemons is first sampled: caches fill and
	// connection pools open in the first seconds of load, which is not growth.
	Warmup time.Duration
	// Tolerance is the growth of a daemon's memory that fails the soak (0.10: 10 %).
	Tolerance float64
	// Keystone credential (as KeystoneOptions) and RabbitMQ's ssp_user password.
	User, Project, Domain, Password string
	MQUser, MQVHost, MQPassword     string
	// Hosts whose agents re-run every AgentEvery; RunAgent re-runs one and says how many
	// changes it made.
	Hosts    []string
	RunAgent func(ctx context.Context, host string) (changes int, err error)
	// Daemons lists the supervised daemons of the target: name -> pid (memory is the RSS of
	// the process and its descendants, e.g. Apache's WSGI daemons).
	Daemons func() (map[string]int, error)
}

// Validate refuses a soak without bounds or without what it needs; nothing has been sent.
func (o SoakOptions) Validate() error {
	var errs []error
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: more than 0 and at most %s (a soak is bounded in time)", o.Duration, MaxDuration))
	}
	if o.KeystoneRate <= 0 || o.KeystoneRate > MaxRate {
		errs = append(errs, fmt.Errorf("keystone rate %g: more than 0 and at most %d per second", o.KeystoneRate, MaxRate))
	}
	if o.Clients < 1 || o.Clients > MaxClients {
		errs = append(errs, fmt.Errorf("clients %d: between 1 and %d", o.Clients, MaxClients))
	}
	if o.MessageRate < 0 || o.MessageRate > MaxSoakMessageRate {
		errs = append(errs, fmt.Errorf("message rate %g: between 0 and %d per second", o.MessageRate, MaxSoakMessageRate))
	}
	if o.MessageRate > 0 && o.Duration > MaxDuration-soakDrain && o.Duration <= MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: at most %s with a message flow (its last messages drain within the %s bound of a run)", o.Duration, MaxDuration-soakDrain, MaxDuration))
	}
	if o.AgentEvery < 0 || (o.AgentEvery > 0 && o.AgentEvery < 10*time.Second) {
		errs = append(errs, fmt.Errorf("agent interval %s: 0 (never) or at least 10s", o.AgentEvery))
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		errs = append(errs, fmt.Errorf("warm-up %s: at least 0 and shorter than the duration %s", o.Warmup, o.Duration))
	}
	if o.Tolerance <= 0 || o.Tolerance > 1 {
		errs = append(errs, fmt.Errorf("memory tolerance %g: more than 0 and at most 1", o.Tolerance))
	}
	if o.Password == "" {
		errs = append(errs, fmt.Errorf("no password for Keystone user %q", o.User))
	}
	if o.MessageRate > 0 && (o.MQUser == "" || o.MQVHost == "") {
		errs = append(errs, errors.New("RabbitMQ user and vhost must be named"))
	}
	if o.MessageRate > 0 && o.MQPassword == "" {
		errs = append(errs, fmt.Errorf("no password for RabbitMQ user %q", o.MQUser))
	}
	if o.Daemons == nil {
		errs = append(errs, errors.New("no way to list the daemons whose memory is watched"))
	}
	return errors.Join(errs...)
}

// DaemonMemory is one daemon's resident memory at the start and at the end of the soak.
type DaemonMemory struct {
	Name     string  `json:"name"`
	StartKiB int64   `json:"start_kib"`
	EndKiB   int64   `json:"end_kib"`
	Growth   float64 `json:"growth"` // (end-start)/start
	// Restarted: another process at the end than at the start.
	Restarted bool `json:"restarted,omitempty"`
}

// SoakResult is what a soak measured. Errors lists every failure; a soak passes when it is
// empty.
type SoakResult struct {
	DurationMS     float64        `json:"duration_ms"`
	Keystone       *Result        `json:"keystone"`
	Published      int64          `json:"messages_confirmed"`
	Consumed       int64          `json:"messages_consumed"`
	Lost           int64          `json:"messages_lost"`
	Duplicates     int64          `json:"messages_duplicated"`
	AgentRuns      int            `json:"agent_runs"`
	AgentChanges   int            `json:"agent_changes"`
	Memory         []DaemonMemory `json:"memory"`
	Errors         []string       `json:"errors"`
	mu             sync.Mutex
	errorsByReason map[string]int
}

func (r *SoakResult) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if r.errorsByReason == nil {
		r.errorsByReason = map[string]int{}
	}
	// Keep the report short: each distinct error once, with a count.
	if r.errorsByReason[msg]++; r.errorsByReason[msg] == 1 {
		r.Errors = append(r.Errors, msg)
	}
}

// Soak runs o against t's Keystone nodes (nodes) and RabbitMQ nodes for o.Duration.
func Soak(ctx context.Context, t *target.Target, nodes []Node, o SoakOptions) (*SoakResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	res := &SoakResult{}
	var mqNodes []Node
	if o.MessageRate > 0 {
		var err error
		if mqNodes, err = RabbitMQNodes(t); err != nil {
			return nil, fmt.Errorf("%w (use --message-rate 0)", err)
		}
	}
	begin := time.Now()
	// An agent run in progress when the soak ends is left to finish (bounded): a converge
	// killed half-way is fault 5's subject, not this one's.
	agentCtx := context.WithoutCancel(ctx)
	parent := ctx // the message flow drains past the soak's end; an interrupt ends it
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var wg sync.WaitGroup

	// Keystone at the production rate, for the whole soak.
	ko := KeystoneOptions{Op: OpValidate, Clients: o.Clients, Requests: MaxRequests, Duration: o.Duration,
		Rate: o.KeystoneRate, User: o.User, Project: o.Project, Domain: o.Domain, Password: o.Password}
	var kerr error
	wg.Go(func() { res.Keystone, kerr = Keystone(ctx, t, nodes, ko) })
	// Messages through RabbitMQ with bench.RabbitMQ's machinery, paced at the message rate
	// until the soak ends, then drained (bounded by soakDrain).
	var mq *RabbitMQResult
	var mqErr error
	if mqNodes != nil {
		stop := make(chan struct{})
		context.AfterFunc(ctx, func() { close(stop) })
		wg.Go(func() { mq, mqErr = RabbitMQ(parent, t, mqNodes, o.messageFlow(stop)) })
	}
	if o.AgentEvery > 0 && o.RunAgent != nil {
		wg.Go(func() { rerunAgents(ctx, agentCtx, o, res) })
	}
	start, end := sampleAfterWarmupAndAtEnd(ctx, o, res)
	wg.Wait()
	if kerr != nil {
		return nil, kerr
	}
	if mqErr != nil {
		return nil, fmt.Errorf("rabbitmq: %w", mqErr)
	}
	if mq != nil {
		res.countMessages(mq)
	}
	res.DurationMS = float64(time.Since(begin).Microseconds()) / 1000
	if k := res.Keystone; k != nil && k.Failed > 0 {
		res.fail("keystone: %d of %d validations failed (%s)", k.Failed, k.Sent, k.FirstError)
	}
	res.compareMemory(start, end, o.Tolerance)
	return res, nil
}

// rerunAgents re-runs every host's agent every o.AgentEvery, the first time half an
// interval in (a one-minute soak re-runs them once), until ctx ends. A run is bounded by
// five minutes of agentCtx, which the soak's end does not cut.
func rerunAgents(ctx, agentCtx context.Context, o SoakOptions, res *SoakResult) {
	next := time.NewTimer(o.AgentEvery / 2)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
		}
		for _, h := range o.Hosts {
			if ctx.Err() != nil {
				return
			}
			actx, acancel := context.WithTimeout(agentCtx, 5*time.Minute)
			changes, err := o.RunAgent(actx, h)
			acancel()
			res.mu.Lock()
			res.AgentRuns++
			res.AgentChanges += changes
			res.mu.Unlock()
			if err != nil {
				res.fail("agent of %s: %v", h, err)
			}
		}
		next.Reset(o.AgentEvery)
	}
}

// sampleAfterWarmupAndAtEnd reads the daemons' memory at the end of the warm-up and, when
// ctx ends, at the end of the soak (start is nil when the soak ended first).
func sampleAfterWarmupAndAtEnd(ctx context.Context, o SoakOptions, res *SoakResult) (start, end map[string]memSample) {
	select {
	case <-ctx.Done():
	case <-time.After(o.Warmup):
		var err error
		if start, err = sampleMemory(o.Daemons); err != nil {
			res.fail("memory at the start: %v", err)
		}
	}
	<-ctx.Done()
	end, err := sampleMemory(o.Daemons)
	if err != nil {
		res.fail("memory at the end: %v", err)
	}
	return start, end
}

// compareMemory records each daemon's memory at the start and the end, and fails the soak
// for a daemon gone, restarted or grown by more than tolerance.
func (r *SoakResult) compareMemory(start, end map[string]memSample, tolerance float64) {
	names := make([]string, 0, len(start))
	for n := range start {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s, e := start[n], end[n]
		m := DaemonMemory{Name: n, StartKiB: s.kib, EndKiB: e.kib, Restarted: e.pid != s.pid}
		if s.kib > 0 {
			m.Growth = float64(e.kib-s.kib) / float64(s.kib)
		}
		r.Memory = append(r.Memory, m)
		switch {
		case e.pid == 0:
			r.fail("%s: gone at the end of the soak", n)
		case m.Restarted:
			r.fail("%s: restarted during the soak (pid %d, then %d)", n, s.pid, e.pid)
		case m.Growth > tolerance:
			r.fail("%s: memory grew %.1f %% (%d KiB to %d KiB), more than %.0f %%", n, 100*m.Growth, s.kib, e.kib, 100*tolerance)
		}
	}
}

type memSample struct {
	pid int
	kib int64
}

// sampleMemory reads the RSS of every daemon and its descendants from /proc.
func sampleMemory(daemons func() (map[string]int, error)) (map[string]memSample, error) {
	pids, err := daemons()
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid := parentOf(pid); ppid > 0 {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := map[string]memSample{}
	for name, pid := range pids {
		var kib int64
		stack := []int{pid}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			kib += rssKiB(p)
			stack = append(stack, children[p]...)
		}
		if kib == 0 {
			pid = 0 // not running
		}
		out[name] = memSample{pid: pid, kib: kib}
	}
	return out, nil
}

// parentOf is pid's parent from /proc/<pid>/stat (0 when unknown).
func parentOf(pid int) int {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// rssKiB is VmRSS of pid (0 when it is gone).
func rssKiB(pid int) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// messageFlow is the soak's message flow as a bench.RabbitMQ run: one publisher, each
// message confirmed before the next (a service that must know its message is safe), one
// consumer on the next node (the same one in a single-node cluster), on a quorum queue of
// the run's own (deleted at the end); publishing stops when stop closes, the count bounds
// it too.
func (o SoakOptions) messageFlow(stop <-chan struct{}) RabbitMQOptions {
	return RabbitMQOptions{Publishers: 1, Consumers: 1, Size: headerSize, Prefetch: 100, ConfirmWindow: 1,
		Messages: min(MaxMessages, int(math.Ceil(o.MessageRate*o.Duration.Seconds()))+1),
		Duration: o.Duration + soakDrain, Rate: o.MessageRate, StopPublishing: stop,
		User: o.MQUser, VHost: o.MQVHost, Password: o.MQPassword}
}

// countMessages takes the message flow's counts and failures into the soak's result.
func (r *SoakResult) countMessages(mq *RabbitMQResult) {
	r.Published, r.Consumed, r.Lost, r.Duplicates = int64(mq.Confirmed), int64(mq.Consumed), int64(mq.Lost), int64(mq.Duplicates)
	if mq.FirstError != "" {
		r.fail("rabbitmq: %s", mq.FirstError)
	}
	if n := mq.Sent - mq.Confirmed; n > 0 {
		r.fail("rabbitmq: %d of %d messages published were never confirmed", n, mq.Sent)
	}
	if r.Lost > 0 {
		r.fail("rabbitmq: %d of %d confirmed messages never arrived", r.Lost, r.Published)
	}
}

// WriteText prints r for an operator.
func (r *SoakResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %.0f s\n", r.DurationMS/1000)
	if k := r.Keystone; k != nil {
		// Below the rate asked for, the nodes (or the machine) could not keep up: said, not hidden.
		fmt.Fprintf(&b, "keystone   %d validations: %d ok, %d failed; %.1f/s of the %.1f/s asked for, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			k.Sent, k.OK, k.Failed, k.PerSec, k.RateLimit, k.P50, k.P99, k.Max)
	}
	fmt.Fprintf(&b, "rabbitmq   %d confirmed, %d consumed, %d lost, %d duplicates\n", r.Published, r.Consumed, r.Lost, r.Duplicates)
	fmt.Fprintf(&b, "agents     %d runs, %d changes\n", r.AgentRuns, r.AgentChanges)
	fmt.Fprintf(&b, "memory     (RSS of each daemon and its children, after the warm-up and at the end)\n")
	for _, m := range r.Memory {
		note := ""
		if m.Restarted {
			note = " (restarted)"
		}
		fmt.Fprintf(&b, "  %-40s %8d KiB -> %8d KiB  %+6.1f %%%s\n", m.Name, m.StartKiB, m.EndKiB, 100*m.Growth, note)
	}
	if len(r.Errors) == 0 {
		b.WriteString("errors     none\n")
	} else {
		fmt.Fprintf(&b, "errors     %d\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
