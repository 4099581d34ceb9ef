package local

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// The crash watcher: systemd restarts a unit that dies after start-up (Restart=on-failure,
// RenderUnit) on Amazon Linux; on the local target nothing did, since the supervisor
// starts daemons detached and exits. `cso local supervise` is that piece: one long-running
// process per local target, started by Up and stopped first by Down, that restarts a
// service whose process is gone (its state file still there: nobody stopped it) with an
// exponential backoff, and records each crash and restart in
// <host>/run/supervise/<service>.crashes (JSON), which `cso check` reads.

// WatcherService is the watcher's name under its own supervisor (WatcherSupervisor).
const WatcherService = "cso-supervise"

// Watcher timings (see docs/decisions/agent.md, "crash watcher").
const (
	WatchPoll        = 500 * time.Millisecond
	RestartBaseDelay = 1 * time.Second
	RestartMaxDelay  = 60 * time.Second
	// A process that ran this long before dying starts the backoff from the beginning.
	RestartStableAfter = 5 * time.Minute
)

// WatcherSupervisor keeps the watcher's own state, pid file and log under <dir>/watcher.
func (l Layout) WatcherSupervisor() agent.Supervisor {
	return agent.Supervisor{RunDir: filepath.Join(l.Dir, "watcher", "run"), LogDir: filepath.Join(l.Dir, "watcher", "log")}
}

// WatcherSpec is how Up starts the watcher: exe (the cso binary) local supervise.
func (l Layout) WatcherSpec(exe string) agent.ServiceSpec {
	return agent.ServiceSpec{
		Name:        WatcherService,
		Command:     []string{exe, "local", "supervise", "--local-dir", l.Dir},
		StopTimeout: 10 * time.Second,
	}
}

// StartWatcher starts the watcher unless it already runs (the same command).
func (l Layout) StartWatcher(ctx context.Context, exe string) error {
	return l.WatcherSupervisor().Ensure(ctx, nil, l.WatcherSpec(exe))
}

// StopWatcher stops the watcher, so that the daemons can be stopped without a fight (it
// would not fight anyway: a stopped service has no state file).
func (l Layout) StopWatcher(ctx context.Context) (bool, error) {
	sup := l.WatcherSupervisor()
	running, _, err := sup.Running(WatcherService)
	if err != nil {
		return false, err
	}
	return running, sup.Stop(ctx, WatcherService)
}

// Watcher restarts the crashed daemons of one local target.
type Watcher struct {
	Layout      Layout
	Out         io.Writer // one line per crash and restart
	Poll        time.Duration
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	StableAfter time.Duration
	now         func() time.Time

	// Touched only by Run's loop: one goroutine, no lock.
	pending map[string]*pendingRestart // host/service
	streak  map[string]int             // consecutive crashes
}

type pendingRestart struct {
	host, name string
	died       agent.ServiceState
	crash      agent.Crash
	due        time.Time
}

// NewWatcher returns a watcher of l with the default timings.
func NewWatcher(l Layout, out io.Writer) *Watcher {
	if out == nil {
		out = io.Discard
	}
	return &Watcher{Layout: l, Out: out, Poll: WatchPoll, BaseDelay: RestartBaseDelay, MaxDelay: RestartMaxDelay, StableAfter: RestartStableAfter}
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if w.now == nil {
		w.now = time.Now
	}
	w.pending, w.streak = map[string]*pendingRestart{}, map[string]int{}
	fmt.Fprintf(w.Out, "%s watching the daemons of %s (poll %s, backoff %s doubling up to %s)\n", w.now().UTC().Format(time.RFC3339), w.Layout.Dir, w.Poll, w.BaseDelay, w.MaxDelay)
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		w.Sweep()
		select {
		case <-ctx.Done():
			fmt.Fprintf(w.Out, "%s stopped watching\n", w.now().UTC().Format(time.RFC3339))
			return nil
		case <-t.C:
		}
	}
}

// Delay is the backoff before the restart that follows the count-th consecutive crash.
func (w *Watcher) Delay(count int) time.Duration {
	d := w.BaseDelay
	for i := 1; i < count && d < w.MaxDelay; i++ {
		d *= 2
	}
	return min(d, w.MaxDelay)
}

// Sweep looks at every service once: records new crashes and restarts those due.
func (w *Watcher) Sweep() {
	hosts, err := w.Layout.hostDirs()
	if err != nil {
		fmt.Fprintf(w.Out, "%s %v\n", w.now().UTC().Format(time.RFC3339), err)
		return
	}
	for _, h := range hosts {
		p := w.Layout.Paths(h)
		sup := agent.Supervisor{RunDir: p.Run, LogDir: p.Log}
		names, err := sup.Services()
		if err != nil {
			continue
		}
		for _, n := range names {
			w.sweepOne(sup, h, n)
		}
	}
}

func (w *Watcher) sweepOne(sup agent.Supervisor, host, name string) {
	key := host + "/" + name
	now := w.now()
	dead, st, err := sup.Died(name)
	pr := w.pending[key]
	if err != nil || !dead {
		delete(w.pending, key) // running again (an agent started it) or deliberately stopped
		return
	}
	if pr != nil && (pr.died.PID != st.PID || pr.died.StartTicks != st.StartTicks) {
		pr = nil // another generation died
	}
	if pr == nil {
		// Only under the service's lock: an agent stopping it on purpose holds the lock
		// until its state file is gone, so a process seen dead under the lock crashed.
		unlock, ok, err := sup.TryLock(name)
		if err != nil || !ok {
			return
		}
		dead, st2, err := sup.Died(name)
		unlock()
		if err != nil || !dead || st2.PID != st.PID {
			return
		}
		uptime := now.Sub(st.StartedAt)
		count := w.streak[key] + 1
		if uptime >= w.StableAfter {
			count = 1
		}
		w.streak[key] = count
		exit, sig, code := agent.DescribeExit(st)
		c := agent.Crash{Time: now.UTC(), PID: st.PID, Exit: exit, Signal: sig, ExitCode: code,
			Uptime: agent.Duration(uptime.Round(time.Millisecond)), Count: count, Delay: agent.Duration(w.Delay(count))}
		pr = &pendingRestart{host: host, name: name, died: st, crash: c, due: now.Add(w.Delay(count))}
		w.pending[key] = pr
		_ = sup.RecordCrash(name, c)
		fmt.Fprintf(w.Out, "%s %s: %s (pid %d) died after %s: %s; restart in %s (crash %d in a row)\n",
			c.Time.Format(time.RFC3339), host, name, st.PID, uptime.Round(time.Second), exit, w.Delay(count), count)
	}
	if now.Before(pr.due) {
		return
	}
	pid, ok, err := sup.Revive(name, pr.died)
	if !ok && err == nil {
		return // the lock is held (an agent is at it) or it changed: look again next time
	}
	c := pr.crash
	c.Restarted = w.now().UTC()
	if err != nil {
		// Try again later, further apart, as systemd does after a failed start.
		c.RestartErr = err.Error()
		_ = sup.RecordCrash(name, c)
		w.streak[key]++
		pr.due = w.now().Add(w.Delay(w.streak[key]))
		fmt.Fprintf(w.Out, "%s %s: restart of %s failed: %v; next attempt in %s\n", c.Restarted.Format(time.RFC3339), host, name, err, w.Delay(w.streak[key]))
		return
	}
	c.NewPID = pid
	_ = sup.RecordCrash(name, c)
	delete(w.pending, key)
	fmt.Fprintf(w.Out, "%s %s: restarted %s (pid %d, %s after the crash was seen)\n", c.Restarted.Format(time.RFC3339), host, name, pid, c.Restarted.Sub(c.Time).Round(time.Millisecond))
}

// HostCrashes returns the crashes recorded on host h since since, by service.
func (l Layout) HostCrashes(h string, since time.Time) (map[string][]agent.Crash, error) {
	return agent.Supervisor{RunDir: l.Paths(h).Run}.CrashesSince(since)
}
