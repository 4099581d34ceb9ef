package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
)

type fixtureHealth struct {
	Service  string `json:"service"`
	Bindings map[string]struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"bindings"`
}

// health reads an application service's health document, waiting (bounded) until no
// binding is pending and settled(h) holds.
func health(ctx context.Context, t *testing.T, url string, settled func(fixtureHealth) bool) fixtureHealth {
	t.Helper()
	var h fixtureHealth
	var last string
	for ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			last = string(b)
			h = fixtureHealth{}
			if resp.StatusCode == 200 && json.Unmarshal(b, &h) == nil && !strings.Contains(last, `"pending"`) && settled(h) {
				return h
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	t.Errorf("%s: no settled health document in time: %s", url, last)
	return h
}

// TestApplicationBindingsGreen: on the local HA stack every application service uses every
// binding for real (a row in cso_portal over verified TLS, a quorum queue on ssp over AMQPS
// with the truststore, its Keystone service account) and reports it ok; cso check shows
// one green bindings result per service; a user's token validates through a service (its
// service account's role suffices) and a forged one does not.
func TestApplicationBindingsGreen(t *testing.T) {
	s := requireStack(t)
	// A service checks its bindings at start and every minute after: one that started
	// before the jump host made its Keystone identity is green at its next check.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The first service may wait for a recheck (3 min); the others then have one interval
	// each, so one red service does not eat the others' time.
	wait := 3 * time.Minute
	allOK := func(h fixtureHealth) bool {
		for _, b := range []string{"mysql", "rabbitmq", "keystone"} {
			if h.Bindings[b].Status != "ok" {
				return false
			}
		}
		return true
	}
	if len(s.Target.AppHealth) == 0 {
		t.Fatal("the target describes no application health path")
	}
	services := 0
	var anyBackend string
	for _, h := range s.Target.Hosts {
		if h.Role != envfile.RoleFrontend && h.Role != envfile.RoleBackend {
			continue
		}
		for name, path := range s.Target.AppHealth {
			port, ok := h.Ports[name]
			if !ok {
				continue
			}
			base := "http://" + net.JoinHostPort(h.Address, strconv.Itoa(port))
			wctx, wcancel := context.WithTimeout(ctx, wait)
			hd := health(wctx, t, base+path, allOK)
			wcancel()
			wait = 75 * time.Second
			services++
			for _, b := range []string{"mysql", "rabbitmq", "keystone"} {
				if got := hd.Bindings[b]; got.Status != "ok" {
					t.Errorf("%s %s: binding %s is %s (%s)", h.Name, name, b, got.Status, got.Reason)
				}
			}
			if h.Role == envfile.RoleBackend {
				anyBackend = base
			}
		}
	}
	if services < 15 {
		t.Errorf("only %d application services report their bindings", services)
	}

	out, errOut, code, err := s.Run(ctx, "check", "--local-dir", s.Dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Check, Target, Status, Detail string
		} `json:"results"`
	}
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("cso check -o json (exit %d): %v\n%s", code, jerr, errOut)
	}
	green := 0
	for _, r := range rep.Results {
		if r.Check != "bindings" {
			continue
		}
		if r.Status != "ok" {
			t.Errorf("cso check: bindings %s is %s: %s", r.Target, r.Status, r.Detail)
		}
		green++
	}
	if green != services {
		t.Errorf("cso check shows %d bindings results, want one per service (%d)", green, services)
	}

	ks := keystoneNodes(t, s)
	tok, err := local.IssueTokenAs(ctx, ks[0].c, ks[0].base, agent.KeystoneAutomationUser, admSecret(t, s.Target, agent.SecretKeystoneAutomation))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{tok, 200}, {"gAAAAAforgedtoken" + strings.Repeat("x", 100), 401}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, anyBackend+"/validate", nil)
		req.Header.Set("X-Auth-Token", tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("/validate: HTTP %d, want %d: %s", resp.StatusCode, tc.want, b)
		}
	}
}

// TestApplicationBindingsRed runs the fixture's jar beside the stack with a copy of a
// backend host's bindings in which the database password is wrong and the brokers'
// addresses do not answer: mysql and rabbitmq turn red, each with its own reason, keystone
// stays green, and no secret appears in its answer or output.
func TestApplicationBindingsRed(t *testing.T) {
	s := requireStack(t)
	java, err := exec.LookPath("java")
	if err != nil {
		const msg = "java is missing: run scripts/install-deps.sh (openjdk-17-jdk-headless)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var be inventory.Host
	for _, h := range s.Target.Hosts {
		if h.Role == envfile.RoleBackend {
			be = h
			break
		}
	}
	data := filepath.Join(s.Target.HostDirs[be.Name], "data")
	jars, _ := filepath.Glob(filepath.Join(data, "cso-app", "*", "lib", "cso-fixture.jar"))
	if len(jars) == 0 {
		t.Fatalf("no fixture jar under %s", data)
	}
	root := t.TempDir()
	src := filepath.Join(data, "cso-app-bindings")
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(root, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	wrong := "WrongPassw0rdWrongPassw0rd123456"
	closed := freePort(t)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "mysql", "password"), []byte(wrong), 0o600))
	must(os.WriteFile(filepath.Join(root, "rabbitmq", "addresses"), []byte("127.0.0.1:"+closed), 0o600))
	port := freePort(t)
	host, mport, _ := net.SplitHostPort(s.Target.MySQL)
	cmd := exec.Command(java, "-Xmx32m", "-XX:TieredStopAtLevel=1", "-jar", jars[0])
	cmd.Env = append(os.Environ(), "SERVICE_NAME=red-fixture", "PORT="+port, "BIND=127.0.0.1", "HEALTH_PATH=/health",
		"SERVICE_BINDING_ROOT="+root, "CSO_TRUSTSTORE="+filepath.Join(root, "ca", "truststore.p12"),
		fmt.Sprintf("CSO_MYSQL_JDBC_URL=jdbc:mariadb://%s/cso_portal?useSsl=true&serverSslCert=%s", net.JoinHostPort(host, mport), filepath.Join(root, "mysql", "ca.crt")))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := health(ctx, t, "http://127.0.0.1:"+port+"/health", func(fixtureHealth) bool { return true })
	for b, want := range map[string]string{"mysql": "Access denied", "rabbitmq": "Connection refused"} {
		if got := h.Bindings[b]; got.Status != "fail" || !strings.Contains(got.Reason, want) {
			t.Errorf("binding %s: %s %q, want fail with %q", b, got.Status, got.Reason, want)
		}
	}
	if got := h.Bindings["keystone"]; got.Status != "ok" {
		t.Errorf("binding keystone: %s %q, want ok", got.Status, got.Reason)
	}
	pw, _ := os.ReadFile(filepath.Join(root, "keystone", "password"))
	for _, secret := range []string{wrong, strings.TrimSpace(string(pw))} {
		if strings.Contains(out.String(), secret) {
			t.Error("a binding secret appears in the service's output")
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
