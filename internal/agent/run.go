package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/status"
)

// Result is what one agent run did.
type Result struct {
	Host    string
	Changed []string // summaries of the changes made (or, in a dry run, that would be made)
	Steps   []status.Step
	// Skipped are the reasons of steps that did not apply (e.g. no application package).
	Skipped []string
}

// Skipper is an error that means "this step does not apply to the host" (for example no
// application package configured): the step is published as skipped with the reason, the
// run goes on, and the host is not failed.
type Skipper interface{ Skip() string }

func skipReason(err error) (string, bool) {
	var s Skipper
	if errors.As(err, &s) {
		return s.Skip(), true
	}
	return "", false
}

// Run converges rt.Host with role: every step in order, every task checked and applied when
// needed. Progress goes to rt.Progress and, unless store is nil or this is a dry run, to the
// status store after each step. The first failing task stops the run and is reported with
// its step; a later run starts again from the top and skips what is already converged.
func Run(ctx context.Context, rt *Runtime, role Role, store status.Store) (Result, error) {
	res := Result{Host: rt.Host.Name}
	steps, err := role.Steps(rt)
	if err != nil {
		return res, fmt.Errorf("%s: plan role %s: %w", rt.Host.Name, role.Role(), err)
	}
	now := time.Now().UTC()
	version := buildinfo.Read()
	doc := status.Host{
		Host: rt.Host.Name, Role: string(rt.Host.Role), Index: rt.Host.Index, Env: rt.Env.Name,
		State: status.StateRunning, StartedAt: now, UpdatedAt: now,
		AgentRun: fmt.Sprintf("%d-%d", os.Getpid(), now.UnixNano()), Agent: &version,
	}
	for _, s := range steps {
		doc.Steps = append(doc.Steps, status.Step{Name: s.Name, State: status.StatePending})
	}
	tail := &lineTail{max: status.LogLines}
	if rt.Progress != nil && store != nil && !rt.DryRun {
		saved := rt.Progress
		rt.Progress = io.MultiWriter(saved, tail)
		defer func() { rt.Progress = saved }()
	}
	publish := func() {
		if store == nil || rt.DryRun {
			return
		}
		doc.UpdatedAt = time.Now().UTC()
		doc.Log = tail.lines()
		if err := store.Put(ctx, doc); err != nil && rt.Log != nil {
			rt.Log.Warn("could not publish status", "host", doc.Host, "err", err)
		}
	}
	publish()
	for i, s := range steps {
		st := &doc.Steps[i]
		st.State, st.StartedAt = status.StateRunning, time.Now().UTC()
		doc.Step = s.Name
		rt.progressf("step %d/%d %s: started", i+1, len(steps), s.Name)
		publish()
		changed, err := runStep(ctx, rt, s, &res)
		st.FinishedAt, st.Changed = time.Now().UTC(), changed
		if reason, ok := skipReason(err); ok {
			st.State, st.Detail = status.StateSkipped, reason
			res.Skipped = append(res.Skipped, reason)
			rt.progressf("step %d/%d %s: skipped: %s", i+1, len(steps), s.Name, reason)
			publish()
			continue
		}
		if err != nil {
			st.State, st.Detail = status.StateFailed, err.Error()
			doc.State, doc.LastError, doc.FinishedAt = status.StateFailed, fmt.Sprintf("step %s: %v", s.Name, err), time.Now().UTC()
			rt.progressf("step %d/%d %s: FAILED: %v", i+1, len(steps), s.Name, err)
			publish()
			res.Steps = doc.Steps
			return res, fmt.Errorf("%s: step %s: %w", rt.Host.Name, s.Name, err)
		}
		st.State = status.StateDone
		word := "unchanged"
		if changed {
			word = "changed"
		}
		rt.progressf("step %d/%d %s: done (%s, %s)", i+1, len(steps), s.Name, word, st.FinishedAt.Sub(st.StartedAt).Round(time.Millisecond))
		publish()
	}
	doc.State, doc.Step, doc.FinishedAt = status.StateDone, "", time.Now().UTC()
	if fr, ok := role.(FactReporter); ok && !rt.DryRun {
		doc.Facts = fr.Facts(rt)
	}
	publish()
	res.Steps = doc.Steps
	return res, nil
}

func runStep(ctx context.Context, rt *Runtime, s Step, res *Result) (changed bool, err error) {
	for _, t := range s.Tasks {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		c, err := t.Check(ctx, rt)
		if err != nil {
			return changed, fmt.Errorf("%s: check: %w", t.Name(), err)
		}
		if !c.Needed {
			if rt.Verbose {
				rt.progressf("  unchanged: %s", t.Name())
			}
			continue
		}
		summary := c.Summary
		if summary == "" {
			summary = t.Name()
		}
		res.Changed = append(res.Changed, summary)
		changed = true
		if rt.DryRun {
			rt.progressf("  would %s", summary)
			continue
		}
		rt.progressf("  %s", summary)
		if err := t.Apply(ctx, rt); err != nil {
			return changed, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	return changed, nil
}

func (rt *Runtime) progressf(format string, args ...any) {
	if rt.Progress == nil {
		return
	}
	fmt.Fprintf(rt.Progress, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), rt.Host.Name, fmt.Sprintf(format, args...))
}

// Progressf writes one progress line (roles use it for long waits).
func (rt *Runtime) Progressf(format string, args ...any) { rt.progressf(format, args...) }

// lineTail keeps the newest complete lines written to it (parallel tasks write progress
// concurrently, hence the lock).
type lineTail struct {
	mu      sync.Mutex
	max     int
	partial []byte
	kept    []string
}

func (l *lineTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.kept = append(l.kept, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.kept) > l.max {
		l.kept = append([]string(nil), l.kept[len(l.kept)-l.max:]...)
	}
	return len(p), nil
}

func (l *lineTail) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.kept...)
}
