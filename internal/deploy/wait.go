package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
)

// Phase is one step of the LLD's deployment sequence (8.2) after Terraform: the hosts of
// some roles must report their setup done.
type Phase struct {
	Name  string
	Roles []envfile.Role
	// Health: wait for every host's whole run (health steps included, see IsHealthStep),
	// then for a check report published after that (Waiter.WaitCheck); otherwise a host is
	// ready when every setup step is done.
	Health bool
	// Timeout is the default bound: about 1.5 times the LLD's upper estimate.
	Timeout time.Duration
}

// Infrastructure is the name of the Terraform phase.
const Infrastructure = "infrastructure"

// StatusPhases are the phases after Terraform, in order (LLD 8.2 steps 2 to 5).
var StatusPhases = []Phase{
	{Name: "jump server setup", Roles: []envfile.Role{envfile.RoleJump}, Timeout: 25 * time.Minute},
	{Name: "service dependencies", Roles: []envfile.Role{envfile.RoleKeystone, envfile.RoleRabbitMQ}, Timeout: 45 * time.Minute},
	{Name: "application installation", Roles: []envfile.Role{envfile.RoleFrontend, envfile.RoleBackend}, Timeout: 90 * time.Minute},
	{Name: "health validation", Roles: envfile.Roles, Health: true, Timeout: 15 * time.Minute},
}

// IsHealthStep reports whether an agent step verifies rather than sets up: by convention
// its name is "health" or starts with "health" or "verify". Setup phases do not wait for
// these steps; the health validation phase does.
func IsHealthStep(name string) bool {
	n := strings.ToLower(name)
	return n == "health" || strings.HasPrefix(n, "health") || strings.HasPrefix(n, "verify")
}

// HostFailedError is a host whose agent reported a failed step.
type HostFailedError struct {
	Phase, Host, Step, Detail string
}

func (e *HostFailedError) Error() string {
	step := e.Step
	if step == "" {
		step = "(unknown step)"
	}
	msg := fmt.Sprintf("%s: host %s failed at step %s", e.Phase, e.Host, step)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + "; fix the cause on the host, rerun its agent there (the cso agent command its user data ran, logged in /var/log/cso-setup.log), then rerun this command"
}

// TimeoutError is a phase that did not finish within its bound.
type TimeoutError struct {
	Phase   string
	Timeout time.Duration
	Waiting []string // "host: what it last reported"
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: not finished after %s; still waiting for %s. Check those hosts' agents (their progress logs, or the status documents), then rerun this command; raise --phase-timeout if they are only slow",
		e.Phase, fmtDur(e.Timeout), strings.Join(e.Waiting, "; "))
}

// Waiter polls a status store until the hosts of a phase are ready.
type Waiter struct {
	Store    status.Store
	Env      string
	Interval time.Duration // between polls; default 5s
	Out      io.Writer     // progress
	TTY      bool
	now      func() time.Time
}

// hostView is what the waiter makes of one host's document.
type hostView struct {
	ready  bool
	failed *HostFailedError
	what   string // short progress, e.g. "step packages 2/5"
}

func judge(phase string, h inventory.Host, doc *status.Host, env string, health bool) hostView {
	if doc == nil {
		return hostView{what: "no status yet (agent not started)"}
	}
	if doc.Env != "" && env != "" && doc.Env != env {
		return hostView{what: fmt.Sprintf("status document is for environment %q", doc.Env)}
	}
	failedStep, detail := "", ""
	for _, s := range doc.Steps {
		if s.State == status.StateFailed {
			failedStep, detail = s.Name, s.Detail
			break
		}
	}
	if doc.State == status.StateFailed || failedStep != "" {
		if failedStep == "" {
			failedStep = doc.Step
		}
		if doc.LastError != "" {
			// The agent writes "step <name>: <error>"; the step is named already.
			detail = strings.TrimPrefix(doc.LastError, "step "+failedStep+": ")
		}
		return hostView{failed: &HostFailedError{Phase: phase, Host: h.Name, Step: failedStep, Detail: detail}, what: "failed"}
	}
	done, total := 0, 0
	for _, s := range doc.Steps {
		if !health && IsHealthStep(s.Name) {
			continue
		}
		total++
		if s.State == status.StateDone || s.State == status.StateSkipped {
			done++
		}
	}
	if doc.State == status.StateDone || (!health && total > 0 && done == total) {
		return hostView{ready: true, what: "done"}
	}
	what := doc.State
	if doc.Step != "" {
		what = fmt.Sprintf("step %s", doc.Step)
	}
	if total > 0 {
		what += fmt.Sprintf(" (%d/%d steps)", done, total)
	}
	return hostView{what: what}
}

// Wait returns when every host is ready, a host failed (*HostFailedError), the timeout
// passed (*TimeoutError) or ctx ended.
func (w *Waiter) Wait(ctx context.Context, p Phase, hosts []inventory.Host, timeout time.Duration) error {
	if w.now == nil {
		w.now = time.Now
	}
	interval := w.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	start := w.now()
	deadline := start.Add(timeout)
	last := map[string]string{}
	var storeErr error
	for {
		views := map[string]hostView{}
		docs, err := w.Store.List(ctx)
		if err != nil && ctx.Err() == nil {
			// A store error is reported and retried: S3 may throttle or blip.
			if storeErr == nil || storeErr.Error() != err.Error() {
				fmt.Fprintf(w.Out, "%s: reading host status: %v (retrying)\n", p.Name, err)
			}
			storeErr = err
		} else {
			storeErr = nil
		}
		byHost := map[string]*status.Host{}
		for i := range docs {
			byHost[docs[i].Host] = &docs[i]
		}
		ready := 0
		var waiting []string
		for _, h := range hosts {
			v := judge(p.Name, h, byHost[h.Name], w.Env, p.Health)
			views[h.Name] = v
			if v.failed != nil {
				w.clearLine()
				fmt.Fprintf(w.Out, "%s: %s FAILED at step %s\n", p.Name, h.Name, v.failed.Step)
				return v.failed
			}
			if v.ready {
				ready++
			} else {
				waiting = append(waiting, h.Name+": "+v.what)
			}
		}
		w.show(p, hosts, views, ready, w.now().Sub(start), last)
		if ready == len(hosts) {
			w.clearLine()
			fmt.Fprintf(w.Out, "%s: %d/%d hosts ready (%s)\n", p.Name, ready, len(hosts), fmtDur(w.now().Sub(start)))
			return nil
		}
		if !w.now().Before(deadline) {
			w.clearLine()
			sort.Strings(waiting)
			return &TimeoutError{Phase: p.Name, Timeout: timeout, Waiting: waiting}
		}
		t := time.NewTimer(min(interval, max(deadline.Sub(w.now()), time.Millisecond)))
		select {
		case <-ctx.Done():
			t.Stop()
			w.clearLine()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// show prints progress: on a terminal one redrawn line; otherwise a line per host whose
// state changed since the last poll.
func (w *Waiter) show(p Phase, hosts []inventory.Host, views map[string]hostView, ready int, elapsed time.Duration, last map[string]string) {
	if w.TTY {
		line := fmt.Sprintf("%s: %d/%d hosts ready, %s", p.Name, ready, len(hosts), fmtDur(elapsed))
		for _, h := range hosts {
			if v := views[h.Name]; !v.ready {
				line += fmt.Sprintf(" | %s: %s", h.Name, v.what)
				break
			}
		}
		fmt.Fprintf(w.Out, "\r%s\x1b[K", fitLine(w.Out, line))
		return
	}
	for _, h := range hosts {
		v := views[h.Name]
		if last[h.Name] != v.what {
			last[h.Name] = v.what
			fmt.Fprintf(w.Out, "%s: [%d/%d %s] %s: %s\n", p.Name, ready, len(hosts), fmtDur(elapsed), h.Name, v.what)
		}
	}
}

func (w *Waiter) clearLine() {
	if w.TTY {
		fmt.Fprint(w.Out, "\r\x1b[K")
	}
}

// HostsOf returns the hosts of the given roles, in inventory order.
func HostsOf(hosts []inventory.Host, roles []envfile.Role) []inventory.Host {
	var out []inventory.Host
	for _, h := range hosts {
		for _, r := range roles {
			if h.Role == r {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

// isInterrupt reports whether err comes from the operator's Ctrl-C (a cancelled context).
func isInterrupt(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}
