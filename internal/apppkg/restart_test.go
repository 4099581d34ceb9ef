package apppkg_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
)

// restartPortBase: this test's local stack (the helper's port range, clear of the others).
const restartPortBase = 22200

// appRole is the application part of the frontend role: bindings, package, services.
type appRole struct{ o apppkg.HostOptions }

func (appRole) Role() envfile.Role { return envfile.RoleFrontend }
func (r appRole) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	app, err := apppkg.NewApp(rt)
	if err != nil {
		return nil, err
	}
	steps := app.BindingSteps()
	steps = append(steps, app.PackageSteps(r.o)...)
	return append(steps, app.ServiceSteps(envfile.RoleFrontend, r.o)...), nil
}

// lockedBuffer collects the progress lines of both hosts' runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
	t  *testing.T
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return w.b.Write(p)
}

// TestBindingChangeRestartsOneHostAtATime: two frontend hosts run the fixture's two UI
// services with the rabbitmq binding. After the binding's password rotates, both agents
// run at the same moment; each restarts its services under the restart lease, so that at
// no moment are both hosts down (a poller checks every service's health path throughout),
// and each host did restart (new processes after the rotation).
func TestBindingChangeRestartsOneHostAtATime(t *testing.T) {
	stacktest.RequireTools(t, "/usr/bin/java")
	s := stacktest.New(t, "restart", inventory.LocalOptions{PortBase: restartPortBase, AppHosts: 2})
	s.Env.Application.Package = fixture.Build(t, s.Dir, func(m *apppkg.Manifest) { m.Bindings = []string{apppkg.BindingRabbitMQ} })
	fes := inventory.ByRole(s.Hosts, envfile.RoleFrontend)
	if len(fes) != 2 {
		t.Fatalf("%d frontend hosts, want 2", len(fes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	progress := &lockedBuffer{t: t}
	role := appRole{o: apppkg.HostOptions{ServiceReady: 3 * time.Minute, RestartWait: 6 * time.Minute, RestartStale: 5 * time.Minute}}
	runBoth := func() {
		var wg sync.WaitGroup
		for _, h := range fes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Run(ctx, h, role, func(rt *agent.Runtime) { rt.Progress = progress }); err != nil {
					t.Errorf("%s: %v", h.Name, err)
				}
			}()
		}
		wg.Wait()
	}
	runBoth()
	if t.Failed() {
		t.FailNow()
	}
	if rec, _, err := lease.Read(ctx, lease.Dir{Dir: s.Paths(fes[0].Name).Bucket}, lease.RestartKey); err != nil || rec != nil {
		t.Fatalf("the first start took the restart lease (%+v, %v): nothing ran, nobody needed to wait", rec, err)
	}
	health := map[string][]string{}
	services := map[string][]string{}
	for _, h := range fes {
		for _, svc := range []string{"management-ui", "portal-ui"} {
			health[h.Name] = append(health[h.Name], fmt.Sprintf("http://127.0.0.1:%d%s", h.Ports[svc], fixture.HealthPath(envfile.RoleFrontend, svc)))
			services[h.Name] = append(services[h.Name], fmt.Sprintf("%s-%s-%s", h.Name, svc, s.Paths(h.Name).StackID()))
		}
	}

	// The rotation: a new ssp_user password in the secret store.
	rotated := time.Now().UTC()
	if err := os.WriteFile(s.Secrets.Path(agent.SecretRabbitMQ), []byte("rotated0123456789abcdefghijklmnop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The poller: every 50 ms, is each host up (every service answers its health path)?
	type sample struct {
		at   time.Time
		down []string
	}
	var samples []sample
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			smp := sample{at: time.Now()}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for host, urls := range health {
				for _, u := range urls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						pctx, pcancel := context.WithTimeout(ctx, time.Second)
						defer pcancel()
						if apppkg.HealthCheck(pctx, u) != nil {
							mu.Lock()
							if !slices.Contains(smp.down, host) {
								smp.down = append(smp.down, host)
							}
							mu.Unlock()
						}
					}()
				}
			}
			wg.Wait()
			samples = append(samples, smp)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	runBoth()
	close(stop)
	<-polled
	if t.Failed() {
		t.FailNow()
	}

	downOnce := map[string]bool{}
	for _, smp := range samples {
		hosts := map[string]bool{}
		for _, h := range smp.down {
			hosts[h] = true
			downOnce[h] = true
		}
		if len(hosts) > 1 {
			t.Errorf("at %s both frontends were down: %v", smp.at.Format("15:04:05.000"), smp.down)
		}
	}
	var starts []string
	for _, h := range fes {
		for _, name := range services[h.Name] {
			st, err := s.Platform.Supervisor.State(name)
			if err != nil {
				t.Fatal(err)
			}
			if !st.StartedAt.After(rotated) {
				t.Errorf("%s was not restarted after the rotation (started %s)", name, st.StartedAt)
			}
			starts = append(starts, fmt.Sprintf("%s started %s", name, st.StartedAt.Format("15:04:05.000")))
		}
		if !downOnce[h.Name] {
			t.Logf("note: the poller never saw %s down (its restart fell between two samples)", h.Name)
		}
	}
	t.Logf("restarts after the rotation at %s:\n  %s", rotated.Format("15:04:05.000"), strings.Join(starts, "\n  "))
	out := progress.b.String()
	took := strings.Count(out, "took the restart lease")
	if took != 2 || strings.Count(out, "released the restart lease") != 2 {
		t.Errorf("want each host to take and release the restart lease once; progress:\n%s", out)
	}
	if !strings.Contains(out, "waiting for the lease "+lease.RestartKey+", held by frontend-server-") {
		t.Errorf("the second host did not say which host it waited for:\n%s", out)
	}
	rec, _, err := lease.Read(ctx, lease.Dir{Dir: s.Paths(fes[0].Name).Bucket}, lease.RestartKey)
	if err != nil || rec == nil || rec.Held() {
		t.Errorf("the restart lease after both restarts: %+v, %v (want released)", rec, err)
	}
}
