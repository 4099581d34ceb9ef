package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

func certServer(t *testing.T, cert tls.Certificate) int {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// TestCertsCommand: `cso certs` lists the CA and each TLS port's certificate with the
// check engine's verdict; a certificate with 5 days left fails (exit 1), one with 20 warns.
func TestCertsCommand(t *testing.T) {
	dir := t.TempDir()
	ca := checktest.ValidCA(t)
	now := time.Now()
	ks := "keystone-server-1.dev.cso.ss"
	rmq := "rabbitmq-server-1.dev.cso.ss"
	ksPort := certServer(t, ca.Leaf(ks, now.Add(-time.Hour), now.Add(20*24*time.Hour+time.Hour)))
	mgmtPort := certServer(t, ca.Leaf(rmq, now.Add(-time.Hour), now.Add(5*24*time.Hour+time.Hour)))
	tg := &target.Target{Env: "dev", Kind: "local", CACert: ca.File, SharedDir: dir, Hosts: []inventory.Host{
		{Name: "keystone-server-1", Role: envfile.RoleKeystone, FQDN: ks, Address: "127.0.0.1", Ports: map[string]int{inventory.PortKeystone: ksPort}},
		{Name: "rabbitmq-server-1", Role: envfile.RoleRabbitMQ, FQDN: rmq, Address: "127.0.0.1", Ports: map[string]int{inventory.PortManagement: mgmtPort}},
	}}
	if err := tg.Save(filepath.Join(dir, target.FileName)); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Run([]string{"certs", "--local-dir", dir, "--timeout", "3s"}, nil, &out, &errb)
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1 (5 days left fails)\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"keystone-server-1:", "WARN", "rabbitmq-server-1:", "FAIL", "CN=" + ks, "CN=" + rmq, "ca "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	Run([]string{"certs", "--local-dir", dir, "-o", "json"}, nil, &out, &errb)
	var doc struct {
		Certs []certRow `json:"certificates"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	days := map[string]int{}
	for _, c := range doc.Certs {
		if c.Cert == nil {
			t.Fatalf("%s: no certificate details: %s", c.Target, c.Detail)
		}
		days[c.Host+"/"+c.Port] = c.Cert.DaysLeft
		if c.Target != "ca" && (len(c.Cert.SANs) == 0 || !strings.Contains(c.Cert.Issuer, "CN=")) {
			t.Errorf("%s: SANs %v, issuer %q", c.Target, c.Cert.SANs, c.Cert.Issuer)
		}
	}
	if days["keystone-server-1/keystone"] != 20 || days["rabbitmq-server-1/management"] != 5 || len(doc.Certs) != 3 {
		t.Errorf("days left %v (want keystone 20, management 5, and the CA)", days)
	}
}

// TestCertsRenewBadInput: renew refuses, exit 2 and nothing written, an unknown host, a
// directory without a local target, --env of another environment and bad flag values.
func TestCertsRenewBadInput(t *testing.T) {
	envDir, _ := filepath.Abs("../../environments")
	empty := t.TempDir()
	dir := t.TempDir()
	tg := &target.Target{Env: "dev", Kind: "local", MySQL: "127.0.0.1:3306"}
	if err := tg.Save(filepath.Join(dir, target.FileName)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown host", []string{"--local-dir", dir, "keystone-server-9"}, "unknown host keystone-server-9"},
		{"no local target", []string{"--local-dir", empty}, "no local target"},
		{"env without a local target", []string{"--local-dir", empty, "--env", "prod"}, "jump server's timer"},
		{"other env", []string{"--local-dir", dir, "--env", "prod"}, `is environment "dev", not "prod"`},
		{"days zero", []string{"--local-dir", dir, "--days", "0"}, "--days 0"},
		{"short lifetime", []string{"--local-dir", dir, "--lifetime", "1s"}, "--lifetime 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"--env-dir", envDir, "certs", "renew"}, tc.args...), nil, &out, &errb)
			if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("bad input changed %s: %d entries, was %d", dir, len(after), len(before))
	}
}
