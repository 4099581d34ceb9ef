package check

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A failure that mends itself within the window ends ok (and says it recovered); one that
// persists still fails; passing probes run once.
func TestSettleRerunsOnlyFailures(t *testing.T) {
	var mendingRuns, brokenRuns, okRuns atomic.Int32
	probes := []Probe{
		{Check: "mending", Target: "a", Run: func(context.Context) Outcome {
			if mendingRuns.Add(1) < 3 {
				return fail("account missing")
			}
			return ok("signed in")
		}},
		{Check: "broken", Target: "b", Run: func(context.Context) Outcome {
			brokenRuns.Add(1)
			return fail("wrong password")
		}},
		{Check: "fine", Target: "c", Run: func(context.Context) Outcome {
			okRuns.Add(1)
			return ok("fine")
		}},
	}
	rep := Settle(context.Background(), probes, time.Second, 500*time.Millisecond, 50*time.Millisecond)
	if r := rep.Results[0]; r.Status != OK || !strings.Contains(r.Detail, "failed at first; recovered within") {
		t.Errorf("mending probe: %+v", r)
	}
	if r := rep.Results[1]; r.Status != Fail || r.Detail != "wrong password" {
		t.Errorf("broken probe: %+v", r)
	}
	if okRuns.Load() != 1 {
		t.Errorf("a passing probe ran %d times, want once", okRuns.Load())
	}
	if n := brokenRuns.Load(); n < 3 || n > 11 {
		t.Errorf("the failing probe ran %d times in a 500ms window every 50ms", n)
	}
	if rep.Summary.Fail != 1 || rep.Summary.OK != 2 {
		t.Errorf("summary %+v, want 2 ok and 1 fail", rep.Summary)
	}
}

// Without failures Settle is one run; a cancelled context stops the waiting.
func TestSettleStopsEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int32
	p := []Probe{{Check: "broken", Target: "b", Run: func(context.Context) Outcome {
		if runs.Add(1) == 2 {
			cancel()
		}
		return fail("down")
	}}}
	start := time.Now()
	rep := Settle(ctx, p, time.Second, time.Minute, 10*time.Millisecond)
	if time.Since(start) > 10*time.Second || rep.Summary.Fail != 1 {
		t.Errorf("cancelled settle: %s, %+v", time.Since(start), rep.Summary)
	}
	ok1 := []Probe{{Check: "fine", Target: "c", Run: func(context.Context) Outcome { return ok("fine") }}}
	if rep := Settle(context.Background(), ok1, time.Second, time.Minute, time.Minute); rep.Summary.OK != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
}
