// Package terraform_test plans and applies the root stack (terraform/) offline for every
// environment file, against the test provider serving the real AWS/TLS/random schemas,
// and asserts from `terraform show -json` what the LLD requires.
package terraform_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/tfharness"
)

// TestEstate validates, plans and applies terraform/ for each environment file and checks
// the result. Environments run in parallel, each in its own work directory.
func TestEstate(t *testing.T) {
	h := tfharness.New(t)
	stack := stackDir(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()

			envPath := envFilePath(t, c.name)
			ef := readEnvFile(t, envPath)
			if ef.Prod != c.prod || ef.HA != c.ha || ef.VPCCIDR != c.vpcCIDR {
				t.Fatalf("%s: prod/ha/vpc_cidr = %v/%v/%s, this test expects %v/%v/%s: update the test's cases with the env file",
					envPath, ef.Prod, ef.HA, ef.VPCCIDR, c.prod, c.ha, c.vpcCIDR)
			}
			envVar := "env_file=" + envPath

			w := h.Workdir(t, stack)
			if err := w.Init(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.SelectWorkspace(ctx, c.name); err != nil {
				t.Fatal(err)
			}
			v, err := w.Validate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Valid {
				t.Fatalf("terraform validate: invalid: %+v", v.Diagnostics)
			}

			plan, err := w.Plan(ctx, envVar)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, c, plan)

			st, err := w.Apply(ctx, envVar)
			if err != nil {
				t.Fatal(err)
			}
			goEnv, err := envfile.Load(envPath)
			if err != nil {
				t.Fatal(err)
			}
			x := &checker{c: c, ef: ef, env: goEnv, e: indexState(t, st)}
			for _, sub := range []struct {
				name string
				fn   func(*testing.T)
			}{
				{"resource_counts", x.resourceCounts},
				{"vpc_and_subnets", x.vpcAndSubnets},
				{"routing", x.routing},
				{"endpoints_and_flow_logs", x.endpointsAndFlowLogs},
				{"security_groups", x.securityGroups},
				{"instances", x.instances},
				{"user_data", x.userData},
				{"load_balancers", x.loadBalancers},
				{"efs", x.efs},
				{"s3", x.s3},
				{"rds", x.rds},
				{"dns", x.dns},
				{"route53_health_checks", x.healthChecks},
				{"deploy_order", x.deployOrder},
				{"iam_and_kms", x.iamAndKMS},
				{"secrets", x.secrets},
				{"pki", x.pki},
				{"monitoring", x.monitoring},
				{"cloudwatch_agent", x.cloudWatchAgent},
				{"log_groups", x.logGroups},
				{"outputs", x.outputs},
				{"go_and_terraform_agree", x.goAndTerraformAgree},
				{"no_secret_in_outputs", x.noSecretInOutputs},
			} {
				t.Run(sub.name, sub.fn)
			}

			// A second plan must find nothing to do.
			again, err := w.Plan(ctx, envVar)
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range again.ResourceChanges {
				if !rc.Change.Actions.NoOp() && !rc.Change.Actions.Read() {
					t.Errorf("plan after apply wants %v on %s", rc.Change.Actions, rc.Address)
				}
			}
		})
	}
}

func checkPlan(t *testing.T, c envCase, p *tfjson.Plan) {
	t.Helper()
	creates := map[string]int{}
	for _, rc := range p.ResourceChanges {
		if rc.Mode != tfjson.ManagedResourceMode {
			continue
		}
		if !rc.Change.Actions.Create() {
			t.Errorf("fresh plan wants %v on %s, want create", rc.Change.Actions, rc.Address)
		}
		creates[rc.Type]++
	}
	for typ, want := range c.resourceCounts() {
		if creates[typ] != want {
			t.Errorf("plan creates %d %s, want %d", creates[typ], typ, want)
		}
	}
	if p.TerraformVersion == "" || !strings.HasPrefix(p.TerraformVersion, "1.8") {
		t.Errorf("plan made by Terraform %q, want 1.8.x", p.TerraformVersion)
	}
}

type checker struct {
	c  envCase
	ef envFile
	// env is the same file as the cso binary reads it: names Go computes (the files
	// bucket) are checked against what Terraform created.
	env *envfile.Env
	e   *estate
}

func (x *checker) resourceCounts(t *testing.T) {
	for typ, want := range x.c.resourceCounts() {
		if got := x.e.countType(typ); got != want {
			t.Errorf("%s: %d in state, want %d", typ, got, want)
		}
	}
}

func (x *checker) vpcAndSubnets(t *testing.T) {
	vpc := x.e.one(t, "module.networking", "aws_vpc", "this")
	if vpc.str("cidr_block") != x.c.vpcCIDR {
		t.Errorf("VPC CIDR %q, want %q", vpc.str("cidr_block"), x.c.vpcCIDR)
	}
	if !vpc.boolean("enable_dns_support") || !vpc.boolean("enable_dns_hostnames") {
		t.Error("VPC must enable DNS support and DNS hostnames (LLD 2.2.1)")
	}
	if name := tagOf(vpc, "Name"); name != x.c.name+"-"+x.ef.VPCName {
		t.Errorf("VPC Name tag %q, want %q", name, x.c.name+"-"+x.ef.VPCName)
	}
	for tier, want := range map[string][2]string{"public": x.c.public, "private": x.c.private} {
		subnets := x.e.of("module.networking", "aws_subnet", tier)
		for i, az := range azs {
			s, ok := subnets[az]
			if !ok {
				t.Errorf("no %s subnet in %s", tier, az)
				continue
			}
			if s.str("cidr_block") != want[i] || s.str("availability_zone") != az {
				t.Errorf("%s subnet %s: %s in %s, want %s", tier, az, s.str("cidr_block"), s.str("availability_zone"), want[i])
			}
			if s.str("vpc_id") != vpc.str("id") {
				t.Errorf("%s subnet %s is not in the VPC", tier, az)
			}
			if s.boolean("map_public_ip_on_launch") {
				t.Errorf("%s subnet %s maps public IPs on launch", tier, az)
			}
		}
	}
}

func (x *checker) routing(t *testing.T) {
	igw := x.e.one(t, "module.networking", "aws_internet_gateway", "this")
	nats := x.e.of("module.networking", "aws_nat_gateway", "this")
	pub := x.e.of("module.networking", "aws_subnet", "public")
	priv := x.e.of("module.networking", "aws_subnet", "private")
	for _, az := range azs {
		nat, ok := nats[az]
		if !ok {
			t.Errorf("no NAT gateway in %s (one per zone)", az)
			continue
		}
		if nat.str("subnet_id") != pub[az].str("id") {
			t.Errorf("NAT gateway %s is not in the public subnet of its zone", az)
		}
		pr := x.e.of("module.networking", "aws_route", "private_nat")[az]
		if pr.str("nat_gateway_id") != nat.str("id") || pr.str("destination_cidr_block") != "0.0.0.0/0" {
			t.Errorf("private route table %s: default route %v via %q, want the NAT gateway of the same zone", az, pr.V["destination_cidr_block"], pr.str("nat_gateway_id"))
		}
		pubr := x.e.of("module.networking", "aws_route", "public_internet")[az]
		if pubr.str("gateway_id") != igw.str("id") || pubr.str("destination_cidr_block") != "0.0.0.0/0" {
			t.Errorf("public route table %s: default route not via the internet gateway", az)
		}
		assoc := x.e.of("module.networking", "aws_route_table_association", "private")[az]
		rt := x.e.of("module.networking", "aws_route_table", "private")[az]
		if assoc.str("subnet_id") != priv[az].str("id") || assoc.str("route_table_id") != rt.str("id") {
			t.Errorf("private subnet %s is not associated with the private route table of its zone", az)
		}
	}
}

func (x *checker) endpointsAndFlowLogs(t *testing.T) {
	eps := x.e.of("module.networking", "aws_vpc_endpoint", "ssm")
	privIDs := sortedCopy([]string{
		x.e.of("module.networking", "aws_subnet", "private")[azs[0]].str("id"),
		x.e.of("module.networking", "aws_subnet", "private")[azs[1]].str("id"),
	})
	sg := x.sgID(t, "endpoints")
	for _, svc := range []string{"ssm", "ssmmessages", "ec2messages"} {
		ep, ok := eps[svc]
		if !ok {
			t.Errorf("no %s VPC endpoint (LLD 4.3)", svc)
			continue
		}
		if ep.str("service_name") != "com.amazonaws.eu-west-2."+svc || ep.str("vpc_endpoint_type") != "Interface" || !ep.boolean("private_dns_enabled") {
			t.Errorf("endpoint %s: %s %s private DNS %v", svc, ep.str("service_name"), ep.str("vpc_endpoint_type"), ep.V["private_dns_enabled"])
		}
		if got := sortedCopy(strs(ep.V["subnet_ids"])); !reflect.DeepEqual(got, privIDs) {
			t.Errorf("endpoint %s in subnets %v, want the private subnets %v", svc, got, privIDs)
		}
		if !reflect.DeepEqual(strs(ep.V["security_group_ids"]), []string{sg}) {
			t.Errorf("endpoint %s security groups %v, want the endpoints group", svc, ep.V["security_group_ids"])
		}
	}
	fl := x.e.one(t, "module.networking", "aws_flow_log", "this")
	lg := x.e.one(t, "module.networking", "aws_cloudwatch_log_group", "flow_logs")
	if fl.str("traffic_type") != "ALL" || fl.str("log_destination") != lg.str("arn") || fl.str("vpc_id") != x.e.one(t, "module.networking", "aws_vpc", "this").str("id") {
		t.Errorf("flow log: traffic %s to %s, want ALL traffic of the VPC to the flow log group", fl.str("traffic_type"), fl.str("log_destination"))
	}
	if lg.str("kms_key_id") != x.kmsARN(t) {
		t.Errorf("flow log group not encrypted with the environment's key")
	}
}

func (x *checker) sgID(t *testing.T, key string) string {
	t.Helper()
	for id, k := range x.e.sgNames(x.c.name) {
		if k == key {
			return id
		}
	}
	t.Fatalf("no security group %s-%s", x.c.name, strings.ReplaceAll(key, "_", "-"))
	return ""
}

func (x *checker) kmsARN(t *testing.T) string {
	t.Helper()
	return x.e.one(t, "module.security", "aws_kms_key", "this").str("arn")
}

func ports(r res) string {
	if r.str("ip_protocol") == "-1" {
		return "all"
	}
	from, to := int(r.num("from_port")), int(r.num("to_port"))
	if from == to {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

func (x *checker) securityGroups(t *testing.T) {
	if !reflect.DeepEqual(x.ef.JumpServerAccessCIDRs, jumpAccessCIDRs) {
		t.Fatalf("jump_server_access_cidrs %v, this test expects %v: update jumpAccessCIDRs with the env file", x.ef.JumpServerAccessCIDRs, jumpAccessCIDRs)
	}
	names := x.e.sgNames(x.c.name)
	peer := func(r res) string {
		if id := r.str("referenced_security_group_id"); id != "" {
			return "sg:" + names[id]
		}
		return "cidr:" + r.str("cidr_ipv4")
	}
	var ingress, egress []string
	for _, r := range x.e.all {
		switch r.Type {
		case "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule":
		default:
			continue
		}
		if strings.TrimSpace(r.str("description")) == "" {
			t.Errorf("%s has no description", r.Address)
		}
		if r.str("cidr_ipv6") != "" {
			t.Errorf("%s opens IPv6 %s", r.Address, r.str("cidr_ipv6"))
		}
		line := fmt.Sprintf("%s|%s|%s|%s", names[r.str("security_group_id")], r.str("ip_protocol"), ports(r), peer(r))
		if r.Type == "aws_vpc_security_group_ingress_rule" {
			ingress = append(ingress, line)
			if r.str("cidr_ipv4") == "0.0.0.0/0" && !(names[r.str("security_group_id")] == "alb" && (ports(r) == "80" || ports(r) == "443")) {
				t.Errorf("%s: ingress from 0.0.0.0/0 other than the ALB's 80/443: %s", r.Address, line)
			}
		} else {
			egress = append(egress, line)
		}
	}
	sort.Strings(ingress)
	sort.Strings(egress)
	if want := x.c.ingressMatrix(); !reflect.DeepEqual(ingress, want) {
		t.Errorf("ingress rules differ from the matrix of LLD 2.3.1:\n got %q\nwant %q", ingress, want)
	}
	if want := x.c.egressMatrix(); !reflect.DeepEqual(egress, want) {
		t.Errorf("egress rules:\n got %q\nwant %q", egress, want)
	}
	// The default security group keeps no rule.
	def := x.e.one(t, "module.networking", "aws_default_security_group", "this")
	if in, _ := def.V["ingress"].([]any); len(in) != 0 {
		t.Errorf("default security group has ingress rules: %v", in)
	}
	if eg, _ := def.V["egress"].([]any); len(eg) != 0 {
		t.Errorf("default security group has egress rules: %v", eg)
	}
}

func (x *checker) instances(t *testing.T) {
	insts := x.e.hostInstances()
	var got []string
	for k := range insts {
		got = append(got, k)
	}
	sort.Strings(got)
	if want := x.c.hostNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("instances %v, want %v", got, want)
	}
	core := x.sgID(t, "core")
	profiles := x.e.of("module.security", "aws_iam_instance_profile", "host")
	priv := x.e.of("module.networking", "aws_subnet", "private")
	for _, h := range x.c.hosts() {
		i := insts[h.name]
		if got, want := i.str("instance_type"), x.c.instanceType(h.role); got != want {
			t.Errorf("%s: instance type %s, want %s (LLD 2.4.1 %s table)", h.name, got, want, map[bool]string{true: "production", false: "development"}[x.c.prod])
		}
		md := i.block("metadata_options")
		if md == nil || md["http_tokens"] != "required" || md["http_endpoint"] != "enabled" {
			t.Errorf("%s: IMDSv2 not required: %v", h.name, md)
		}
		rb := i.block("root_block_device")
		if rb == nil || rb["volume_type"] != "gp3" || rb["volume_size"] != float64(50) || rb["encrypted"] != true || rb["kms_key_id"] != x.kmsARN(t) {
			t.Errorf("%s: root volume %v, want 50 GB gp3 encrypted with the environment's key", h.name, rb)
		}
		if !i.boolean("monitoring") {
			t.Errorf("%s: detailed monitoring off (LLD 6.1)", h.name)
		}
		// One instance profile per host role: each host gets its role's.
		if want := profiles[h.role].str("name"); want == "" || i.str("iam_instance_profile") != want {
			t.Errorf("%s: instance profile %q, want %q (role %s)", h.name, i.str("iam_instance_profile"), want, h.role)
		}
		if got, want := sortedCopy(strs(i.V["vpc_security_group_ids"])), sortedCopy([]string{core, x.sgID(t, h.role)}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: security groups %v, want core and %s", h.name, got, h.role)
		}
		az := azs[(h.index-1)%2]
		if i.str("availability_zone") != az || i.str("subnet_id") != priv[az].str("id") {
			t.Errorf("%s: in %s/%s, want the private subnet of %s", h.name, i.str("availability_zone"), i.str("subnet_id"), az)
		}
		if i.boolean("associate_public_ip_address") {
			t.Errorf("%s has a public IP", h.name)
		}
		if tagOf(i, "Name") != h.name || tagOf(i, "Role") != h.role {
			t.Errorf("%s: tags %v", h.name, i.V["tags"])
		}
	}
}

func (x *checker) userData(t *testing.T) {
	fs := x.e.of("module.storage", "aws_efs_file_system", "this")
	ap := x.e.of("module.storage", "aws_efs_access_point", "this")
	secrets := x.secretValues(t)
	for _, h := range x.c.hosts() {
		ud := x.e.hostInstances()[h.name].str("user_data")
		for _, want := range []string{
			"#!/bin/bash",
			"dnf_retry install amazon-ssm-agent amazon-efs-utils java-21-amazon-corretto",
			`opts="tls,iam,$mode,accesspoint=$ap"`,
			`mount -t efs -o "$opts"`,
			`efs _netdev,noresvport,$opts 0 0`,
			fmt.Sprintf(`"s3://%s/bin/cso"`, x.env.FilesBucket()),
			// The RDS CA bundle the agent's database clients verify with (issue #10).
			`-o /etc/pki/cso/rds-ca-bundle.pem.new "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"`,
			"install -m 0644 /etc/pki/cso/rds-ca-bundle.pem.new /etc/pki/cso/rds-ca-bundle.pem",
			fmt.Sprintf(`cso agent --env "%s" --account-id "%s" --role "%s" --index "%d" --region "%s" --log-format json`, x.c.name, x.env.AccountID, h.role, h.index, x.ef.Region),
		} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user data lacks %q", h.name, want)
			}
		}
		// The host mounts its role's access points, read-only where the role only reads, in
		// mount path order, and nothing else.
		var mounts []string
		for _, k := range []string{"keystone-keys", "scripts", "ssl-certs"} { // by mount path
			if m := efsAccess[k][h.role]; m != "" {
				mounts = append(mounts, fmt.Sprintf("mount_efs %q %q %q %s", fs[efsAccessPoints[k].fs].str("id"), ap[k].str("id"), efsAccessPoints[k].mount, m))
			}
		}
		var got []string
		for _, line := range strings.Split(ud, "\n") {
			if strings.HasPrefix(line, "mount_efs ") {
				got = append(got, line)
			}
		}
		if !reflect.DeepEqual(got, mounts) {
			t.Errorf("%s (%s): user data mounts\n%s\nwant\n%s", h.name, h.role, strings.Join(got, "\n"), strings.Join(mounts, "\n"))
		}
		// Only the jump server creates the databases with the RDS master user.
		master := x.e.one(t, "module.database", "aws_db_instance", "this").block("master_user_secret")["secret_arn"]
		wantSecret := fmt.Sprintf("--mysql-admin-secret %q", master)
		if got := strings.Contains(ud, wantSecret); got != (h.role == "jump") || strings.Contains(ud, "--mysql-admin-secret") != (h.role == "jump") {
			t.Errorf("%s: user data passes the RDS master secret: %v, want %v (%s)", h.name, got, h.role == "jump", wantSecret)
		}
		for _, s := range secrets {
			if strings.Contains(ud, s) {
				t.Errorf("%s: user data contains a secret value", h.name)
			}
		}
		// The rendered script must at least parse.
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(ud)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: user data is not valid bash: %v\n%s", h.name, err, out)
		}
	}
}

func (x *checker) loadBalancers(t *testing.T) {
	if !x.c.ha {
		if n := x.e.countType("aws_lb"); n != 0 {
			t.Errorf("ha is false but there are %d load balancers", n)
		}
		return
	}
	logs := x.e.one(t, "module.storage", "aws_s3_bucket", "logs").str("bucket")
	sub := func(tier string) []string {
		m := x.e.of("module.networking", "aws_subnet", tier)
		return sortedCopy([]string{m[azs[0]].str("id"), m[azs[1]].str("id")})
	}
	fe := x.e.one(t, "module.networking", "aws_lb", "frontend")
	be := x.e.one(t, "module.networking", "aws_lb", "backend")
	for _, lb := range []struct {
		r        res
		internal bool
		subnets  []string
		sg       string
	}{{fe, false, sub("public"), "alb"}, {be, true, sub("private"), "backend_alb"}} {
		r := lb.r
		if r.boolean("internal") != lb.internal || r.str("load_balancer_type") != "application" {
			t.Errorf("%s: internal=%v type=%s", r.Address, r.V["internal"], r.str("load_balancer_type"))
		}
		if !r.boolean("drop_invalid_header_fields") || !r.boolean("enable_cross_zone_load_balancing") {
			t.Errorf("%s must drop invalid header fields and balance across zones", r.Address)
		}
		if got := sortedCopy(strs(r.V["subnets"])); !reflect.DeepEqual(got, lb.subnets) {
			t.Errorf("%s in subnets %v, want %v", r.Address, got, lb.subnets)
		}
		if !reflect.DeepEqual(strs(r.V["security_groups"]), []string{x.sgID(t, lb.sg)}) {
			t.Errorf("%s security groups %v", r.Address, r.V["security_groups"])
		}
		al := r.block("access_logs")
		if al == nil || al["enabled"] != true || al["bucket"] != logs {
			t.Errorf("%s access logs %v, want enabled to %s", r.Address, al, logs)
		}
		if r.boolean("enable_deletion_protection") != x.c.prod {
			t.Errorf("%s deletion protection %v, want %v", r.Address, r.V["enable_deletion_protection"], x.c.prod)
		}
	}

	fetg := x.e.one(t, "module.networking", "aws_lb_target_group", "frontend")
	if fetg.num("port") != 8102 || fetg.str("protocol") != "HTTP" {
		t.Errorf("frontend target group %v/%v, want 8102 HTTP", fetg.V["port"], fetg.V["protocol"])
	}
	wantHC(t, "frontend", fetg.block("health_check"), map[string]any{
		"path": "/ui/management/login/system", "healthy_threshold": 2.0, "unhealthy_threshold": 3.0,
		"timeout": 5.0, "interval": 30.0, "matcher": "200", "protocol": "HTTP"})
	kstg := x.e.one(t, "module.networking", "aws_lb_target_group", "keystone")
	if kstg.num("port") != 5000 || kstg.str("protocol") != "HTTPS" {
		t.Errorf("keystone target group %v/%v, want 5000 HTTPS", kstg.V["port"], kstg.V["protocol"])
	}
	wantHC(t, "keystone", kstg.block("health_check"), map[string]any{
		"path": "/api/idm/v3", "matcher": "200,300", "timeout": 10.0, "protocol": "HTTPS"})
	jtg := x.e.one(t, "module.networking", "aws_lb_target_group", "jump")
	if jtg.num("port") != 8081 || jtg.str("protocol") != "HTTPS" {
		t.Errorf("jump admin target group %v/%v, want 8081 HTTPS (matrix of LLD 2.3.1; cso admin serve speaks TLS)", jtg.V["port"], jtg.V["protocol"])
	}
	// /health is the one path that answers 200 without a session.
	wantHC(t, "jump admin", jtg.block("health_check"), map[string]any{"path": "/health", "matcher": "200", "protocol": "HTTPS"})
	betgs := x.e.of("module.networking", "aws_lb_target_group", "backend")
	for svc, port := range backendServices {
		tg, ok := betgs[svc]
		if !ok || tg.num("port") != float64(port) {
			t.Errorf("backend target group %s: port %v, want %d (LLD 3.2.1)", svc, tg.V["port"], port)
		}
		l := x.e.of("module.networking", "aws_lb_listener", "backend")[svc]
		if l.num("port") != float64(port) || l.str("load_balancer_arn") != be.str("arn") || firstObj(l.V["default_action"])["target_group_arn"] != tg.str("arn") {
			t.Errorf("internal ALB listener %s: port %v forwarding to %v", svc, l.V["port"], firstObj(l.V["default_action"])["target_group_arn"])
		}
	}
	https := x.e.one(t, "module.networking", "aws_lb_listener", "https")
	if https.num("port") != 443 || https.str("protocol") != "HTTPS" || https.str("ssl_policy") != "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09" {
		t.Errorf("HTTPS listener %v %v %v", https.V["port"], https.V["protocol"], https.V["ssl_policy"])
	}
	if https.str("certificate_arn") != x.ef.LoadBalancer.CertificateARN {
		t.Errorf("HTTPS listener certificate %q, want the env file's %q", https.str("certificate_arn"), x.ef.LoadBalancer.CertificateARN)
	}
	x.wantCognitoThenForward(t, "default action", https.V["default_action"], fetg.str("arn"), "authenticate")
	http := x.e.one(t, "module.networking", "aws_lb_listener", "http")
	red := firstObj(firstObj(http.V["default_action"])["redirect"])
	if http.num("port") != 80 || red == nil || red["protocol"] != "HTTPS" || red["port"] != "443" || red["status_code"] != "HTTP_301" {
		t.Errorf("HTTP listener must redirect 80 to HTTPS 443: %v", http.V["default_action"])
	}

	rules := map[string]struct {
		tg      string
		paths   []string
		unauth  string
		sources []string
	}{
		"identity": {kstg.str("arn"), []string{"/api/idm/*"}, "deny", nil},
		// No source_ip: the Cognito administrators' group is the gate on this path.
		"admin":  {jtg.str("arn"), []string{"/admin/*"}, "authenticate", nil},
		"portal": {fetg.str("arn"), []string{"/ui/portal/*", "/ui/management/*"}, "authenticate", nil},
	}
	for name, want := range rules {
		r := x.e.one(t, "module.networking", "aws_lb_listener_rule", name)
		if r.str("listener_arn") != https.str("arn") {
			t.Errorf("rule %s not on the HTTPS listener", name)
		}
		x.wantCognitoThenForward(t, "rule "+name, r.V["action"], want.tg, want.unauth)
		var paths, sources []string
		for _, c := range r.V["condition"].([]any) {
			cm := c.(map[string]any)
			if pp := firstObj(cm["path_pattern"]); pp != nil {
				paths = append(paths, strs(pp["values"])...)
			}
			if si := firstObj(cm["source_ip"]); si != nil {
				sources = append(sources, strs(si["values"])...)
			}
		}
		if !reflect.DeepEqual(sortedCopy(paths), sortedCopy(want.paths)) || !reflect.DeepEqual(sortedCopy(sources), sortedCopy(want.sources)) {
			t.Errorf("rule %s: paths %v sources %v, want %v %v", name, paths, sources, want.paths, want.sources)
		}
	}

	// The administrators' group the dashboard admits, in the ALB's user pool.
	grp := x.e.one(t, "module.networking", "aws_cognito_user_group", "admins")
	if grp.str("name") != "cso-admins" || grp.str("user_pool_id") != poolIDOf(x.ef.LoadBalancer.Cognito.UserPoolARN) {
		t.Errorf("Cognito group %q in pool %q, want cso-admins in %q", grp.str("name"), grp.str("user_pool_id"), poolIDOf(x.ef.LoadBalancer.Cognito.UserPoolARN))
	}

	// Attachments: every host of a role in its target groups.
	att := map[string][]string{}
	for _, a := range x.e.of("module.compute", "aws_lb_target_group_attachment", "this") {
		att[a.str("target_group_arn")] = append(att[a.str("target_group_arn")], a.str("target_id"))
	}
	insts := x.e.hostInstances()
	idsOf := func(role string) []string {
		var ids []string
		for _, h := range x.c.hosts() {
			if h.role == role {
				ids = append(ids, insts[h.name].str("id"))
			}
		}
		return sortedCopy(ids)
	}
	wantAtt := map[string][]string{fetg.str("arn"): idsOf("frontend"), kstg.str("arn"): idsOf("keystone"), jtg.str("arn"): idsOf("jump")}
	for _, tg := range betgs {
		wantAtt[tg.str("arn")] = idsOf("backend")
	}
	for tg, ids := range wantAtt {
		if got := sortedCopy(att[tg]); !reflect.DeepEqual(got, ids) {
			t.Errorf("target group %s has targets %v, want %v", tg, got, ids)
		}
	}
}

// poolIDOf is the user pool id at the end of a user pool ARN.
func poolIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func wantHC(t *testing.T, name string, hc map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if hc[k] != v {
			t.Errorf("%s health check %s = %v, want %v", name, k, hc[k], v)
		}
	}
}

func (x *checker) wantCognitoThenForward(t *testing.T, what string, actions any, tgARN, unauth string) {
	t.Helper()
	l, _ := actions.([]any)
	byOrder := map[float64]map[string]any{}
	for _, a := range l {
		m := a.(map[string]any)
		byOrder[m["order"].(float64)] = m
	}
	auth, fwd := byOrder[1], byOrder[2]
	if auth == nil || fwd == nil || auth["type"] != "authenticate-cognito" || fwd["type"] != "forward" || fwd["target_group_arn"] != tgARN {
		t.Errorf("%s: want authenticate-cognito then forward to %s, got %v", what, tgARN, actions)
		return
	}
	cog := firstObj(auth["authenticate_cognito"])
	lb := x.ef.LoadBalancer
	if cog["user_pool_arn"] != lb.Cognito.UserPoolARN || cog["user_pool_client_id"] != lb.Cognito.UserPoolClientID ||
		cog["user_pool_domain"] != lb.Cognito.UserPoolDomain || cog["on_unauthenticated_request"] != unauth {
		t.Errorf("%s: cognito %v, want the env file's pool and on_unauthenticated_request=%s", what, cog, unauth)
	}
}

func (x *checker) efs(t *testing.T) {
	fss := x.e.of("module.storage", "aws_efs_file_system", "this")
	kms := x.kmsARN(t)
	efsSG := x.sgID(t, "efs")
	priv := x.e.of("module.networking", "aws_subnet", "private")
	for key, want := range map[string]struct {
		token string
		mibps float64
	}{"scripts": {x.c.name + "-efs", 100}, "ssl-certs": {x.c.name + "-ssl-certs", 50}} {
		fs, ok := fss[key]
		if !ok {
			t.Errorf("no EFS file system %s", key)
			continue
		}
		if fs.str("creation_token") != want.token || !fs.boolean("encrypted") || fs.str("kms_key_id") != kms {
			t.Errorf("EFS %s: token %s encrypted %v key %s", key, fs.str("creation_token"), fs.V["encrypted"], fs.str("kms_key_id"))
		}
		if fs.str("throughput_mode") != "provisioned" || fs.num("provisioned_throughput_in_mibps") != want.mibps || fs.str("performance_mode") != "generalPurpose" {
			t.Errorf("EFS %s: %s %v MiB/s %s, want provisioned %v MiB/s generalPurpose (LLD 2.5.1)", key, fs.str("throughput_mode"), fs.V["provisioned_throughput_in_mibps"], fs.str("performance_mode"), want.mibps)
		}
		if lp := fs.block("lifecycle_policy"); lp == nil || lp["transition_to_ia"] != "AFTER_30_DAYS" {
			t.Errorf("EFS %s lifecycle %v, want transition to IA after 30 days", key, fs.V["lifecycle_policy"])
		}
		if tagOf(fs, "Backup") != "required" {
			t.Errorf("EFS %s lacks the Backup=required tag (LLD 7.2)", key)
		}
		for _, az := range azs {
			mt, ok := x.e.of("module.storage", "aws_efs_mount_target", "this")[key+"/"+az]
			if !ok || mt.str("file_system_id") != fs.str("id") || mt.str("subnet_id") != priv[az].str("id") || !reflect.DeepEqual(strs(mt.V["security_groups"]), []string{efsSG}) {
				t.Errorf("EFS %s: mount target in %s missing or wrong: %v", key, az, mt.V)
			}
		}
		pol := x.e.of("module.storage", "aws_efs_file_system_policy", "this")[key]
		if !strings.Contains(pol.str("policy"), `"aws:SecureTransport":"false"`) {
			t.Errorf("EFS %s policy does not deny unencrypted transport: %s", key, pol.str("policy"))
		}
	}
	// An access point per use, and each host's role may use exactly its role's (or, while
	// roles share an instance role, those of every role with the same role ARN).
	apArns := checkAccessPoints(t, fss, x.e.of("module.storage", "aws_efs_access_point", "this"))
	policies := map[string]string{}
	for fs, p := range x.e.of("module.storage", "aws_efs_file_system_policy", "this") {
		policies[fs] = p.str("policy")
	}
	roleARN := x.hostRoleARNs(t)
	for role, arn := range roleARN {
		want := map[string]string{}
		for ap, by := range efsAccess {
			for r, m := range by {
				if roleARN[r] == arn && (want[ap] == "" || m == "rw") {
					want[ap] = m
				}
			}
		}
		if got := efsGrants(t, policies, apArns, arn); !reflect.DeepEqual(got, want) {
			t.Errorf("role %s (%s) may use the access points %v, want %v", role, arn, got, want)
		}
	}
}

// hostRoleARNs is the instance role ARN of each host role, through the hosts' instance
// profiles.
func (x *checker) hostRoleARNs(t *testing.T) map[string]string {
	t.Helper()
	profiles, roles := map[string]string{}, map[string]string{}
	for _, r := range x.e.all {
		switch r.Type {
		case "aws_iam_instance_profile":
			profiles[r.str("name")] = r.str("role")
		case "aws_iam_role":
			roles[r.str("name")] = r.str("arn")
		}
	}
	out := map[string]string{}
	for _, h := range x.c.hosts() {
		arn := roles[profiles[x.e.hostInstances()[h.name].str("iam_instance_profile")]]
		if arn == "" {
			t.Fatalf("%s: no instance role found through its instance profile", h.name)
		}
		if prev, ok := out[h.role]; ok && prev != arn {
			t.Errorf("hosts of role %s have different instance roles %s and %s", h.role, prev, arn)
		}
		out[h.role] = arn
	}
	return out
}

func (x *checker) s3(t *testing.T) {
	// Bucket names are global across AWS accounts: they carry the account ID, and the
	// files bucket is the name the cso binary computes (envfile.FilesBucket).
	files := x.e.one(t, "module.storage", "aws_s3_bucket", "files")
	if want := x.env.FilesBucket(); files.str("bucket") != want || want != x.c.name+"-cso-files-"+x.ef.AccountID {
		t.Errorf("files bucket %q, Go's envfile.FilesBucket %q, want %s-cso-files-%s (LLD 2.5.2 plus the account ID)", files.str("bucket"), want, x.c.name, x.ef.AccountID)
	}
	if logs := x.e.one(t, "module.storage", "aws_s3_bucket", "logs"); logs.str("bucket") != x.c.name+"-cso-logs-"+x.ef.AccountID {
		t.Errorf("logs bucket %q, want %s-cso-logs-%s", logs.str("bucket"), x.c.name, x.ef.AccountID)
	}
	if files.boolean("force_destroy") == x.c.prod {
		t.Errorf("files bucket force_destroy %v with prod %v", files.V["force_destroy"], x.c.prod)
	}
	for _, b := range []string{"files", "logs"} {
		bucket := x.e.one(t, "module.storage", "aws_s3_bucket", b).str("id")
		sse := x.e.one(t, "module.storage", "aws_s3_bucket_server_side_encryption_configuration", b)
		def := firstObj(firstObj(sse.V["rule"])["apply_server_side_encryption_by_default"])
		switch b {
		case "files":
			if def["sse_algorithm"] != "aws:kms" || def["kms_master_key_id"] != x.kmsARN(t) {
				t.Errorf("files bucket encryption %v, want aws:kms with the environment's key", def)
			}
		case "logs":
			if def["sse_algorithm"] != "AES256" {
				t.Errorf("logs bucket encryption %v, want AES256 (ALB log delivery needs SSE-S3)", def)
			}
		}
		if sse.str("bucket") != bucket {
			t.Errorf("%s encryption configured on %q", b, sse.str("bucket"))
		}
		ver := x.e.one(t, "module.storage", "aws_s3_bucket_versioning", b)
		if firstObj(ver.V["versioning_configuration"])["status"] != "Enabled" || ver.str("bucket") != bucket {
			t.Errorf("%s bucket versioning %v", b, ver.V["versioning_configuration"])
		}
		pab := x.e.one(t, "module.storage", "aws_s3_bucket_public_access_block", b)
		for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			if !pab.boolean(k) {
				t.Errorf("%s bucket public access block: %s is not true", b, k)
			}
		}
		pol := x.e.one(t, "module.storage", "aws_s3_bucket_policy", b)
		if !strings.Contains(pol.str("policy"), "DenyInsecureTransport") {
			t.Errorf("%s bucket policy does not deny plain HTTP", b)
		}
	}
	lg := x.e.one(t, "module.storage", "aws_s3_bucket_logging", "files")
	if lg.str("target_bucket") != x.e.one(t, "module.storage", "aws_s3_bucket", "logs").str("id") {
		t.Errorf("files bucket access logs go to %q", lg.str("target_bucket"))
	}
}

func (x *checker) rds(t *testing.T) {
	db := x.e.one(t, "module.database", "aws_db_instance", "this")
	wantClass := "db.t3.2xlarge"
	wantRetention := 7.0
	if x.c.prod {
		wantClass, wantRetention = "db.m6i.4xlarge", 30
	}
	for k, want := range map[string]any{
		"identifier": x.c.name + "-db", "engine": "mysql", "engine_version": "8.4", "auto_minor_version_upgrade": true, "instance_class": wantClass,
		"allocated_storage": 50.0, "max_allocated_storage": 1000.0, "storage_type": "gp3", "storage_encrypted": true,
		"kms_key_id": x.kmsARN(t), "multi_az": x.c.ha, "backup_retention_period": wantRetention,
		"backup_window": "03:00-04:00", "maintenance_window": "sun:04:00-sun:05:00",
		"performance_insights_enabled": true, "performance_insights_kms_key_id": x.kmsARN(t), "monitoring_interval": 60.0,
		"skip_final_snapshot": !x.c.prod, "deletion_protection": x.c.prod, "manage_master_user_password": true,
		"publicly_accessible": false,
	} {
		if got := db.V[k]; got != want {
			t.Errorf("RDS %s = %v, want %v", k, got, want)
		}
	}
	if db.V["password"] != nil {
		t.Error("RDS master password is set in Terraform; it must be managed by RDS")
	}
	role := x.e.one(t, "module.database", "aws_iam_role", "monitoring")
	if db.str("monitoring_role_arn") != role.str("arn") {
		t.Error("enhanced monitoring role not wired")
	}
	sg := db.V["vpc_security_group_ids"]
	if !reflect.DeepEqual(strs(sg), []string{x.sgID(t, "rds")}) {
		t.Errorf("RDS security groups %v, want the rds group", sg)
	}
	pg := x.e.one(t, "module.database", "aws_db_parameter_group", "this")
	if pg.str("family") != "mysql8.4" || db.str("parameter_group_name") != pg.str("name") {
		t.Errorf("parameter group %s family %s", pg.str("name"), pg.str("family"))
	}
	params := map[string]any{}
	for _, p := range pg.V["parameter"].([]any) {
		m := p.(map[string]any)
		params[m["name"].(string)] = m["value"]
	}
	if params["max_connections"] != "1000" {
		t.Error("parameter group does not pin max_connections=1000 (base of the connection alarms)")
	}
	// RDS for MySQL 8.4 accepts plain connections unless this is 1 (issue #10).
	if params["require_secure_transport"] != "1" {
		t.Errorf("parameter group require_secure_transport = %v, want 1: every database connection must use TLS", params["require_secure_transport"])
	}
	sng := x.e.one(t, "module.database", "aws_db_subnet_group", "this")
	priv := x.e.of("module.networking", "aws_subnet", "private")
	if got := sortedCopy(strs(sng.V["subnet_ids"])); !reflect.DeepEqual(got, sortedCopy([]string{priv[azs[0]].str("id"), priv[azs[1]].str("id")})) {
		t.Errorf("DB subnet group %v, want the private subnets", got)
	}
}

// healthChecks: the dns module's Route 53 health checks follow the target groups'
// no-healthy-host alarms (type CLOUDWATCH_METRIC): Route 53's checkers cannot reach
// private endpoints.
func (x *checker) healthChecks(t *testing.T) {
	checks := x.e.of("module.dns", "aws_route53_health_check", "service")
	alarms := x.e.of("module.monitoring", "aws_cloudwatch_metric_alarm", "no_healthy_hosts")
	if tgs := x.e.countType("aws_lb_target_group"); len(checks) != len(alarms) || len(checks) != tgs {
		t.Errorf("%d health checks, %d no-healthy-host alarms, %d target groups: want one check per target group", len(checks), len(alarms), tgs)
	}
	if want := map[bool]int{true: 3 + len(backendServices), false: 0}[x.c.ha]; len(checks) != want {
		t.Errorf("%d health checks, want %d", len(checks), want)
	}
	hcOut, _ := x.e.outputs["dns"].(map[string]any)["health_checks"].(map[string]any)
	for tg, hc := range checks {
		a, ok := alarms[tg]
		if !ok {
			t.Errorf("health check %s follows no target group alarm", tg)
			continue
		}
		for k, want := range map[string]any{
			"type": "CLOUDWATCH_METRIC", "cloudwatch_alarm_name": a.str("alarm_name"),
			"cloudwatch_alarm_region": x.ef.Region, "insufficient_data_health_status": "LastKnownStatus",
		} {
			if hc.V[k] != want {
				t.Errorf("health check %s: %s = %v, want %v", tg, k, hc.V[k], want)
			}
		}
		if hcOut[tg] != hc.str("id") {
			t.Errorf("output dns.health_checks[%s] = %v, want %s", tg, hcOut[tg], hc.str("id"))
		}
	}
}

// deployOrder: only the jump server waits for the (Multi-AZ) database. Terraform's own
// dependency record (references resolved through modules, variables and outputs) must
// not lead from any other instance to aws_db_instance, directly or through other
// resources; the jump server's must (its user data carries the master secret ARN).
func (x *checker) deployOrder(t *testing.T) {
	const db = "module.database.aws_db_instance.this"
	byResource := map[string]string{}
	for _, r := range x.e.all {
		if r.Type == "aws_instance" {
			byResource[r.Module+"."+r.Type+"."+r.Name] = fmt.Sprint(r.Key)
		}
	}
	if len(byResource) != 2 {
		t.Fatalf("instance resources %v, want module.compute.aws_instance.jump and .this", byResource)
	}
	for addr := range byResource {
		deps := x.e.dependsOn(addr)
		if len(deps) == 0 {
			t.Fatalf("%s: the state records no dependencies", addr)
		}
		jump := addr == "module.compute.aws_instance.jump"
		if deps[db] != jump {
			t.Errorf("%s depends on %s: %v, want %v", addr, db, deps[db], jump)
		}
	}
	for h, i := range x.e.hostInstances() {
		if (i.Name == "jump") != (h == "jump-server-1") {
			t.Errorf("host %s is in aws_instance.%s", h, i.Name)
		}
	}
}

func (x *checker) dns(t *testing.T) {
	zone := x.e.one(t, "module.dns", "aws_route53_zone", "private")
	if zone.str("name") != x.c.zone() {
		t.Errorf("zone %q, want %q (LLD 2.7.1)", zone.str("name"), x.c.zone())
	}
	vpc := firstObj(zone.V["vpc"])
	if vpc == nil || vpc["vpc_id"] != x.e.one(t, "module.networking", "aws_vpc", "this").str("id") {
		t.Errorf("zone not associated with the VPC: %v", zone.V["vpc"])
	}
	insts := x.e.hostInstances()
	recs := x.e.of("module.dns", "aws_route53_record", "host")
	for _, h := range x.c.hosts() {
		r := recs[h.name]
		want := []string{insts[h.name].str("private_ip")}
		if r.str("name") != h.name+"."+x.c.zone() || r.str("type") != "A" || !reflect.DeepEqual(strs(r.V["records"]), want) || r.str("zone_id") != zone.str("zone_id") {
			t.Errorf("A record of %s: %s %s %v, want %s.%s A %v", h.name, r.str("name"), r.str("type"), r.V["records"], h.name, x.c.zone(), want)
		}
	}
	aliases := x.e.of("module.dns", "aws_route53_record", "service_alias")
	for alias, target := range serviceAliases {
		r := aliases[alias]
		if r.str("name") != alias+"."+x.c.zone() || r.str("type") != "CNAME" || !reflect.DeepEqual(strs(r.V["records"]), []string{target + "." + x.c.zone()}) {
			t.Errorf("CNAME %s: %s %s %v, want -> %s.%s", alias, r.str("name"), r.str("type"), r.V["records"], target, x.c.zone())
		}
	}
	ext := x.e.of("module.dns", "aws_route53_record", "external_alias")
	db := x.e.one(t, "module.database", "aws_db_instance", "this")
	if m := ext["mysql"]; m.str("name") != "mysql."+x.c.zone() || !reflect.DeepEqual(strs(m.V["records"]), []string{db.str("address")}) {
		t.Errorf("mysql CNAME %s -> %v, want the RDS address %s", m.str("name"), m.V["records"], db.str("address"))
	}
	if x.c.ha {
		be := x.e.one(t, "module.networking", "aws_lb", "backend")
		if m := ext["backend-lb"]; !reflect.DeepEqual(strs(m.V["records"]), []string{be.str("dns_name")}) {
			t.Errorf("backend-lb CNAME -> %v, want the internal ALB %s", m.V["records"], be.str("dns_name"))
		}
	}
}

// roleSecrets is who reads which secret <env>/cso/<name> (besides each host's own TLS
// secret and the jump server's RDS master secret): what the agents and cso check use
// (internal/agent/secrets.go SecretID, internal/check).
var roleSecrets = map[string][]string{
	"jump":     {"database/cso_portal", "database/keystone", "keystone/admin", "keystone/application", "keystone/automation", "rabbitmq/ssp_user"},
	"keystone": {"database/keystone", "keystone/admin", "rabbitmq/ssp_user"},
	"rabbitmq": {"rabbitmq/erlang-cookie", "rabbitmq/ssp_user"},
	"frontend": {"database/cso_portal", "keystone/application", "rabbitmq/ssp_user"},
	"backend":  {"database/cso_portal", "keystone/application", "rabbitmq/ssp_user"},
}

func (x *checker) iamAndKMS(t *testing.T) {
	key := x.e.one(t, "module.security", "aws_kms_key", "this")
	if !key.boolean("enable_key_rotation") {
		t.Error("KMS key rotation disabled")
	}
	files := x.e.one(t, "module.storage", "aws_s3_bucket", "files").str("arn")
	secretARN := map[string]string{} // name without "<env>/cso/" => ARN
	for _, r := range x.e.all {
		if r.Type == "aws_secretsmanager_secret" {
			secretARN[strings.TrimPrefix(r.str("name"), x.c.name+"/cso/")] = r.str("arn")
		}
	}
	roles := x.e.of("module.security", "aws_iam_role", "host")
	profiles := x.e.of("module.security", "aws_iam_instance_profile", "host")
	policies := x.e.of("module.security", "aws_iam_policy", "host")
	own := x.e.of("module.security", "aws_iam_role_policy", "own_host")
	if got := sortedCopy(keysOf(roles)); !reflect.DeepEqual(got, []string{"backend", "frontend", "jump", "keystone", "rabbitmq"}) {
		t.Fatalf("host roles %v: want one per host role", got)
	}
	insts := x.e.hostInstances()
	for name, role := range roles {
		if role.str("name") != x.c.name+"-cso-"+name || !strings.Contains(role.str("assume_role_policy"), "ec2.amazonaws.com") {
			t.Errorf("host role %s: %s trusts %s", name, role.str("name"), role.str("assume_role_policy"))
		}
		if p := profiles[name]; p.str("role") != role.str("name") {
			t.Errorf("instance profile of %s carries role %q, want %q", name, p.str("role"), role.str("name"))
		}
		custom := policies[name]
		var attached []string
		for _, r := range x.e.all {
			if r.Type == "aws_iam_role_policy_attachment" && r.Module == "module.security" && r.str("role") == role.str("name") {
				attached = append(attached, r.str("policy_arn"))
			}
		}
		want := sortedCopy([]string{
			"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
			"arn:aws:iam::aws:policy/AmazonSSMPatchAssociation",
			custom.str("arn"),
		})
		if got := sortedCopy(attached); !reflect.DeepEqual(got, want) {
			t.Errorf("%s role policies %v, want %v (LLD 2.3.2)", name, got, want)
		}

		// The role policy: the secrets of roleSecrets by exact ARN, the RDS master secret
		// for the jump server only, no write to the bucket.
		var secrets, keyActions []string
		master := false
		for _, s := range decodePolicy(t, name+" policy", custom.str("policy")).Statement {
			if s["Effect"] != "Allow" {
				continue
			}
			acts := asList(s["Action"])
			for _, a := range acts {
				if strings.HasSuffix(a, ":*") || a == "*" {
					t.Errorf("%s policy grants wildcard action %s", name, a)
				}
				if strings.HasPrefix(a, "kms:") {
					keyActions = append(keyActions, a)
				}
				// The jump server alone writes the scheduled backups (backups/*,
				// docs/decisions/backup.md); the frontends and backends write the lease that
				// restarts the application one host at a time (locks/app-restart.json,
				// docs/decisions/cli.md), and nothing else.
				writesLease := (name == "frontend" || name == "backend") && onlyObjects(asList(s["Resource"]), "/locks/app-restart.json")
				if a == "s3:PutObject" && !(name == "jump" && onlyObjects(asList(s["Resource"]), "/backups/*")) && !writesLease {
					t.Errorf("%s policy lets every %s host write %v: each host writes its own status only", name, name, s["Resource"])
				}
			}
			for _, r := range asList(s["Resource"]) {
				// PutMetricData has no resource type; log_groups checks its namespace condition.
				if r == "*" && !reflect.DeepEqual(acts, []string{"cloudwatch:PutMetricData"}) {
					t.Errorf("%s policy statement %v on Resource *", name, s["Sid"])
				}
				if !slices.Contains(acts, "secretsmanager:GetSecretValue") {
					continue
				}
				if strings.Contains(r, ":secret:rds!db-") {
					master = strings.Contains(fmt.Sprint(s["Condition"]), x.e.one(t, "module.database", "aws_db_instance", "this").str("arn"))
					continue
				}
				secrets = append(secrets, r)
			}
		}
		var wantSecrets []string
		for _, n := range roleSecrets[name] {
			if secretARN[n] == "" {
				t.Fatalf("no secret %s/cso/%s in the state", x.c.name, n)
			}
			wantSecrets = append(wantSecrets, secretARN[n])
		}
		if got := sortedCopy(secrets); !reflect.DeepEqual(got, sortedCopy(wantSecrets)) {
			t.Errorf("%s policy reads secrets %v, want exactly %v (%v)", name, got, sortedCopy(wantSecrets), roleSecrets[name])
		}
		if master != (name == "jump") {
			t.Errorf("%s policy reads the RDS master secret (scoped to this instance): %v, want %v", name, master, name == "jump")
		}
		if !slices.Contains(keyActions, "kms:GenerateDataKey") || !slices.Contains(keyActions, "kms:Decrypt") {
			t.Errorf("%s policy KMS actions %v: the status writes (SSE-KMS) need kms:GenerateDataKey", name, keyActions)
		}
		if p := custom.str("policy"); strings.Contains(p, "cso-pki") || strings.Contains(p, "/cso/tls/") || strings.Contains(p, "/cso/*") {
			t.Errorf("%s policy names the CA key, a TLS secret or every secret: %s", name, p)
		}

		// The own-host policy: per host of the role, its TLS secret and its status document,
		// each only for credentials of that host's instance.
		type grant struct{ resource, userid string }
		var got, wantOwn []grant
		for _, h := range x.c.hosts() {
			if h.role != name {
				continue
			}
			id := "*:" + insts[h.name].str("id")
			wantOwn = append(wantOwn, grant{secretARN["tls/"+h.name], id}, grant{files + "/status/" + h.name + ".json", id})
		}
		if own[name].str("role") != role.str("name") {
			t.Errorf("own-host policy of %s on role %q", name, own[name].str("role"))
		}
		for _, s := range decodePolicy(t, name+" own-host policy", own[name].str("policy")).Statement {
			cond, _ := s["Condition"].(map[string]any)
			like, _ := cond["StringLike"].(map[string]any)
			acts := asList(s["Action"])
			ok := s["Effect"] == "Allow" && len(cond) == 1 && len(like) == 1 &&
				(reflect.DeepEqual(acts, []string{"s3:PutObject"}) || reflect.DeepEqual(sortedCopy(acts), []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}))
			if !ok {
				t.Errorf("%s own-host statement %v: want Allow of a secret read or s3:PutObject under one aws:userid condition", name, s)
			}
			for _, r := range asList(s["Resource"]) {
				u, _ := like["aws:userid"].(string)
				got = append(got, grant{r, u})
			}
		}
		sortGrants := func(g []grant) {
			slices.SortFunc(g, func(a, b grant) int { return strings.Compare(a.resource+a.userid, b.resource+b.userid) })
		}
		sortGrants(got)
		sortGrants(wantOwn)
		if !reflect.DeepEqual(got, wantOwn) {
			t.Errorf("%s own-host grants %v, want %v", name, got, wantOwn)
		}
	}
	x.certificateRenewal(t, roles["jump"], secretARN, key.str("arn"))
}

// certificateRenewal: the jump role's policy of the scheduled certificate renewal (issue
// #13) reads the CA key and reads and writes exactly the hosts' TLS secrets, with the KMS
// key through Secrets Manager only; it is the only grant on either.
func (x *checker) certificateRenewal(t *testing.T, jump res, secretARN map[string]string, keyARN string) {
	t.Helper()
	renew := x.e.of("module.security", "aws_iam_role_policy", "jump_certificate_renewal")
	if len(renew) != 1 {
		t.Fatalf("jump_certificate_renewal: %d policies, want 1", len(renew))
	}
	var p res
	for _, r := range renew {
		p = r
	}
	if p.str("role") != jump.str("name") {
		t.Errorf("certificate renewal policy on role %q, want the jump role %q", p.str("role"), jump.str("name"))
	}
	var tls []string
	for _, h := range x.c.hostNames() {
		tls = append(tls, secretARN["tls/"+h])
	}
	want := map[string]struct {
		resources []string
		via       bool // under kms:ViaService Secrets Manager
	}{
		"secretsmanager:GetSecretValue": {sortedCopy(append([]string{secretARN[x.c.name+"/cso-pki/root-ca"]}, tls...)), false},
		"secretsmanager:PutSecretValue": {sortedCopy(tls), false},
		"kms:Decrypt":                   {[]string{keyARN}, true},
		"kms:GenerateDataKey":           {[]string{keyARN}, true},
	}
	got := map[string][]string{}
	for _, s := range decodePolicy(t, "certificate renewal policy", p.str("policy")).Statement {
		if s["Effect"] != "Allow" {
			t.Errorf("certificate renewal statement %v: not an Allow", s["Sid"])
		}
		cond := fmt.Sprint(s["Condition"])
		for _, a := range asList(s["Action"]) {
			w, ok := want[a]
			if !ok {
				t.Errorf("certificate renewal policy grants %s: want only the secret reads and writes and their KMS calls", a)
				continue
			}
			if w.via != strings.Contains(cond, "kms:ViaService:secretsmanager."+x.ef.Region+".amazonaws.com") {
				t.Errorf("certificate renewal statement %v: %s condition %s", s["Sid"], a, cond)
			}
			got[a] = append(got[a], asList(s["Resource"])...)
		}
	}
	for a, w := range want {
		if g := sortedCopy(got[a]); !reflect.DeepEqual(g, w.resources) {
			t.Errorf("certificate renewal policy: %s on %v, want %v", a, g, w.resources)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// secretValues returns every generated secret: passwords and private keys.
func (x *checker) secretValues(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range x.e.all {
		switch r.Type {
		case "random_password":
			out = append(out, r.str("result"))
		case "tls_private_key":
			out = append(out, r.str("private_key_pem"), r.str("private_key_pem_pkcs8"), r.str("private_key_openssh"))
		}
	}
	var nonEmpty []string
	for _, s := range out {
		if len(s) >= 16 {
			nonEmpty = append(nonEmpty, s)
		}
	}
	if len(nonEmpty) < 5 {
		t.Fatalf("found only %d secret values in the state: the test cannot check for leaks", len(nonEmpty))
	}
	return nonEmpty
}

func (x *checker) secrets(t *testing.T) {
	kms := x.kmsARN(t)
	want := []string{
		x.c.name + "/cso/rabbitmq/ssp_user", x.c.name + "/cso/keystone/admin", x.c.name + "/cso/keystone/automation", x.c.name + "/cso/keystone/application", x.c.name + "/cso/rabbitmq/erlang-cookie",
		x.c.name + "/cso/database/keystone", x.c.name + "/cso/database/cso_portal", x.c.name + "/cso-pki/root-ca",
	}
	for _, h := range x.c.hostNames() {
		want = append(want, x.c.name+"/cso/tls/"+h)
	}
	sort.Strings(want)
	var got []string
	byID := map[string]string{}
	for _, r := range x.e.all {
		if r.Type != "aws_secretsmanager_secret" {
			continue
		}
		got = append(got, r.str("name"))
		byID[r.str("id")] = r.str("name")
		if r.str("kms_key_id") != kms {
			t.Errorf("secret %s not encrypted with the environment's key", r.str("name"))
		}
		wantWindow := 0.0
		if x.c.prod {
			wantWindow = 30
		}
		if r.num("recovery_window_in_days") != wantWindow {
			t.Errorf("secret %s recovery window %v, want %v", r.str("name"), r.V["recovery_window_in_days"], wantWindow)
		}
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secrets %v, want %v", got, want)
	}
	// Each password is stored: the secret values hold the generated passwords.
	var stored strings.Builder
	for _, r := range x.e.all {
		if r.Type == "aws_secretsmanager_secret_version" {
			if _, ok := byID[r.str("secret_id")]; !ok {
				t.Errorf("%s belongs to no secret of the stack", r.Address)
			}
			stored.WriteString(r.str("secret_string"))
		}
	}
	for _, r := range x.e.all {
		if r.Type == "random_password" && !strings.Contains(stored.String(), r.str("result")) {
			t.Errorf("%s is not stored in Secrets Manager", r.Address)
		}
		if r.Type == "random_password" && (r.num("length") < 32 || r.boolean("special")) {
			t.Errorf("%s: length %v special %v, want 32 letters and digits", r.Address, r.V["length"], r.V["special"])
		}
	}
	var hostSecret map[string]any
	for _, r := range x.e.of("module.security", "aws_secretsmanager_secret_version", "host_tls") {
		if err := json.Unmarshal([]byte(r.str("secret_string")), &hostSecret); err != nil {
			t.Fatalf("host TLS secret is not JSON: %v", err)
		}
		for _, k := range []string{"certificate", "private_key", "ca_certificate"} {
			if v, _ := hostSecret[k].(string); !strings.HasPrefix(v, "-----BEGIN ") {
				t.Errorf("host TLS secret %s: %s is not PEM", r.Address, k)
			}
		}
	}
}

func (x *checker) pki(t *testing.T) {
	ca := x.e.one(t, "module.security", "tls_self_signed_cert", "root_ca")
	caKey := x.e.one(t, "module.security", "tls_private_key", "root_ca")
	if caKey.str("algorithm") != "RSA" || caKey.num("rsa_bits") != 4096 {
		t.Errorf("root CA key %s %v, want RSA 4096", caKey.str("algorithm"), caKey.V["rsa_bits"])
	}
	caCert := parseCert(t, "root CA", ca.str("cert_pem"))
	if !caCert.IsCA || caCert.Subject.CommonName != x.c.name+" DXC SSP Root CA" || !reflect.DeepEqual(caCert.Subject.Organization, []string{"DXC"}) {
		t.Errorf("root CA: IsCA %v subject %v, want CA %q O=DXC (LLD 2.3.3)", caCert.IsCA, caCert.Subject, x.c.name+" DXC SSP Root CA")
	}
	if pk, ok := caCert.PublicKey.(*rsa.PublicKey); !ok || pk.N.BitLen() != 4096 {
		t.Error("root CA certificate does not carry an RSA 4096 key")
	}
	if years := caCert.NotAfter.Sub(caCert.NotBefore).Hours() / (365 * 24); years < 29.9 || years > 30.1 {
		t.Errorf("root CA valid %.1f years, want 30", years)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	certs := x.e.of("module.security", "tls_locally_signed_cert", "host")
	for _, h := range x.c.hosts() {
		r, ok := certs[h.name]
		if !ok {
			t.Errorf("no certificate for %s", h.name)
			continue
		}
		c := parseCert(t, h.name, r.str("cert_pem"))
		fqdn := h.name + "." + x.c.zone()
		wantNames := []string{fqdn, h.name, "localhost"}
		if a, ok := roleAlias[h.role]; ok {
			wantNames = append(wantNames, a+"."+x.c.zone())
		}
		if !reflect.DeepEqual(sortedCopy(c.DNSNames), sortedCopy(wantNames)) {
			t.Errorf("%s certificate DNS names %v, want %v", h.name, c.DNSNames, wantNames)
		}
		if _, err := c.Verify(x509.VerifyOptions{DNSName: fqdn, Roots: roots, CurrentTime: c.NotBefore.Add(time.Hour),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("%s certificate does not verify against the root CA for %s: %v", h.name, fqdn, err)
		}
		if days := c.NotAfter.Sub(c.NotBefore).Hours() / 24; days < 364 || days > 366 {
			t.Errorf("%s certificate valid %.0f days, want about a year", h.name, days)
		}
	}
}

func parseCert(t *testing.T, what, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("%s: certificate is not PEM", what)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c
}

func (x *checker) monitoring(t *testing.T) {
	topic := x.e.one(t, "module.monitoring", "aws_sns_topic", "alarms")
	if topic.str("kms_master_key_id") != x.kmsARN(t) {
		t.Error("alarm topic not encrypted with the environment's key")
	}
	sub := x.e.one(t, "module.monitoring", "aws_sns_topic_subscription", "admin_email")
	if sub.str("protocol") != "email" || sub.str("endpoint") != x.ef.AdminEmail || sub.str("topic_arn") != topic.str("arn") {
		t.Errorf("subscription %s %s, want email to %s", sub.str("protocol"), sub.str("endpoint"), x.ef.AdminEmail)
	}
	alarms := map[string]res{}
	for _, r := range x.e.all {
		if r.Type == "aws_cloudwatch_metric_alarm" {
			alarms[r.str("alarm_name")] = r
			if !reflect.DeepEqual(strs(r.V["alarm_actions"]), []string{topic.str("arn")}) {
				t.Errorf("alarm %s does not notify the topic", r.str("alarm_name"))
			}
		}
	}
	// LLD 9.5.2: threshold and how long it must hold (seconds).
	type rule struct {
		metric    string
		threshold float64
		seconds   float64
	}
	hostRules := map[string]rule{
		"cpu-critical":    {"CPUUtilization", 90, 300},
		"cpu-warning":     {"CPUUtilization", 80, 600},
		"memory-critical": {"mem_used_percent", 95, 300},
		"memory-warning":  {"mem_used_percent", 85, 600},
		"disk-critical":   {"disk_used_percent", 95, 300},
		"disk-warning":    {"disk_used_percent", 85, 300},
	}
	insts := x.e.hostInstances()
	for _, h := range x.c.hosts() {
		for name, r := range hostRules {
			a, ok := alarms[x.c.name+"-"+h.name+"-"+name]
			if !ok {
				t.Errorf("no %s alarm for %s", name, h.name)
				continue
			}
			dims, _ := a.V["dimensions"].(map[string]any)
			if a.str("metric_name") != r.metric || a.num("threshold") != r.threshold || a.num("period")*a.num("evaluation_periods") != r.seconds ||
				a.str("comparison_operator") != "GreaterThanThreshold" || dims["InstanceId"] != insts[h.name].str("id") {
				t.Errorf("alarm %s-%s: %s > %v over %v s on %v, want %s > %v over %v s", h.name, name, a.str("metric_name"), a.V["threshold"],
					a.num("period")*a.num("evaluation_periods"), dims, r.metric, r.threshold, r.seconds)
			}
		}
	}
	gib := float64(1 << 30)
	for name, want := range map[string]float64{
		"rds-connections-critical": 900, "rds-connections-warning": 750,
		"rds-free-storage-critical": 5 * gib, "rds-free-storage-warning": 10 * gib,
		"rds-cpu-critical": 90, "rds-cpu-warning": 80,
	} {
		a, ok := alarms[x.c.name+"-"+name]
		if !ok || a.num("threshold") != want {
			t.Errorf("alarm %s threshold %v, want %v", name, a.V["threshold"], want)
		}
	}
	for _, fs := range []string{"scripts", "ssl-certs"} {
		a, ok := alarms[x.c.name+"-efs-"+fs+"-io-limit-warning"]
		if !ok || a.str("metric_name") != "PercentIOLimit" || a.num("threshold") != 80 {
			t.Errorf("EFS %s PercentIOLimit alarm %v", fs, a.V)
		}
		if _, ok := alarms[x.c.name+"-efs-"+fs+"-throughput-warning"]; !ok {
			t.Errorf("no EFS %s throughput alarm", fs)
		}
	}
	tgAlarms := 0
	for name := range alarms {
		if strings.Contains(name, "-tg-") && strings.HasSuffix(name, "-unhealthy-warning") {
			tgAlarms++
		}
	}
	if want := map[bool]int{true: 3 + len(backendServices), false: 0}[x.c.ha]; tgAlarms != want {
		t.Errorf("%d unhealthy-host alarms, want %d", tgAlarms, want)
	}
}

func (x *checker) outputs(t *testing.T) {
	o := x.e.outputs
	for _, k := range []string{"vpc_id", "subnets", "hosts", "load_balancers", "buckets", "database", "secret_arns", "zone_id", "environment"} {
		if _, ok := o[k]; !ok {
			t.Errorf("output %s missing", k)
		}
	}
	if o["vpc_id"] != x.e.one(t, "module.networking", "aws_vpc", "this").str("id") {
		t.Errorf("output vpc_id %v", o["vpc_id"])
	}
	subnets, _ := o["subnets"].(map[string]any)
	for tier, want := range map[string][2]string{"public": x.c.public, "private": x.c.private} {
		byAZ, _ := subnets[tier].(map[string]any)
		for i, az := range azs {
			s, _ := byAZ[az].(map[string]any)
			if s["cidr_block"] != want[i] {
				t.Errorf("output subnets.%s.%s = %v, want %s", tier, az, s, want[i])
			}
		}
	}
	hosts, _ := o["hosts"].(map[string]any)
	insts := x.e.hostInstances()
	for _, h := range x.c.hosts() {
		got, _ := hosts[h.name].(map[string]any)
		want := map[string]any{"role": h.role, "index": float64(h.index), "private_ip": insts[h.name].str("private_ip"),
			"fqdn": h.name + "." + x.c.zone(), "instance_type": x.c.instanceType(h.role)}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("output hosts[%s].%s = %v, want %v", h.name, k, got[k], v)
			}
		}
	}
	if len(hosts) != len(x.c.hosts()) {
		t.Errorf("output hosts has %d hosts, want %d", len(hosts), len(x.c.hosts()))
	}
	lbs, _ := o["load_balancers"].(map[string]any)
	if x.c.ha {
		if lbs["frontend"] != x.e.one(t, "module.networking", "aws_lb", "frontend").str("dns_name") || lbs["backend"] == nil {
			t.Errorf("output load_balancers %v", lbs)
		}
	} else if lbs["frontend"] != nil || lbs["backend"] != nil {
		t.Errorf("output load_balancers %v without ha", lbs)
	}
	b, _ := o["buckets"].(map[string]any)
	if b["files"] != x.env.FilesBucket() {
		t.Errorf("output buckets %v, want files = %s (envfile.FilesBucket)", b, x.env.FilesBucket())
	}
	db, _ := o["database"].(map[string]any)
	rds := x.e.one(t, "module.database", "aws_db_instance", "this")
	if db["endpoint"] != rds.str("endpoint") || db["hostname"] != "mysql."+x.c.zone() {
		t.Errorf("output database %v", db)
	}
	if v, _ := db["engine_version"].(string); v == "" || v != rds.str("engine_version_actual") {
		t.Errorf("output database.engine_version %v, want the running version %q (engine_version_actual)", db["engine_version"], rds.str("engine_version_actual"))
	}
	if o["zone_id"] != x.e.one(t, "module.dns", "aws_route53_zone", "private").str("zone_id") {
		t.Errorf("output zone_id %v", o["zone_id"])
	}
	sa, _ := o["secret_arns"].(map[string]any)
	raw, _ := json.Marshal(sa)
	for _, r := range x.e.all {
		if r.Type == "aws_secretsmanager_secret" && !strings.Contains(string(raw), r.str("arn")) {
			t.Errorf("output secret_arns lacks %s (%s)", r.str("name"), r.str("arn"))
		}
	}
	if sa["database_master"] == nil {
		t.Error("output secret_arns.database_master is null")
	}
	// What cso deploy puts in target.json for the admin dashboard behind the ALB.
	dash, _ := o["admin_dashboard"].(map[string]any)
	if !x.c.ha {
		if o["admin_dashboard"] != nil {
			t.Errorf("output admin_dashboard %v without ha", o["admin_dashboard"])
		}
		return
	}
	cog := x.ef.LoadBalancer.Cognito
	want := map[string]any{
		"alb_arn":              x.e.one(t, "module.networking", "aws_lb", "frontend").str("arn"),
		"alb_region":           x.ef.Region,
		"cognito_user_pool_id": poolIDOf(cog.UserPoolARN),
		"cognito_region":       strings.Split(cog.UserPoolARN, ":")[3],
		"cognito_client_id":    cog.UserPoolClientID,
		"admin_group":          "cso-admins",
	}
	if !reflect.DeepEqual(dash, want) {
		t.Errorf("output admin_dashboard %v, want %v", dash, want)
	}
}

func (x *checker) noSecretInOutputs(t *testing.T) {
	// Every string of every output, decoded (a PEM's newlines are real newlines here).
	var parts []string
	var collect func(v any)
	collect = func(v any) {
		switch y := v.(type) {
		case string:
			parts = append(parts, y)
		case map[string]any:
			for k, e := range y {
				parts = append(parts, k)
				collect(e)
			}
		case []any:
			for _, e := range y {
				collect(e)
			}
		}
	}
	collect(x.e.outputs)
	all := strings.Join(parts, "\x00")
	if strings.Contains(all, "PRIVATE KEY") {
		t.Error("an output contains a private key PEM")
	}
	for _, s := range x.secretValues(t) {
		if strings.Contains(all, s) {
			t.Errorf("an output contains a generated secret (%d characters)", len(s))
		}
	}
	for _, p := range parts {
		if strings.EqualFold(p, "password") {
			t.Error("an output has a password field")
		}
	}
}

func tagOf(r res, k string) string {
	tags, _ := r.V["tags"].(map[string]any)
	s, _ := tags[k].(string)
	return s
}

// onlyObjects says whether every resource is a bucket's key ending in suffix.
func onlyObjects(resources []string, suffix string) bool {
	for _, r := range resources {
		if !strings.HasSuffix(r, suffix) {
			return false
		}
	}
	return len(resources) > 0
}
