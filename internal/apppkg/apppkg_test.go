package apppkg_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

func validManifest() *apppkg.Manifest {
	m := fixture.Manifest()
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *apppkg.Manifest)
		want   []string // substrings of the error; none = valid
	}{
		{"fixture is valid", func(*apppkg.Manifest) {}, nil},
		{"unknown service", func(m *apppkg.Manifest) { m.Services[3].Name = "billing" },
			[]string{"services[3] (billing).name: unknown backend service \"billing\"", "lacks the backend service"}},
		{"wrong port", func(m *apppkg.Manifest) { m.Services[0].Port = 9090 },
			[]string{"services[0] (management-ui).port: management-ui listens on 8080 in the LLD (3.1, 3.2.1), not 9090"}},
		{"missing health path", func(m *apppkg.Manifest) { m.Services[2].HealthPath = "" },
			[]string{".health_path: missing"}},
		{"relative health path", func(m *apppkg.Manifest) { m.Services[2].HealthPath = "health" },
			[]string{"must be an absolute URL path"}},
		{"missing command", func(m *apppkg.Manifest) { m.Services[4].Command = nil }, []string{".command: missing"}},
		{"wrong role", func(m *apppkg.Manifest) { m.Services[1].Role = "keystone" }, []string{".role: must be frontend or backend"}},
		{"frontend service on backend", func(m *apppkg.Manifest) { m.Services[1].Role = envfile.RoleBackend },
			[]string{"unknown backend service \"portal-ui\"", "lacks the frontend service portal-ui"}},
		{"duplicate", func(m *apppkg.Manifest) { m.Services = append(m.Services, m.Services[5]) }, []string{"is also services[5]"}},
		{"missing service", func(m *apppkg.Manifest) { m.Services = m.Services[:len(m.Services)-1] }, []string{"lacks the backend service"}},
		{"unknown variable", func(m *apppkg.Manifest) { m.Services[0].Command = []string{"java", "-jar", "${HOME}/x.jar"} },
			[]string{"unknown variable ${HOME}"}},
		{"no version", func(m *apppkg.Manifest) { m.Version = "" }, []string{"version: missing"}},
		{"unknown runtime", func(m *apppkg.Manifest) { m.Requires = []string{"python"} }, []string{"unknown runtime \"python\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validManifest()
			tc.mutate(m)
			data, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = apppkg.ParseManifest("pkg.tar.gz", data)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid manifest rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid manifest accepted")
			}
			var ps *apppkg.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T, want *apppkg.Problems: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := apppkg.ParseManifest("p", []byte("version: 1\nservices: []\nsurprise: true\n")); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("unknown key accepted or not named: %v", err)
	}
}

func tarGz(t *testing.T, entries []tar.Header, content map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range entries {
		h.Size = int64(len(content[h.Name]))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content[h.Name])); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "p.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenRejects(t *testing.T) {
	manifest, _ := yaml.Marshal(validManifest())
	ok := map[string]string{apppkg.ManifestName: string(manifest), "../evil": "x", "/etc/evil": "x", "lib/a.jar": "jar"}
	tests := []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"no manifest", []tar.Header{{Name: "lib/a.jar", Typeflag: tar.TypeReg}}, "no cso-app.yaml"},
		{"parent path", []tar.Header{{Name: apppkg.ManifestName, Typeflag: tar.TypeReg}, {Name: "../evil", Typeflag: tar.TypeReg}}, "leaves the package"},
		{"absolute path", []tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg}}, "absolute path"},
		{"symlink", []tar.Header{{Name: "lib/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, "only regular files and directories"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apppkg.Open(tarGz(t, tc.entries, ok))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	notGz := filepath.Join(t.TempDir(), "x.tar.gz")
	os.WriteFile(notGz, []byte("plain text"), 0o644)
	if _, err := apppkg.Open(notGz); err == nil || !strings.Contains(err.Error(), "not a gzip-compressed tar") {
		t.Errorf("plain file: %v", err)
	}
}

func TestLocate(t *testing.T) {
	p := agent.Paths{Scripts: "/opt/scripts"}
	tests := []struct{ pkg, envPath, want, err string }{
		{"s3://bucket/releases/cso-2.4.1.tar.gz", "", "/opt/scripts/packages/cso-2.4.1.tar.gz", ""},
		{"/srv/cso.tar.gz", "", "/srv/cso.tar.gz", ""},
		{"pkgs/cso.tar.gz", "/work/environments/env.dev.yaml", "/work/environments/pkgs/cso.tar.gz", ""},
		// On EC2 the env file came from the bucket; cso deploy published the local file.
		{"pkgs/cso.tar.gz", "s3://dev-cso-files-111122223333/scripts/env.dev.yaml", "/opt/scripts/packages/cso.tar.gz", ""},
		{"s3://bucket", "", "", "expected s3://bucket/key"},
		{"", "", "", "no application package"},
	}
	for _, tc := range tests {
		got, err := apppkg.Locate(&envfile.Env{Path: tc.envPath, Application: envfile.Application{Package: tc.pkg}}, p)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %q, %v; want error %q", tc.pkg, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.pkg, got, err, tc.want)
		}
	}
}

// TestUnpack installs the fixture package through the role steps: the first run unpacks
// it, the second changes nothing, a new version goes to its own directory.
func TestUnpack(t *testing.T) {
	dir := t.TempDir()
	pkgPath := fixture.Build(t, dir)
	env := &envfile.Env{Name: "t", DomainSuffix: "cso.test", Application: envfile.Application{Package: pkgPath}}
	hosts := inventory.Local(env, inventory.LocalOptions{PortBase: 5000})
	h, _ := inventory.Find(hosts, "backend-server-1")
	rt := &agent.Runtime{Env: env, Host: h, Hosts: hosts, Paths: agent.Paths{Data: filepath.Join(dir, "data"), Scripts: dir}}
	app, err := apppkg.NewApp(rt)
	if err != nil {
		t.Fatal(err)
	}
	run := func() []string {
		res, err := agent.Run(context.Background(), rt, stepsRole(app.PackageSteps(apppkg.HostOptions{PackageWait: time.Second})), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Changed
	}
	if c := run(); len(c) != 1 || !strings.Contains(c[0], "unpack application package cso-fixture 1.0.0-test") {
		t.Fatalf("first run: %v", c)
	}
	p, _ := app.Package()
	if _, err := os.Stat(filepath.Join(app.Dir(p), "lib", "cso-fixture.jar")); err != nil {
		t.Fatal(err)
	}
	if c := run(); len(c) != 0 {
		t.Fatalf("second run changed: %v", c)
	}
	// A new version of the package replaces the file: a new directory.
	fixture.Build(t, dir, func(m *apppkg.Manifest) { m.Version = "1.0.0-test"; m.Name = "cso-fixture-2" })
	app2, _ := apppkg.NewApp(rt)
	p2, err := app2.Package()
	if err != nil {
		t.Fatal(err)
	}
	if p2.SHA256 == p.SHA256 || app2.Dir(p2) == app.Dir(p) {
		t.Fatalf("a changed package must get its own directory: %s vs %s", app2.Dir(p2), app.Dir(p))
	}
}

type stepsRole []agent.Step

func (stepsRole) Role() envfile.Role                           { return envfile.RoleBackend }
func (s stepsRole) Steps(*agent.Runtime) ([]agent.Step, error) { return s, nil }

// TestDependencyWaitIsBounded: with nothing answering, the wait gives up within its bound
// and says which hosts it waited for.
func TestDependencyWaitIsBounded(t *testing.T) {
	dir := t.TempDir()
	env := &envfile.Env{Name: "t", DomainSuffix: "cso.test"}
	hosts := inventory.Local(env, inventory.LocalOptions{PortBase: 5000})
	h, _ := inventory.Find(hosts, "frontend-server-1")
	// A CA file, so the probes get as far as the network.
	os.MkdirAll(filepath.Join(dir, "ca"), 0o755)
	os.WriteFile(filepath.Join(dir, "ca", "ca.crt"), testCAPEM(t), 0o644)
	rt := &agent.Runtime{Env: env, Host: h, Hosts: hosts, Paths: agent.Paths{SSLCerts: dir},
		Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")}}
	start := time.Now()
	_, err := agent.Run(context.Background(), rt, stepsRole(apppkg.DependencySteps(rt, apppkg.HostOptions{DependencyWait: 2 * time.Second})), nil)
	if err == nil {
		t.Fatal("waited successfully for dependencies that do not run")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("wait took %s, bound is 2s per dependency", d)
	}
	if !strings.Contains(err.Error(), "keystone01") || !strings.Contains(err.Error(), "gave up waiting for Keystone") {
		t.Errorf("error does not say what it waited for: %v", err)
	}
}

func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestProbeKeystone: the Keystone probe wants GET /v3 200 over TLS that verifies against the
// project CA (here an in-process HTTPS server with a certificate of the stack's CA stands in
// for Keystone's Apache).
func TestProbeKeystone(t *testing.T) {
	s := stacktest.New(t, "probe", inventory.LocalOptions{PortBase: 5000})
	ks := s.Host("keystone01")
	crt, err := tls.LoadX509KeyPair(s.Certs.ServerCert(ks.Name), s.Certs.ServerKey(ks.Name))
	if err != nil {
		t.Fatal(err)
	}
	code := http.StatusOK
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, `{"version": {"id": "v3.14", "status": "stable"}}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{crt}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ks.Ports[inventory.PortKeystone], _ = strconv.Atoi(port)
	rt := s.Runtime(s.Host("frontend-server-1"))
	ctx := context.Background()

	if err := apppkg.ProbeKeystone(ctx, rt, ks, s.Pool); err != nil {
		t.Errorf("Keystone answering: %v", err)
	}
	code = http.StatusServiceUnavailable
	if err := apppkg.ProbeKeystone(ctx, rt, ks, s.Pool); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Keystone answering 503: %v", err)
	}
	code = http.StatusOK
	if err := apppkg.ProbeKeystone(ctx, rt, ks, x509.NewCertPool()); err == nil {
		t.Error("a certificate of an unknown CA was accepted")
	}
}

// TestHostWaitsByPlatform: on EC2 (al2023) an application host waits 45 min for the
// package and for Keystone and RabbitMQ (all instances boot together; the jump server
// syncs and issues certificates after its own setup, a Keystone node may spend 20 min in
// pip), locally 10 min; explicit bounds win. The bound shows in what the step says.
func TestHostWaitsByPlatform(t *testing.T) {
	for platform, want := range map[agent.Platform]time.Duration{&agent.AL2023{}: 45 * time.Minute, agent.NewLocal(t.TempDir(), t.TempDir()): 10 * time.Minute} {
		o := apppkg.HostOptions{}.Defaults(&agent.Runtime{Platform: platform})
		if o.PackageWait != want || o.DependencyWait != want || o.ServiceReady != 3*time.Minute {
			t.Errorf("%s defaults %+v, want package and dependency waits %s", platform.Name(), o, want)
		}
	}
	if o := (apppkg.HostOptions{DependencyWait: time.Second}).Defaults(&agent.Runtime{Platform: &agent.AL2023{}}); o.DependencyWait != time.Second {
		t.Errorf("explicit dependency wait replaced: %s", o.DependencyWait)
	}

	dir := t.TempDir()
	env := &envfile.Env{Name: "t", DomainSuffix: "cso.test", Path: "s3://bucket/env.t.yaml", Application: envfile.Application{Package: "app.tar.gz"}}
	hosts := inventory.Hosts(env)
	h, _ := inventory.Find(hosts, "frontend-server-1")
	for _, tc := range []struct {
		platform agent.Platform
		want     string
	}{
		{&agent.AL2023{}, "45m0s"},
		{agent.NewLocal(t.TempDir(), t.TempDir()), "10m0s"},
	} {
		rt := &agent.Runtime{Env: env, Host: h, Hosts: hosts, Platform: tc.platform,
			Paths:   agent.Paths{SSLCerts: filepath.Join(dir, "no-ca"), Scripts: filepath.Join(dir, "scripts"), Data: filepath.Join(dir, "data")},
			Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")}}
		var summaries []string
		app, err := apppkg.NewApp(rt)
		if err != nil {
			t.Fatal(err)
		}
		steps := append(app.PackageSteps(apppkg.HostOptions{}), apppkg.DependencySteps(rt, apppkg.HostOptions{})...)
		for _, s := range steps {
			for _, task := range s.Tasks {
				if !strings.HasPrefix(task.Name(), "wait for ") {
					continue
				}
				c, err := task.Check(context.Background(), rt)
				if err != nil || !c.Needed {
					t.Fatalf("%s: %+v, %v", task.Name(), c, err)
				}
				summaries = append(summaries, c.Summary)
			}
		}
		if len(summaries) != 3 {
			t.Fatalf("%s: waits %q, want the package, Keystone and RabbitMQ", tc.platform.Name(), summaries)
		}
		for _, s := range summaries {
			if !strings.HasPrefix(s, "wait up to "+tc.want+" for ") {
				t.Errorf("%s: %q, want a bound of %s", tc.platform.Name(), s, tc.want)
			}
		}
	}
}
