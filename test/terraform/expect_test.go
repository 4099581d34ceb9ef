package terraform_test

import (
	"fmt"
	"sort"
)

// What the LLD and docs/environments.md require, written out independently of the HCL.

type envCase struct {
	name    string
	prod    bool
	ha      bool
	vpcCIDR string
	// Subnets in availability_zones order (eu-west-2a, eu-west-2c), LLD 2.2.2.
	public  [2]string
	private [2]string
	counts  map[string]int // frontend, backend, keystone, rabbitmq
}

var cases = []envCase{
	{
		name: "dev", prod: false, ha: false, vpcCIDR: "10.0.0.0/24",
		public:  [2]string{"10.0.0.0/26", "10.0.0.64/26"},
		private: [2]string{"10.0.0.128/26", "10.0.0.192/26"},
		counts:  map[string]int{"frontend": 1, "backend": 1, "keystone": 1, "rabbitmq": 1},
	},
	{
		name: "dev-ha", prod: false, ha: true, vpcCIDR: "10.2.0.0/16",
		public:  [2]string{"10.2.0.0/18", "10.2.64.0/18"},
		private: [2]string{"10.2.128.0/18", "10.2.192.0/18"},
		counts:  map[string]int{"frontend": 2, "backend": 2, "keystone": 2, "rabbitmq": 3},
	},
	{
		name: "staging", prod: false, ha: true, vpcCIDR: "10.3.0.0/16",
		public:  [2]string{"10.3.0.0/18", "10.3.64.0/18"},
		private: [2]string{"10.3.128.0/18", "10.3.192.0/18"},
		counts:  map[string]int{"frontend": 2, "backend": 2, "keystone": 2, "rabbitmq": 3},
	},
	{
		name: "prod-ha", prod: true, ha: true, vpcCIDR: "10.1.0.0/16",
		public:  [2]string{"10.1.0.0/18", "10.1.64.0/18"},
		private: [2]string{"10.1.128.0/18", "10.1.192.0/18"},
		counts:  map[string]int{"frontend": 2, "backend": 2, "keystone": 2, "rabbitmq": 3},
	},
}

var azs = [2]string{"eu-west-2a", "eu-west-2c"}

// jumpAccessCIDRs are the jump_server_access_cidrs of every environment file (LLD 2.1.2).
var jumpAccessCIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// LLD 2.4.1 sizing tables.
var (
	prodSizing = map[string]string{"frontend": "c5.2xlarge", "backend": "c5.4xlarge", "keystone": "t2.xlarge", "rabbitmq": "t2.xlarge", "jump": "t2.large"}
	devSizing  = map[string]string{"frontend": "t2.xlarge", "backend": "t2.2xlarge", "keystone": "t2.medium", "rabbitmq": "t2.xlarge", "jump": "t2.large"}
)

// LLD 3.2.1 backend services behind the internal ALB.
var backendServices = map[string]int{
	"apidoc": 8098, "blobstore": 8091, "catalog": 8093, "config": 8103, "customers": 8090,
	"event": 8092, "export": 8105, "fulfillment": 8097, "pricing": 8100, "reporting": 8099,
	"request": 8096, "svcinst": 8094, "ticketing": 8101,
}

type host struct {
	name  string
	role  string
	index int
}

// hosts lists the host names of docs/environments.md for c.
func (c envCase) hosts() []host {
	hs := []host{{"jump-server-1", "jump", 1}}
	for i := 1; i <= c.counts["frontend"]; i++ {
		hs = append(hs, host{fmt.Sprintf("frontend-server-%d", i), "frontend", i})
	}
	for i := 1; i <= c.counts["backend"]; i++ {
		hs = append(hs, host{fmt.Sprintf("backend-server-%d", i), "backend", i})
	}
	for i := 1; i <= c.counts["keystone"]; i++ {
		hs = append(hs, host{fmt.Sprintf("keystone%02d", i), "keystone", i})
	}
	for i := 1; i <= c.counts["rabbitmq"]; i++ {
		hs = append(hs, host{fmt.Sprintf("rabbitmq-server-%d", i), "rabbitmq", i})
	}
	return hs
}

func (c envCase) hostNames() []string {
	var out []string
	for _, h := range c.hosts() {
		out = append(out, h.name)
	}
	sort.Strings(out)
	return out
}

func (c envCase) instanceType(role string) string {
	if c.prod {
		return prodSizing[role]
	}
	return devSizing[role]
}

func (c envCase) zone() string { return c.name + ".cso.ss" }

// roleAlias: every host of the role carries the alias in its certificate.
var roleAlias = map[string]string{"backend": "api", "frontend": "portal", "keystone": "identity", "rabbitmq": "mq"}

// serviceAliases of LLD 2.7.2 / docs/environments.md.
var serviceAliases = map[string]string{"api": "backend-server-1", "portal": "frontend-server-1", "identity": "keystone01", "mq": "rabbitmq-server-1"}

// ingressMatrix is the security-group matrix of LLD 2.3.1 plus RabbitMQ clustering and
// AMQPS, EFS (4.1.3) and the endpoints (4.3), as "group|proto|ports|source".
func (c envCase) ingressMatrix() []string {
	m := []string{
		"backend|tcp|8080-8105|sg:core",
		"keystone|tcp|5000|sg:core",
		"keystone|tcp|11211|sg:keystone",
		// No rule for keystone-wsgi (5050): Keystone's own Apache listens on 127.0.0.1 only,
		// behind the node's TLS front on 5000 (docs/decisions/roles.md).
		"rabbitmq|tcp|5671|sg:core",
		"rabbitmq|tcp|15671|sg:core",
		"rabbitmq|tcp|15692|sg:jump", // rabbitmq_prometheus, not in the LLD's matrix
		"rabbitmq|tcp|4369|sg:rabbitmq",
		"rabbitmq|tcp|25672|sg:rabbitmq",
		"rds|tcp|3306|sg:core",
		"efs|tcp|2049|sg:core",
		"efs|tcp|2049|sg:jump",
		"endpoints|tcp|443|cidr:" + c.vpcCIDR,
		// cso check on the jump server probes the frontend's nginx and UI ports.
		"frontend|tcp|8102|sg:jump",
		"frontend|tcp|8080|sg:jump",
		"frontend|tcp|8202|sg:jump",
	}
	// The admin UI directly from the operators' networks (VPN, peering): the ALB path is
	// gated by Cognito, not by source address (docs/decisions/terraform.md).
	for _, cidr := range jumpAccessCIDRs {
		m = append(m, "jump|tcp|8081|cidr:"+cidr)
	}
	if c.ha {
		m = append(m,
			"frontend|tcp|8102|sg:alb",
			"frontend|tcp|443|sg:alb",
			"frontend|tcp|80|sg:alb",
			"jump|tcp|8081|sg:alb",
			"keystone|tcp|5000|sg:alb",
			"backend|tcp|8090-8105|sg:backend_alb",
			"backend_alb|tcp|8090-8105|sg:core",
			"alb|tcp|80|cidr:0.0.0.0/0",
			"alb|tcp|443|cidr:0.0.0.0/0",
		)
	}
	sort.Strings(m)
	return m
}

func (c envCase) egressMatrix() []string {
	m := []string{
		"core|-1|all|cidr:" + c.vpcCIDR,
		"core|tcp|443|cidr:0.0.0.0/0",
	}
	if c.ha {
		m = append(m,
			"alb|tcp|8102|sg:frontend",
			"alb|tcp|5000|sg:keystone",
			"alb|tcp|8081|sg:jump",
			"alb|tcp|443|cidr:0.0.0.0/0",
			"backend_alb|tcp|8090-8105|sg:backend",
		)
	}
	sort.Strings(m)
	return m
}

// resourceCounts is how many instances of each type the environment must have.
func (c envCase) resourceCounts() map[string]int {
	n := len(c.hosts())
	ha := 0
	if c.ha {
		ha = 1
	}
	nTG := 3 + len(backendServices)
	return map[string]int{
		"aws_vpc":                             1,
		"aws_subnet":                          4,
		"aws_internet_gateway":                1,
		"aws_nat_gateway":                     2,
		"aws_eip":                             2,
		"aws_route_table":                     4,
		"aws_route_table_association":         4,
		"aws_vpc_endpoint":                    4,
		"aws_flow_log":                        1,
		"aws_cloudwatch_log_group":            1 + 12, // flow logs; the hosts' logs (internal/cwagent)
		"aws_instance":                        n,
		"aws_lb":                              2 * ha,
		"aws_lb_target_group":                 nTG * ha,
		"aws_lb_listener":                     (2 + len(backendServices)) * ha,
		"aws_lb_listener_rule":                3 * ha,
		"aws_lb_target_group_attachment":      ha * (c.counts["frontend"] + c.counts["keystone"] + 1 + len(backendServices)*c.counts["backend"]),
		"aws_security_group":                  9 + 2*ha,
		"aws_vpc_security_group_ingress_rule": 15 + len(jumpAccessCIDRs) + 9*ha, // 10 of the matrix + 3 jump to frontend probes + memcached between Keystone nodes + rabbitmq_prometheus from the jump + direct admin access
		"aws_cognito_user_group":              ha,
		"aws_vpc_security_group_egress_rule":  2 + 5*ha,
		"aws_efs_file_system":                 2,
		"aws_efs_mount_target":                4,
		"aws_efs_access_point":                3,
		"aws_s3_bucket":                       2,
		"aws_db_instance":                     1,
		"aws_route53_zone":                    1,
		"aws_route53_health_check":            nTG * ha,
		"aws_route53_record":                  n + 4 + 1 + ha,
		"aws_kms_key":                         1,
		"tls_self_signed_cert":                1,
		"tls_locally_signed_cert":             n,
		"tls_private_key":                     n + 1,
		"random_password":                     7,             // 5 service secrets (RabbitMQ ssp_user, Keystone admin, automation and application, Erlang cookie) + 2 database users
		"aws_secretsmanager_secret":           5 + 2 + n + 1, // service, database users, host TLS, root CA
		"aws_cloudwatch_metric_alarm":         6*n + 6 + 2*2 + ha*(2*nTG+1),
		"aws_sns_topic":                       1,
		"aws_sns_topic_subscription":          1,
		"aws_iam_role":                        2 + 5, // RDS monitoring, flow logs; one per host role
		"aws_iam_instance_profile":            5,
		"aws_iam_policy":                      5,
		"aws_iam_role_policy":                 1 + 5 + 1 + 1, // flow logs; each host role's own-host grants; the jump's certificate renewal and host logs
		"aws_s3_bucket_public_access_block":   2,
		"aws_s3_bucket_versioning":            2,
		"aws_s3_bucket_server_side_encryption_configuration": 2,
	}
}
