package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/status"
)

// publishCheck runs the check engine on probes and publishes its report as the jump
// server's agent does.
func publishCheck(t *testing.T, st status.Dir, started time.Time, probes ...check.Probe) {
	t.Helper()
	rep := check.Run(context.Background(), probes, time.Second)
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutCheck(context.Background(), status.CheckReport{Host: "jump-server-1", Env: "dev", Started: started, Published: time.Now(), Report: data}); err != nil {
		t.Fatal(err)
	}
}

func probe(name string, st check.Status, detail string) check.Probe {
	return check.Probe{Check: name, Target: "keystone01:5000", Run: func(context.Context) check.Outcome {
		return check.Outcome{Status: st, Detail: detail}
	}}
}

func TestWaitCheck(t *testing.T) {
	health := StatusPhases[3]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("a report from before the hosts converged does not count; the next one does", func(t *testing.T) {
		st := status.Dir{Path: t.TempDir()}
		since := time.Now()
		publishCheck(t, st, since.Add(-time.Minute), probe("tls", check.Fail, "connection refused"))
		go func() {
			time.Sleep(100 * time.Millisecond)
			publishCheck(t, st, since.Add(time.Second), probe("tls", check.OK, "verified"),
				probe("tcp 8080", check.Skip, "no application package"))
		}()
		var out bytes.Buffer
		w := &Waiter{Store: st, Env: "dev", Interval: 10 * time.Millisecond, Out: &out}
		sum, err := w.WaitCheck(ctx, health, since, time.Now().Add(20*time.Second))
		if err != nil {
			t.Fatalf("WaitCheck: %v\n%s", err, out.String())
		}
		if !strings.Contains(sum, "1 ok, 0 warn, 0 fail, 1 skipped") || !strings.Contains(sum, "jump-server-1") {
			t.Errorf("summary %q", sum)
		}
		if !strings.Contains(out.String(), "waiting for a check run after") {
			t.Errorf("the stale report was not reported as such:\n%s", out.String())
		}
	})

	t.Run("failures of a fresh report fail the phase, each named", func(t *testing.T) {
		st := status.Dir{Path: t.TempDir()}
		since := time.Now()
		publishCheck(t, st, since.Add(time.Second), probe("tls", check.Fail, "certificate expired"),
			probe("keystone token", check.OK, "issued"), probe("cert", check.Warn, "12 days left"))
		w := &Waiter{Store: st, Env: "dev", Interval: 10 * time.Millisecond, Out: &bytes.Buffer{}}
		_, err := w.WaitCheck(ctx, health, since, time.Now().Add(20*time.Second))
		var cf *ChecksFailedError
		if !errors.As(err, &cf) {
			t.Fatalf("WaitCheck: %v, want *ChecksFailedError", err)
		}
		if len(cf.Failed) != 1 || cf.Total != 3 || !strings.Contains(err.Error(), "tls keystone01:5000: certificate expired") {
			t.Errorf("error %v (%+v)", err, cf)
		}
	})

	t.Run("no report within the bound times out saying what it waits for", func(t *testing.T) {
		w := &Waiter{Store: status.Dir{Path: t.TempDir()}, Env: "dev", Interval: 10 * time.Millisecond, Out: &bytes.Buffer{}}
		_, err := w.WaitCheck(ctx, health, time.Now(), time.Now().Add(100*time.Millisecond))
		var te *TimeoutError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "no check report yet") {
			t.Fatalf("WaitCheck: %v, want a timeout naming the missing report", err)
		}
	})
}
