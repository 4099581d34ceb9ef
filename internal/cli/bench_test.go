package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// countingListener accepts and counts connections on 127.0.0.1: the refusals below must
// leave it at zero.
func countingListener(t *testing.T) (port int, accepted *atomic.Int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, accepted
}

func benchTarget(t *testing.T, dir string, hosts []inventory.Host, secrets string) string {
	ca := checktest.ValidCA(t)
	tg := &target.Target{Env: "dev-ha", Kind: "local", CACert: ca.File, SharedDir: dir, SecretsDir: secrets, Hosts: hosts}
	file := filepath.Join(dir, target.FileName)
	if err := tg.Save(file); err != nil {
		t.Fatal(err)
	}
	return file
}

// Bad input to the load tool: exit 2, a message naming what is wrong, and not one
// connection to any node.
func TestBenchKeystoneRefusals(t *testing.T) {
	port, accepted := countingListener(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, secretKeystoneAdmin), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := func(i int, addr string) inventory.Host {
		name := inventory.HostName(envfile.RoleKeystone, i)
		return inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: i, FQDN: name + ".dev-ha.cso.ss", Address: addr,
			Ports: map[string]int{inventory.PortKeystone: port}}
	}
	good := benchTarget(t, t.TempDir(), []inventory.Host{local(1, "127.0.0.1")}, secrets)
	outside := benchTarget(t, t.TempDir(), []inventory.Host{local(1, "127.0.0.1"), local(2, "10.0.0.9")}, secrets)
	noSecrets := benchTarget(t, t.TempDir(), []inventory.Host{local(1, "127.0.0.1")}, "")
	emptyPW := filepath.Join(dir, "empty")
	os.WriteFile(emptyPW, nil, 0o600)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no count bound", []string{"--target", good, "--requests", "0"}, "bounded in count"},
		{"no time bound", []string{"--target", good, "--duration", "0s"}, "bounded in time"},
		{"too long", []string{"--target", good, "--duration", "2h"}, "bounded in time"},
		{"too many clients", []string{"--target", good, "--clients", "100000"}, "clients"},
		{"unknown operation", []string{"--target", good, "--op", "flood"}, `operation "flood"`},
		{"a node outside loopback", []string{"--target", outside}, "10.0.0.9"},
		{"no credential", []string{"--target", noSecrets}, "no credential"},
		{"an empty password file", []string{"--target", good, "--password-file", emptyPW}, "is empty"},
		{"a missing password file", []string{"--target", good, "--password-file", filepath.Join(dir, "nope")}, "--password-file"},
	} {
		var out, errb bytes.Buffer
		code := Run(append([]string{"bench", "keystone"}, c.args...), nil, &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, errb.String(), ExitUsage, c.want)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("refused runs opened %d connections", n)
	}
}

// A run against two Keystone test doubles: JSON with exact counts, exit 0.
func TestBenchKeystoneJSON(t *testing.T) {
	dir := t.TempDir()
	ca := checktest.ValidCA(t)
	cluster := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{"admin": {Password: "the-pw", Roles: []string{"admin"}}})
	tg := &target.Target{Env: "dev-ha", Kind: "local", CACert: ca.File, SharedDir: dir}
	for i := 1; i <= 2; i++ {
		name := inventory.HostName(envfile.RoleKeystone, i)
		k := cluster.NewKeystone(t, ca.ValidLeaf(name+".dev-ha.cso.ss"))
		tg.Hosts = append(tg.Hosts, inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: i, FQDN: name + ".dev-ha.cso.ss",
			Address: "127.0.0.1", Ports: map[string]int{inventory.PortKeystone: k.Server.Listener.Addr().(*net.TCPAddr).Port}})
	}
	file := filepath.Join(dir, target.FileName)
	if err := tg.Save(file); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("the-pw\n"), 0o600)
	var out, errb bytes.Buffer
	code := Run([]string{"bench", "keystone", "--target", file, "--password-file", pw, "--clients", "4", "--requests", "40", "-o", "json"}, nil, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	var res struct {
		Sent, OK, Failed int
		PerNode          map[string]int `json:"per_node"`
		P99              float64        `json:"p99_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Sent != 40 || res.OK != 40 || res.Failed != 0 || res.PerNode["keystone01"] != 20 || res.PerNode["keystone02"] != 20 {
		t.Errorf("result %+v, want 40 ok, 20 per node", res)
	}
}

// Bad input to the soak: exit 2, a message naming what is wrong, and not one connection.
func TestBenchSoakRefusals(t *testing.T) {
	port, accepted := countingListener(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, secretKeystoneAdmin), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := func(i int, addr string) inventory.Host {
		name := inventory.HostName(envfile.RoleKeystone, i)
		return inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: i, FQDN: name + ".dev-ha.cso.ss", Address: addr,
			Ports: map[string]int{inventory.PortKeystone: port}}
	}
	good := filepath.Dir(benchTarget(t, t.TempDir(), []inventory.Host{host(1, "127.0.0.1")}, secrets))
	outside := filepath.Dir(benchTarget(t, t.TempDir(), []inventory.Host{host(1, "10.0.0.9")}, secrets))
	noSecrets := filepath.Dir(benchTarget(t, t.TempDir(), []inventory.Host{host(1, "127.0.0.1")}, ""))
	awsDir := t.TempDir()
	ca := checktest.ValidCA(t)
	aws := &target.Target{Env: "dev-ha", Kind: target.KindAWS, CACert: ca.File, Hosts: []inventory.Host{host(1, "127.0.0.1")}}
	if err := aws.Save(filepath.Join(awsDir, target.FileName)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no time bound", []string{"--local-dir", good, "--duration", "0s"}, "bounded in time"},
		{"too long", []string{"--local-dir", good, "--duration", "2h"}, "bounded in time"},
		{"no rate", []string{"--local-dir", good, "--rate", "0"}, "keystone rate 0"},
		{"a message flood", []string{"--local-dir", good, "--message-rate", "1000000"}, "message rate"},
		{"agents every second", []string{"--local-dir", good, "--agent-every", "1s"}, "agent interval"},
		{"no target", []string{"--local-dir", t.TempDir()}, "target.json"},
		{"an AWS target", []string{"--local-dir", awsDir}, "only a local target"},
		{"a node outside loopback", []string{"--local-dir", outside}, "10.0.0.9"},
		{"no credential", []string{"--local-dir", noSecrets}, "no credential"},
		{"no RabbitMQ credential", []string{"--local-dir", good}, "rabbitmq-ssp-password"},
	} {
		var out, errb bytes.Buffer
		code := Run(append([]string{"bench", "soak"}, c.args...), nil, &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, errb.String(), ExitUsage, c.want)
		}
	}
	// Every credential there, but the agents' environment file not where --env-dir says: the
	// soak re-runs every agent each minute, and each would fail; refused before it starts.
	withMQ := filepath.Join(t.TempDir(), "secrets")
	if err := os.MkdirAll(withMQ, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{secretKeystoneAdmin, agent.SecretRabbitMQ} {
		if err := os.WriteFile(filepath.Join(withMQ, name), []byte("pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ready := filepath.Dir(benchTarget(t, t.TempDir(), []inventory.Host{host(1, "127.0.0.1")}, withMQ))
	var out, errb bytes.Buffer
	code := Run([]string{"--env-dir", t.TempDir(), "bench", "soak", "--local-dir", ready}, nil, &out, &errb)
	if code != ExitUsage || !strings.Contains(errb.String(), "env.dev-ha.yaml") || !strings.Contains(errb.String(), "--env-dir") {
		t.Errorf("no environment file for the agents: exit %d, stderr %q; want %d naming env.dev-ha.yaml and --env-dir", code, errb.String(), ExitUsage)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("refused soaks opened %d connections", n)
	}
}
