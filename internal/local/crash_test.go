package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// TestCrashedDaemonsComeBack is issue #12's fault 4 on the local stack: RabbitMQ, Apache
// (Keystone) and nginx (frontend) are killed with SIGKILL in turn; the crash watcher that
// `up` started (the cso binary, `cso local supervise`) brings each back by itself within a
// bounded wait, and the checks show the crash, then the host's probes ok again. Down then
// stops everything, the watcher first, without a fight.
func TestCrashedDaemonsComeBack(t *testing.T) {
	requireDaemons(t)
	for _, bin := range []string{"/usr/sbin/rabbitmq-server", "/usr/sbin/nginx"} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s is missing: run scripts/install-deps.sh --runtime", bin)
		}
	}
	crashedDaemonsComeBack(t, restartRoles(), 300)
}

// TestCrashedApacheComesBack is the Keystone part alone (jump and Keystone: no RabbitMQ),
// quicker: Apache (Keystone) killed with SIGKILL comes back by itself, twice.
func TestCrashedApacheComesBack(t *testing.T) {
	requireDaemons(t)
	if !fullFaults() {
		t.Skip("TestCrashedDaemonsComeBack kills Apache too; this one runs with CSO_FAULTS=full (make faults)")
	}
	crashedDaemonsComeBack(t, ksRoles(), 350)
}

func crashedDaemonsComeBack(t *testing.T, roles map[envfile.Role]func() agent.Role, portShift int) {
	ownStack(t) // its own: it ends with down
	dir := filepath.Join(tempDir(t), "crash")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	o := Options{Dir: dir, PortBase: testPortBase() + portShift, Env: testEnv(t), Roles: roles, Executable: csoBinary(t)}
	downOnCleanup(t, dir)
	var out bytes.Buffer
	o.Out = &out
	res, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if upFailed(t, res) {
		t.Fatalf("up output:\n%s", out.String())
	}
	l, _ := NewLayout(dir)
	if ok, _, _ := l.WatcherSupervisor().Running(WatcherService); !ok {
		t.Fatal("up did not start the crash watcher")
	}
	hosts := o.Hosts()
	tg := l.Target(o, hosts)
	service := func(h inventory.Host, part string) string {
		names, _ := agent.Supervisor{RunDir: l.Paths(h.Name).Run}.Services()
		for _, n := range names {
			if strings.Contains(n, part) {
				return n
			}
		}
		t.Fatalf("%s runs no service named like %q (%v)", h.Name, part, names)
		return ""
	}
	// One pass of the checks (`cso check`) over the hosts whose role ran, as up's closing
	// check probes: the waits below re-run it until the host's probes are ok. (up's settled
	// check would re-run any failing probe of any host, the backend's without its role or a
	// probe of another host through the restarted daemon, until its 45 s window ends.)
	sel := *tg
	sel.Hosts = nil
	for _, h := range hosts {
		if _, ok := roles[h.Role]; ok {
			sel.Hosts = append(sel.Hosts, h)
		}
	}
	probe := func(h inventory.Host) (restarts check.Result, others []check.Result) {
		rep := check.New(&sel, check.Options{Timeout: CheckTimeout}).Run(ctx)
		for _, r := range rep.Results {
			switch {
			case r.Check == "daemon restarts" && r.Target == h.Name:
				restarts = r
			case r.Host == h.Name && r.Group == check.GroupService:
				others = append(others, r)
			}
		}
		return restarts, others
	}
	kill := func(h inventory.Host, svc string) (agent.ServiceState, time.Duration) {
		t.Helper()
		sup := agent.Supervisor{RunDir: l.Paths(h.Name).Run}
		_, st, _ := sup.Running(svc)
		if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s: %v", svc, err)
		}
		killed := time.Now()
		var back time.Duration
		// Bounded: the first backoff (1 s) plus the daemon's own start-up.
		deadline := killed.Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if ok, now, _ := sup.Running(svc); ok && now.PID != st.PID {
				back = time.Since(killed)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if back == 0 {
			t.Fatalf("%s/%s not restarted within 3 minutes; watcher log:\n%s", h.Name, svc, readFile(filepath.Join(l.WatcherSupervisor().LogDir, WatcherService+".log")))
		}
		// Serving again: every service probe of the host ok.
		var serving time.Duration
		for time.Now().Before(deadline) {
			_, others := probe(h)
			allOK := len(others) > 0
			for _, r := range others {
				allOK = allOK && (r.Status == check.OK || r.Status == check.Skip)
			}
			if allOK {
				serving = time.Since(killed)
				break
			}
			time.Sleep(time.Second)
		}
		if serving == 0 {
			_, others := probe(h)
			t.Fatalf("%s not serving again after the restart of %s: %+v", h.Name, svc, others)
		}
		t.Logf("%s/%s SIGKILL: process back after %s, every probe of the host ok after %s", h.Name, svc, back.Round(100*time.Millisecond), serving.Round(100*time.Millisecond))
		return st, serving
	}
	type victim struct {
		h    inventory.Host
		part string
	}
	var victims []victim
	if _, ok := roles[envfile.RoleRabbitMQ]; ok {
		victims = append(victims, victim{inventory.ByRole(hosts, envfile.RoleRabbitMQ)[0], "rabbitmq"})
	}
	victims = append(victims, victim{inventory.ByRole(hosts, envfile.RoleKeystone)[0], "httpd"})
	if _, ok := roles[envfile.RoleFrontend]; ok {
		victims = append(victims, victim{inventory.ByRole(hosts, envfile.RoleFrontend)[0], "nginx"})
	}
	for _, c := range victims {
		svc := service(c.h, c.part)
		kill(c.h, svc)
		r, _ := probe(c.h)
		if r.Status != check.Warn || !strings.Contains(r.Detail, svc+" restarted 1 time(s) in the last hour") || !strings.Contains(r.Detail, "running again") {
			t.Errorf("check after the crash of %s: %s %q", svc, r.Status, r.Detail)
		}
	}
	// A second crash of a daemon the watcher started itself: it knows the signal.
	again := victims[0]
	svc := service(again.h, again.part)
	kill(again.h, svc)
	if r, _ := probe(again.h); r.Status != check.Warn || !strings.Contains(r.Detail, "restarted 2 time(s) in the last hour, last after SIGKILL") {
		t.Errorf("check after the second crash of %s: %s %q", svc, r.Status, r.Detail)
	}
	// A deliberate stop is not fought: down stops the watcher, then everything.
	var dout bytes.Buffer
	if err := Down(ctx, dir, false, &dout); err != nil {
		t.Fatalf("down: %v\n%s", err, dout.String())
	}
	if !strings.Contains(dout.String(), "stopped the crash watcher") {
		t.Errorf("down output:\n%s", dout.String())
	}
	time.Sleep(3 * time.Second)
	for _, h := range append(o.Hosts(), mysqlHost(o.PortBase)) {
		names, _ := agent.Supervisor{RunDir: l.Paths(h.Name).Run}.Services()
		if len(names) > 0 {
			t.Errorf("%s: services recorded (restarted?) after down: %v", h.Name, names)
		}
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
