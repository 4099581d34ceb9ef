package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// Bad input to `cso bench rabbitmq`: exit 2, a message naming what is wrong, and not one
// connection to any node.
func TestBenchRabbitMQRefusals(t *testing.T) {
	port, accepted := countingListener(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, agent.SecretRabbitMQ), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := func(i int, addr string) inventory.Host {
		name := inventory.HostName(envfile.RoleRabbitMQ, i)
		return inventory.Host{Name: name, Role: envfile.RoleRabbitMQ, Index: i, FQDN: name + ".dev-ha.cso.ss", Address: addr,
			Ports: map[string]int{inventory.PortAMQPS: port}}
	}
	good := benchTarget(t, t.TempDir(), []inventory.Host{node(1, "127.0.0.1")}, secrets)
	outside := benchTarget(t, t.TempDir(), []inventory.Host{node(1, "127.0.0.1"), node(2, "10.0.0.9")}, secrets)
	noSecrets := benchTarget(t, t.TempDir(), []inventory.Host{node(1, "127.0.0.1")}, "")
	// The Keystone password is not RabbitMQ's: a secrets directory without it is no credential.
	ksOnly := filepath.Join(dir, "ks-secrets")
	os.MkdirAll(ksOnly, 0o700)
	os.WriteFile(filepath.Join(ksOnly, secretKeystoneAdmin), []byte("pw\n"), 0o600)
	wrongSecret := benchTarget(t, t.TempDir(), []inventory.Host{node(1, "127.0.0.1")}, ksOnly)
	emptyPW := filepath.Join(dir, "empty")
	os.WriteFile(emptyPW, nil, 0o600)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no count bound", []string{"--target", good, "--messages", "0"}, "bounded in count"},
		{"no time bound", []string{"--target", good, "--duration", "0s"}, "bounded in time"},
		{"too long", []string{"--target", good, "--duration", "2h"}, "bounded in time"},
		{"too many publishers", []string{"--target", good, "--publishers", "100000"}, "publishers"},
		{"no prefetch", []string{"--target", good, "--prefetch", "0"}, "prefetch 0"},
		{"no confirm window", []string{"--target", good, "--confirm-window", "0"}, "confirm window 0"},
		{"a negative rate", []string{"--target", good, "--rate", "-5"}, "rate -5"},
		{"an application's queue", []string{"--target", good, "--queue", "notifications"}, `queue "notifications"`},
		{"a node outside loopback", []string{"--target", outside}, "10.0.0.9"},
		{"no credential", []string{"--target", noSecrets}, "no credential"},
		{"only Keystone's credential", []string{"--target", wrongSecret}, agent.SecretRabbitMQ},
		{"an empty password file", []string{"--target", good, "--password-file", emptyPW}, "is empty"},
	} {
		var out, errb bytes.Buffer
		code := Run(append([]string{"bench", "rabbitmq"}, c.args...), nil, &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, errb.String(), ExitUsage, c.want)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("refused runs opened %d connections", n)
	}
}
