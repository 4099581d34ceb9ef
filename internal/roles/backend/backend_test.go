package backend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/backend"
	"github.com/cso-ssp/platform/internal/status"
)

// TestBackend runs the 13 backend services of the fixture package with the real JVM:
// every service answers its own health path on its port, and says who it is.
// testPortBase shifts this package's ports clear of the other packages that run daemons
// at the same time under `go test ./...` (bases 1000 apart never overlap).
const testPortBase = 4000

func TestBackend(t *testing.T) {
	stacktest.RequireTools(t, "/usr/bin/java")
	s := stacktest.New(t, "backend", inventory.LocalOptions{PortBase: testPortBase})
	s.Env.Application.Package = fixture.Build(t, s.Dir)
	h := s.Host("backend-server-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dry, err := s.Run(ctx, h, backend.New(), stacktest.AppHostsOnly, func(rt *agent.Runtime) { rt.DryRun = true })
	if err != nil || len(dry.Changed) == 0 {
		t.Fatalf("dry run on a fresh host: %v, changes %v", err, dry.Changed)
	}
	if _, err := os.Stat(s.Paths(h.Name).Root); err == nil {
		t.Fatalf("the dry run created %s", s.Paths(h.Name).Root)
	}

	start := time.Now()
	res, err := s.Run(ctx, h, backend.New(), stacktest.AppHostsOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("13 backend services converged from nothing in %s", time.Since(start).Round(100*time.Millisecond))
	if len(res.Changed) == 0 {
		t.Fatal("first run changed nothing")
	}

	for _, name := range inventory.BackendServiceNames() {
		port := h.Ports[name]
		if port != inventory.BackendServices[name]+testPortBase {
			t.Fatalf("%s: port %d", name, port)
		}
		health := fmt.Sprintf("http://127.0.0.1:%d%s", port, fixture.HealthPath(envfile.RoleBackend, name))
		if err := apppkg.HealthCheck(ctx, health); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var who struct {
			Service string `json:"service"`
			Port    int    `json:"port"`
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &who); err != nil || who.Service != name || who.Port != port {
			t.Errorf("port %d answered %s, want service %s", port, body, name)
		}
	}

	res, err = s.Run(ctx, h, backend.New(), stacktest.AppHostsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 {
		t.Errorf("second run changed: %v", res.Changed)
	}
	doc, err := s.Store.Get(ctx, h.Name)
	if err != nil || doc.State != status.StateDone {
		t.Errorf("status: %+v %v", doc, err)
	}
}

// TestBackendWithoutPackage: no application.package, no fake green.
func TestBackendWithoutPackage(t *testing.T) {
	s := stacktest.New(t, "backend-nopkg", inventory.LocalOptions{PortBase: testPortBase})
	h := s.Host("backend-server-1")
	res, err := s.Run(context.Background(), h, backend.New(), stacktest.AppHostsOnly)
	if err != nil {
		t.Fatalf("no package is a skip, not a failure: %v", err)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "no application package") {
		t.Fatalf("skipped: %v", res.Skipped)
	}
	doc, err := s.Store.Get(context.Background(), h.Name)
	if err != nil {
		t.Fatal(err)
	}
	last := doc.Steps[len(doc.Steps)-1]
	if last.Name != "application package" || last.State != status.StateSkipped || !strings.Contains(last.Detail, "no application package") {
		t.Errorf("status does not say so: %+v", last)
	}
}

func TestJavaPackage(t *testing.T) {
	if got := backend.JavaPackage(agent.NewAL2023()); got != "java-21-amazon-corretto-headless" {
		t.Errorf("al2023: %s", got)
	}
	if got := backend.JavaPackage(agent.NewLocal(t.TempDir(), t.TempDir())); got != "openjdk-17-jre-headless" {
		t.Errorf("local: %s", got)
	}
}
