// Package roles_test checks what every role shares.
package roles_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/backend"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
)

// On Amazon Linux every role's first step installs the agent timer (agent.ResyncSteps),
// running the agent with the host's own role and index; locally no role has it.
func TestEveryRoleInstallsTheAgentTimer(t *testing.T) {
	env := &envfile.Env{Name: "dev-ha", Region: "eu-west-2", DomainSuffix: "cso.ss", HA: true}
	hosts := inventory.Hosts(env)
	for _, role := range []agent.Role{jump.New(), keystone.New(), rabbitmq.New(), frontend.New(), backend.New()} {
		name := inventory.HostName(role.Role(), 1)
		h, ok := inventory.Find(hosts, name)
		if !ok {
			t.Fatalf("no %s in the inventory", name)
		}
		dir := t.TempDir()
		paths := agent.Paths{Root: dir, SSLCerts: dir + "/opt/ssl-certs", Scripts: dir + "/opt/scripts", Etc: dir + "/etc",
			Data: dir + "/var/lib", Log: dir + "/var/log", Run: dir + "/run"}
		rt := &agent.Runtime{Env: env, Host: h, Hosts: hosts, Paths: paths, Executable: "/usr/local/bin/cso",
			Platform: &agent.AL2023{UnitDir: filepath.Join(dir, "units")}, MySQLAdminUser: agent.DefaultMySQLAdminUser, MySQLCAFile: "/etc/pki/cso/rds-ca-bundle.pem",
			Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")}}
		steps, err := role.Steps(rt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(steps) == 0 || steps[0].Name != agent.ResyncStepName {
			t.Errorf("%s: first step %q, want %q", name, steps[0].Name, agent.ResyncStepName)
		}
		want := "--role " + string(role.Role()) + " --index 1 "
		if args := strings.Join(agent.ResyncArgs(rt), " "); !strings.Contains(args, want) {
			t.Errorf("%s: agent arguments %q lack %q", name, args, want)
		}

		rt.Platform = agent.NewLocal(dir, dir)
		steps, err = role.Steps(rt)
		if err != nil {
			t.Fatalf("%s local: %v", name, err)
		}
		for _, s := range steps {
			if s.Name == agent.ResyncStepName {
				t.Errorf("%s: the local platform got the agent timer", name)
			}
		}
	}
}
