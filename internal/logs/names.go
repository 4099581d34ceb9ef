package logs

import (
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// staticLogNames are the names cwagent.Logs gives host h's logs, for builds where cwagent
// (and the roles it reads paths from) does not compile (Windows);
// TestStaticLogNamesMatchCWAgent keeps them equal.
func staticLogNames(h inventory.Host) []string {
	names := []string{"setup", "cloud-init", "agent"}
	switch h.Role {
	case envfile.RoleJump:
		names = append(names, "efs-s3-sync", "admin")
	case envfile.RoleKeystone:
		names = append(names, "keystone", "keystone-httpd", "keystone-httpd-error")
	case envfile.RoleRabbitMQ:
		names = append(names, "rabbitmq")
	case envfile.RoleFrontend:
		names = append(names, "nginx-access", "nginx-error", "application")
	case envfile.RoleBackend:
		names = append(names, "application")
	}
	return names
}
