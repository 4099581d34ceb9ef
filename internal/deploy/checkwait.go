package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/status"
)

// ChecksFailedError is a fresh check report of the environment (internal/check, run by the
// jump server's agent) with failures.
type ChecksFailedError struct {
	Phase, Host string
	Started     time.Time
	Failed      []string // "check target: detail"
	Total       int
}

func (e *ChecksFailedError) Error() string {
	return fmt.Sprintf("%s: %d of %d checks failed (run on %s at %s): %s; `cso check --env <env>` on the jump server shows every result",
		e.Phase, len(e.Failed), e.Total, e.Host, e.Started.UTC().Format(time.RFC3339), strings.Join(e.Failed, "; "))
}

// WaitCheck waits, until deadline, for a check report published after since (the hosts had
// all converged by then, so a report from before could not see the result), and judges it:
// nil and a summary when nothing failed, *ChecksFailedError otherwise, *TimeoutError when
// no fresh report came. A store that keeps no reports cannot be judged: the summary says
// so.
func (w *Waiter) WaitCheck(ctx context.Context, p Phase, since, deadline time.Time) (string, error) {
	if w.now == nil {
		w.now = time.Now
	}
	cs, ok := w.Store.(status.CheckStore)
	if !ok {
		return "the status store keeps no check reports; run `cso check` on the jump server", nil
	}
	interval := w.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	last := ""
	for {
		cr, err := cs.GetCheck(ctx)
		what := ""
		switch {
		case errors.Is(err, status.ErrNotFound):
			what = "no check report yet (the jump server's agent publishes one after each run)"
		case err != nil && ctx.Err() == nil:
			what = fmt.Sprintf("reading the check report: %v (retrying)", err)
		case err != nil:
		case w.Env != "" && cr.Env != "" && cr.Env != w.Env:
			what = fmt.Sprintf("the check report is for environment %q", cr.Env)
		case !cr.Started.After(since):
			what = fmt.Sprintf("waiting for a check run after %s (newest: %s on %s)", since.UTC().Format(time.TimeOnly), cr.Started.UTC().Format(time.TimeOnly), cr.Host)
		default:
			return judgeCheck(p, cr)
		}
		if what != last && what != "" {
			w.clearLine()
			fmt.Fprintf(w.Out, "%s: %s\n", p.Name, what)
			last = what
		}
		if !w.now().Before(deadline) {
			return "", &TimeoutError{Phase: p.Name, Timeout: deadline.Sub(since).Round(time.Second), Waiting: []string{"a check report newer than " + since.UTC().Format(time.RFC3339) + ": " + what}}
		}
		t := time.NewTimer(min(interval, max(deadline.Sub(w.now()), time.Millisecond)))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

func judgeCheck(p Phase, cr status.CheckReport) (string, error) {
	var rep check.Report
	if err := json.Unmarshal(cr.Report, &rep); err != nil {
		return "", fmt.Errorf("%s: the check report of %s is not one: %w", p.Name, cr.Host, err)
	}
	s := rep.Summary
	summary := fmt.Sprintf("checks on %s at %s: %d ok, %d warn, %d fail, %d skipped", cr.Host, cr.Started.UTC().Format(time.TimeOnly), s.OK, s.Warn, s.Fail, s.Skipped)
	if s.Fail == 0 {
		return summary, nil
	}
	e := &ChecksFailedError{Phase: p.Name, Host: cr.Host, Started: cr.Started, Total: len(rep.Results)}
	for _, r := range rep.Results {
		if r.Status == check.Fail {
			e.Failed = append(e.Failed, fmt.Sprintf("%s %s: %s", r.Check, r.Target, r.Detail))
		}
	}
	if len(e.Failed) == 0 { // counted but not listed: say so rather than list nothing
		e.Failed = []string{fmt.Sprintf("%d (not listed in the report)", s.Fail)}
	}
	return "", e
}
