package logs

import (
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// ec2LogNames: cwagent (and the roles it reads paths from) does not build on Windows; the
// names are those of cwagent.Logs, which TestLogNamesMatchCWAgent keeps equal.
func ec2LogNames(h inventory.Host) []string {
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
