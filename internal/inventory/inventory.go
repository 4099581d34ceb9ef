// Package inventory derives the hosts of an environment, with their roles, names and
// service ports, from its environment file. It is the one place that knows the LLD's host
// names (2.7.2) and ports (2.3.1, 3.1, 3.2.1, 3.3, 3.4), for AWS and for the local target.
package inventory

import (
	"fmt"
	"net"
	"sort"

	"github.com/cso-ssp/platform/internal/envfile"
)

// Named ports. A host's Ports map uses these keys.
const (
	PortAdmin        = "admin"         // jump: cso admin dashboard (8081)
	PortKeystone     = "keystone"      // keystone: Apache mod_ssl, HTTPS (5000), reverse proxy to keystone-wsgi
	PortKeystoneWSGI = "keystone-wsgi" // keystone: Apache mod_wsgi, plain HTTP on 127.0.0.1 only, in no security group (5050)
	PortMemcached    = "memcached"     // keystone: memcached behind oslo.cache, Keystone nodes only (11211)
	PortAMQP         = "amqp"          // rabbitmq: plain AMQP (5672): closed, in Host.Closed
	PortAMQPS        = "amqps"         // rabbitmq: AMQP over TLS (5671)
	PortManagement   = "management"    // rabbitmq: management API over TLS (15671)
	PortPrometheus   = "prometheus"    // rabbitmq: rabbitmq_prometheus /metrics, plain HTTP (15692; not in the LLD)
	PortDist         = "dist"          // rabbitmq: Erlang distribution (25672)
	PortEPMD         = "epmd"          // rabbitmq: Erlang port mapper (4369)
	PortNginx        = "nginx"         // frontend: nginx (8102)
	PortManagementUI = "management-ui" // frontend: CSO management UI behind nginx (8080)
	PortPortalUI     = "portal-ui"     // frontend: CSO portal UI behind nginx (8202)
	PortMySQL        = "mysql"         // database (RDS, or MariaDB locally): 3306
)

// HostLocal reports whether the named port is bound to 127.0.0.1 on its own host, where
// nothing from another host may connect: Keystone's WSGI back end behind its TLS front.
func HostLocal(name string) bool { return name == PortKeystoneWSGI }

// ClusterInternal reports whether the named port is open only between the nodes of one
// role (LLD 2.3.1's security group matrix): RabbitMQ's Erlang distribution and port mapper,
// memcached between the Keystone nodes. Clients and the jump server have no business there.
func ClusterInternal(name string) bool {
	return name == PortDist || name == PortEPMD || name == PortMemcached
}

// BackendServices are the CSO backend services and their ports (LLD 3.2.1).
var BackendServices = map[string]int{
	"apidoc": 8098, "blobstore": 8091, "catalog": 8093, "config": 8103, "customers": 8090,
	"event": 8092, "export": 8105, "fulfillment": 8097, "pricing": 8100, "reporting": 8099,
	"request": 8096, "svcinst": 8094, "ticketing": 8101,
}

// BackendServiceNames returns the backend service names sorted by port.
func BackendServiceNames() []string {
	names := make([]string, 0, len(BackendServices))
	for n := range BackendServices {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return BackendServices[names[i]] < BackendServices[names[j]] })
	return names
}

// Host is one server of the environment.
type Host struct {
	Name         string         `json:"name"`  // e.g. keystone01
	Role         envfile.Role   `json:"role"`  // jump, keystone, ...
	Index        int            `json:"index"` // 1-based within the role
	FQDN         string         `json:"fqdn"`  // keystone01.dev-ha.cso.ss
	Aliases      []string       `json:"aliases,omitempty"`
	AZ           string         `json:"availability_zone"`
	InstanceType string         `json:"instance_type"`
	Address      string         `json:"address,omitempty"` // known locally (127.0.0.1); on AWS from Terraform
	Ports        map[string]int `json:"ports"`
	// Closed are ports that must refuse connections: services the platform deliberately
	// does not offer (RabbitMQ's plain AMQP; clients use AMQPS). `cso check` asserts it.
	Closed map[string]int `json:"closed_ports,omitempty"`
}

// Loopback says whether h runs on this machine's loopback (the local target), where its
// names resolve only through the check tools and clients must use localhost.
func (h Host) Loopback() bool {
	ip := net.ParseIP(h.Address)
	return ip != nil && ip.IsLoopback()
}

// Names of the messaging objects the platform creates (LLD 3.3.1 transport_url), here so
// that the operator's commands on every OS can name them (the rabbitmq role is Linux-only).
const (
	RabbitMQVHost = "ssp"
	RabbitMQUser  = "ssp_user"
)

// Alias names of the LLD's service CNAMEs (2.7.2), pointing at the first host of a role.
var aliasOf = map[envfile.Role]string{
	envfile.RoleBackend: "api", envfile.RoleFrontend: "portal", envfile.RoleKeystone: "identity", envfile.RoleRabbitMQ: "mq",
}

// HostName returns the LLD's name of host index (1-based) of role.
func HostName(r envfile.Role, index int) string {
	switch r {
	case envfile.RoleKeystone:
		return fmt.Sprintf("keystone%02d", index)
	case envfile.RoleJump:
		return fmt.Sprintf("jump-server-%d", index)
	default:
		return fmt.Sprintf("%s-server-%d", r, index)
	}
}

// Hosts returns every host of env on AWS, in dependency order (jump, keystone, rabbitmq,
// frontend, backend), with production ports. Hosts alternate between the two zones.
func Hosts(env *envfile.Env) []Host {
	var hosts []Host
	for _, r := range envfile.Roles {
		for i := 1; i <= env.Count(r); i++ {
			h := Host{
				Name: HostName(r, i), Role: r, Index: i, InstanceType: env.InstanceType(r),
				Ports: productionPorts(r), Closed: closedPorts(r),
			}
			h.FQDN = env.FQDN(h.Name)
			if len(env.AvailabilityZones) > 0 {
				h.AZ = env.AvailabilityZones[(i-1)%len(env.AvailabilityZones)]
			}
			if a, ok := aliasOf[r]; ok && i == 1 {
				h.Aliases = []string{env.FQDN(a)}
			}
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func productionPorts(r envfile.Role) map[string]int {
	switch r {
	case envfile.RoleJump:
		return map[string]int{PortAdmin: 8081}
	case envfile.RoleKeystone:
		return map[string]int{PortKeystone: 5000, PortKeystoneWSGI: 5050, PortMemcached: 11211}
	case envfile.RoleRabbitMQ:
		return map[string]int{PortAMQPS: 5671, PortManagement: 15671, PortPrometheus: 15692, PortDist: 25672, PortEPMD: 4369}
	case envfile.RoleFrontend:
		return map[string]int{PortNginx: 8102, PortManagementUI: 8080, PortPortalUI: 8202}
	case envfile.RoleBackend:
		m := map[string]int{}
		for n, p := range BackendServices {
			m[n] = p
		}
		return m
	}
	return nil
}

// closedPorts are the ports of role r that must refuse connections.
func closedPorts(r envfile.Role) map[string]int {
	if r == envfile.RoleRabbitMQ {
		return map[string]int{PortAMQP: 5672}
	}
	return nil
}

// ByRole returns the hosts of role r.
func ByRole(hosts []Host, r envfile.Role) []Host {
	var out []Host
	for _, h := range hosts {
		if h.Role == r {
			out = append(out, h)
		}
	}
	return out
}

// Find returns the host called name.
func Find(hosts []Host, name string) (Host, bool) {
	for _, h := range hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}
