// Package jump is the jump server role (LLD 3.5, 5.3): it prepares everything the other
// hosts need before they start. It writes the PKI material to the shared certificate store,
// makes sure the generated secrets exist, bootstraps the databases with least-privilege
// users (LLD 2.6.2), copies scripts and packages from the bucket to the shared scripts
// store (LLD 5.3, log efs-s3-sync.log) and runs the admin service (`cso admin serve`).
package jump

import (
	"path/filepath"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// New returns the jump role.
func New() agent.Role { return role{} }

type role struct{}

func (role) Role() envfile.Role { return envfile.RoleJump }

// GeneratedSecrets are the secrets the platform's roles use; the jump role makes sure each
// exists before any other role asks for it. On AWS Terraform generates them and the jump
// role checks those it reads itself (JumpSecrets): its instance role reads no other.
var GeneratedSecrets = []string{
	agent.SecretKeystoneDB, agent.SecretPortalDB, agent.SecretKeystoneAdmin, agent.SecretKeystoneAutomation,
	agent.SecretRabbitMQ, agent.SecretErlangCookie, agent.SecretKeystoneApplication,
}

// JumpSecrets are the generated secrets the jump server reads on AWS: the database users'
// passwords (it creates the users), the Keystone admin and ssp_user (cso check and the
// dashboard's probes). The Erlang cookie is the RabbitMQ nodes' alone
// (terraform/modules/security local.secret_readers).
var JumpSecrets = []string{
	agent.SecretKeystoneDB, agent.SecretPortalDB, agent.SecretKeystoneAdmin, agent.SecretRabbitMQ,
	agent.SecretKeystoneApplication, // it creates the application's identity
}

// CAKeyPath is where the jump host keeps the CA private key (0600, never in the shared store).
func CAKeyPath(p agent.Paths) string { return filepath.Join(p.Data, "cso-pki", "ca.key") }

func (role) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	p := rt.Paths
	store := pki.Store{Dir: p.SSLCerts}
	// The agent timer comes first (agent.ResyncSteps): a first run that stops half-way is
	// retried from the timer.
	steps := append(agent.ResyncSteps(rt), agent.OwnTLSSteps(rt)...)
	steps = append(steps, []agent.Step{
		{Name: "layout", Tasks: []agent.Task{
			agent.Dir{Path: p.SSLCerts, Mode: 0o755},
			agent.Dir{Path: filepath.Dir(store.CACert()), Mode: 0o755},
			agent.Dir{Path: p.Scripts, Mode: 0o755},
			agent.Dir{Path: p.Log, Mode: 0o755},
			agent.Dir{Path: filepath.Dir(CAKeyPath(p)), Mode: 0o700},
		}},
		{Name: "pki", Tasks: pkiTasks(rt, store)},
	}...)
	// AWS: the host certificates are renewed here, on the agent timer (issue #13).
	steps = append(steps, renewSteps(rt)...)
	steps = append(steps, []agent.Step{
		{Name: "secrets", Tasks: secretTasks(rt)},
		{Name: "database", Tasks: databaseTasks(rt)},
		{Name: "s3-sync", Tasks: []agent.Task{syncTask{}}},
	}...)
	if t := adminTask(rt); t != nil {
		steps = append(steps, agent.Step{Name: "admin", Tasks: []agent.Task{t}})
	}
	// Last: it waits for Keystone, which the other hosts bring up meanwhile.
	if len(inventory.ByRole(rt.Hosts, envfile.RoleKeystone)) > 0 {
		steps = append(steps, agent.Step{Name: "keystone-automation", Tasks: []agent.Task{automationTask()}})
		// The application's own identity (its services' keystone binding).
		steps = append(steps, agent.Step{Name: "keystone-application", Tasks: []agent.Task{applicationTask()}})
	}
	// After everything: a backup reads Keystone's key sets and RabbitMQ's definitions.
	steps = append(steps, agent.Step{Name: "backup-schedule", Tasks: []agent.Task{backupTask()}})
	return steps, nil
}
