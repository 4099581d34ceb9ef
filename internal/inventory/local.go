package inventory

import (
	"github.com/cso-ssp/platform/internal/envfile"
)

// LocalOptions shapes the local target: every host runs on 127.0.0.1, so hosts of the same
// role are told apart by port offsets.
type LocalOptions struct {
	HA bool // two Keystone nodes and three RabbitMQ nodes; else one of each
	// PortBase shifts every port by this amount, so that tests can run stacks side by side
	// (0 in normal use).
	PortBase int
	// AppHosts is the number of frontend and backend hosts (0 or 1: one of each). Host i of
	// them gets ports offset by AppPortStep*(i-1), so a rolling release can be shown
	// locally (cso local up --app-ha: two of each).
	AppHosts int
}

// AppPortStep separates the ports of the local target's frontend (and backend) hosts: more
// than the span of their own ports (8080 to 8202), and clear of every other port of a local
// stack, including the stacks of other port bases that tests run side by side.
const AppPortStep = 300

// LocalMySQLPort is the MariaDB port of the local target (RDS stand-in), before PortBase.
const LocalMySQLPort = 3306

// Local returns the hosts of the local target: one jump, frontend and backend host; one
// Keystone and one RabbitMQ node, or two and three with HA. Node i of a clustered role gets
// ports offset by 10*(i-1) for RabbitMQ (5671, 5681, 5691 ...) and (i-1) for Keystone (5000, 5001;
// keystone-wsgi 5050, 5051; memcached 11211, 11212).
func Local(env *envfile.Env, o LocalOptions) []Host {
	counts := map[envfile.Role]int{envfile.RoleJump: 1, envfile.RoleKeystone: 1, envfile.RoleRabbitMQ: 1,
		envfile.RoleFrontend: 1, envfile.RoleBackend: 1}
	if o.HA {
		counts[envfile.RoleKeystone], counts[envfile.RoleRabbitMQ] = 2, 3
	}
	if o.AppHosts > 1 {
		counts[envfile.RoleFrontend], counts[envfile.RoleBackend] = o.AppHosts, o.AppHosts
	}
	var hosts []Host
	for _, r := range envfile.Roles {
		for i := 1; i <= counts[r]; i++ {
			h := Host{Name: HostName(r, i), Role: r, Index: i, Address: "127.0.0.1", InstanceType: "local",
				AZ: "local", Ports: map[string]int{}}
			h.FQDN = env.FQDN(h.Name)
			if a, ok := aliasOf[r]; ok && i == 1 {
				h.Aliases = []string{env.FQDN(a)}
			}
			step := 0
			switch r {
			case envfile.RoleKeystone:
				step = i - 1
			case envfile.RoleRabbitMQ:
				step = 10 * (i - 1)
			case envfile.RoleFrontend, envfile.RoleBackend:
				step = AppPortStep * (i - 1)
			}
			for name, p := range productionPorts(r) {
				if name == PortEPMD { // one epmd per machine serves every node
					h.Ports[name] = p
					continue
				}
				h.Ports[name] = p + step + o.PortBase
			}
			for name, p := range closedPorts(r) {
				if h.Closed == nil {
					h.Closed = map[string]int{}
				}
				h.Closed[name] = p + step + o.PortBase
			}
			hosts = append(hosts, h)
		}
	}
	return hosts
}
