package check

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// CrashWindow is how far back the daemon restarts probe looks: a crash inside it warns
// even when the daemon runs again, so that the operator sees that it happened.
const CrashWindow = time.Hour

// crashProbes: on the local target, one probe per host tree of the crashes that the crash
// watcher (`cso local supervise`) recorded and whether it brought each daemon back. On
// AWS, systemd restarts the units (Restart=on-failure) and this probe does not exist.
func (c *Checker) crashProbes() []Probe {
	var hosts []string
	for h := range c.t.HostDirs {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var ps []Probe
	for _, h := range hosts {
		run := filepath.Join(c.t.HostDirs[h], "run")
		ps = append(ps, Probe{Check: "daemon restarts", Target: h, Group: GroupHost, Host: h,
			Run: func(context.Context) Outcome { return DaemonRestarts(agent.Supervisor{RunDir: run}, time.Now()) }})
	}
	return ps
}

// DaemonRestarts judges the crashes recorded under sup in the CrashWindow before now: ok
// without any; warn when every crashed daemon was restarted and runs; fail when one is
// still down (restart pending or failing).
func DaemonRestarts(sup agent.Supervisor, now time.Time) Outcome {
	byService, err := sup.CrashesSince(now.Add(-CrashWindow))
	if err != nil {
		return fail("crash records: %v", err)
	}
	if len(byService) == 0 {
		return ok("no daemon crashed in the last %s", shortDur(CrashWindow))
	}
	var names []string
	for n := range byService {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	worst := Warn
	for _, n := range names {
		cs := byService[n]
		last := cs[len(cs)-1]
		how := last.Exit
		if last.Signal != "" {
			how = last.Signal
		} else if last.ExitCode != nil {
			how = fmt.Sprintf("exit status %d", *last.ExitCode)
		} else if strings.HasPrefix(how, "unknown") {
			how = "an unknown exit status"
		}
		restarts := 0
		for _, c := range cs {
			if !c.Restarted.IsZero() && c.RestartErr == "" {
				restarts++
			}
		}
		running, st, _ := sup.Running(n)
		switch {
		case running && !last.Restarted.IsZero() && last.RestartErr == "":
			parts = append(parts, fmt.Sprintf("%s restarted %d time(s) in the last %s, last after %s at %s (down %s); running again (pid %d)",
				n, restarts, shortDur(CrashWindow), how, last.Time.UTC().Format(time.RFC3339), last.Restarted.Sub(last.Time).Round(time.Millisecond), st.PID))
		case running:
			parts = append(parts, fmt.Sprintf("%s crashed after %s at %s; running again (pid %d, started by an agent run)",
				n, how, last.Time.UTC().Format(time.RFC3339), st.PID))
		default:
			worst = Fail
			state := fmt.Sprintf("restart due %s after the crash", time.Duration(last.Delay))
			if last.RestartErr != "" {
				state = "restart failed: " + last.RestartErr
			} else if !last.Restarted.IsZero() {
				state = "down again since its restart"
			}
			parts = append(parts, fmt.Sprintf("%s crashed after %s at %s (%d crash(es) in a row); %s", n, how, last.Time.UTC().Format(time.RFC3339), last.Count, state))
		}
	}
	return Outcome{Status: worst, Detail: strings.Join(parts, "; ")}
}

func shortDur(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return d.String()
}
