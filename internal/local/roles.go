package local

import (
	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/cwagent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/roles/backend"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
)

// DefaultRoles are the roles `cso local up` and `cso agent` converge, by role name. Each
// runs the CloudWatch agent first on al2023 (internal/cwagent; nothing locally).
func DefaultRoles() map[envfile.Role]func() agent.Role {
	roles := map[envfile.Role]func() agent.Role{
		envfile.RoleJump:     jump.New,
		envfile.RoleKeystone: keystone.New,
		envfile.RoleRabbitMQ: rabbitmq.New,
		envfile.RoleFrontend: frontend.New,
		envfile.RoleBackend:  backend.New,
	}
	for r, mk := range roles {
		roles[r] = func() agent.Role { return cwagent.WithCloudWatch(mk()) }
	}
	return roles
}

// Stages are the dependency order of LLD 2.4.3: the jump host (and the database) first;
// Keystone and RabbitMQ side by side; then the hosts that use them. `up` starts every host
// at once (each role waits for its dependencies); `down` stops in the reverse order.
var Stages = [][]envfile.Role{
	{RoleDatabase, envfile.RoleJump},
	{envfile.RoleKeystone, envfile.RoleRabbitMQ},
	{envfile.RoleFrontend, envfile.RoleBackend},
}
