package testprovider

import (
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// AWS resources get ids, names and ARNs in the shapes AWS uses, consistent with each
// other (the ARN of a VPC ends in its id, a role's ARN in its name), so stacks that parse
// or pattern-match them behave as they would against AWS.

// ec2ARNTypes maps resource types to the resource-type part of their EC2 ARN.
var ec2ARNTypes = map[string]string{
	"vpc": "vpc", "subnet": "subnet", "instance": "instance", "security_group": "security-group",
	"internet_gateway": "internet-gateway", "nat_gateway": "natgateway", "route_table": "route-table",
	"network_interface": "network-interface", "eip": "elastic-ip", "vpc_endpoint": "vpc-endpoint",
	"launch_template": "launch-template", "key_pair": "key-pair", "network_acl": "network-acl",
	"ebs_volume": "volume", "vpc_security_group_ingress_rule": "security-group-rule",
	"vpc_security_group_egress_rule": "security-group-rule", "flow_log": "vpc-flow-log",
	"egress_only_internet_gateway": "egress-only-internet-gateway", "default_security_group": "security-group",
	"default_route_table": "route-table", "default_network_acl": "network-acl", "placement_group": "placement-group",
	"vpc_dhcp_options": "dhcp-options", "customer_gateway": "customer-gateway", "vpn_gateway": "vpn-gateway",
	"ec2_transit_gateway": "transit-gateway", "vpc_peering_connection": "vpc-peering-connection",
}

// nameAttrs are the attributes that hold a resource's user-facing name, by preference.
var nameAttrs = []string{"name", "identifier", "cluster_identifier", "alarm_name", "function_name",
	"replication_group_id", "cluster_id", "domain_name", "bucket", "broker_name", "repository_name", "table_name"}

// awsNaming fills id, name and arn of an aws_ resource when they are unknown.
func awsNaming(f *filler, m map[string]tftypes.Value) {
	stem := resourceStem(f.typeName)
	region, acct := f.p.regionOr(), AccountID
	name := awsName(f, m, stem)
	for _, n := range nameAttrs[:3] {
		if v, ok := m[n]; ok && !v.IsKnown() {
			setStr(m, n, name)
			break
		}
	}
	if stem == "kms_key" || stem == "kms_replica_key" {
		id := uuidOf(f.seed)
		setStr(m, "key_id", id)
		setStr(m, "id", id)
		setStr(m, "arn", "arn:aws:kms:"+region+":"+acct+":key/"+id)
		return
	}
	var id, arn string
	if t, ok := ec2ARNTypes[stem]; ok {
		if s, ok := str(m["id"]); ok {
			id = s
		} else if pre := idPrefixes[stem]; pre != "" {
			id = ec2ID(pre, f.typeName, f.seed)
		} else {
			id = ec2ID(strings.Split(t, "-")[0], f.typeName, f.seed)
		}
		arn = "arn:aws:ec2:" + region + ":" + acct + ":" + t + "/" + id
	} else {
		id, arn = awsIDAndARN(f, m, stem, name)
	}
	if id != "" {
		setStr(m, "id", id)
	}
	if arn != "" {
		setStr(m, "arn", arn)
	}
}

// awsName is a resource's name: configured, from a *_prefix, or generated as Terraform does.
func awsName(f *filler, m map[string]tftypes.Value, stem string) string {
	for _, n := range nameAttrs {
		if s, ok := str(m[n]); ok && s != "" {
			return s
		}
	}
	prefix := "terraform-"
	for _, n := range []string{"name_prefix", "identifier_prefix", "cluster_identifier_prefix", "bucket_prefix"} {
		if s, ok := str(m[n]); ok && s != "" {
			prefix = s
		}
	}
	name := prefix + hexOf(26, f.seed)
	if stem == "db_instance" || stem == "rds_cluster" {
		name = strings.ToLower(name)
	}
	return name
}

// awsIDAndARN are the id and ARN of a resource outside EC2, in AWS's shape for its type
// (and the other attributes AWS derives with them). One case per type: a table of shapes,
// kept as one switch so that a type's shape is found in one place.
func awsIDAndARN(f *filler, m map[string]tftypes.Value, stem, name string) (id, arn string) {
	region, acct, h16 := f.p.regionOr(), AccountID, hexOf(16, f.seed)
	switch stem {
	case "iam_role", "iam_instance_profile", "iam_user", "iam_group":
		kind := map[string]string{"iam_role": "role", "iam_instance_profile": "instance-profile", "iam_user": "user", "iam_group": "group"}[stem]
		path, ok := str(m["path"])
		if !ok || path == "" {
			path = "/"
		}
		id, arn = name, "arn:aws:iam::"+acct+":"+kind+path+name
		setStr(m, "unique_id", "AROA"+strings.ToUpper(hexOf(17, f.seed)))
	case "iam_policy":
		arn = "arn:aws:iam::" + acct + ":policy/" + name
		id = arn
		setStr(m, "policy_id", "ANPA"+strings.ToUpper(hexOf(17, f.seed)))
	case "secretsmanager_secret":
		arn = "arn:aws:secretsmanager:" + region + ":" + acct + ":secret:" + name + "-" + hexOf(6, f.seed)
		id = arn
	case "secretsmanager_secret_version":
		sid, _ := str(m["secret_id"])
		v := uuidOf(f.seed)
		setStr(m, "version_id", v)
		id, arn = sid+"|"+v, sid
	case "kms_alias":
		id, arn = name, "arn:aws:kms:"+region+":"+acct+":"+name
	case "lb_target_group", "alb_target_group":
		suffix := "targetgroup/" + name + "/" + h16
		arn = "arn:aws:elasticloadbalancing:" + region + ":" + acct + ":" + suffix
		id = arn
		setStr(m, "arn_suffix", suffix)
	case "lb_listener", "alb_listener", "lb_listener_rule", "alb_listener_rule":
		arn = listenerARN(f, m, stem, region, acct, h16)
		id = arn
	case "db_instance":
		id, arn = "db-"+strings.ToUpper(hexOf(26, f.seed)), "arn:aws:rds:"+region+":"+acct+":db:"+name
		setStr(m, "resource_id", id)
	case "rds_cluster":
		id, arn = name, "arn:aws:rds:"+region+":"+acct+":cluster:"+name
	case "db_subnet_group", "db_parameter_group", "db_option_group", "rds_cluster_parameter_group":
		kind := map[string]string{"db_subnet_group": "subgrp", "db_parameter_group": "pg", "db_option_group": "og", "rds_cluster_parameter_group": "cluster-pg"}[stem]
		id, arn = name, "arn:aws:rds:"+region+":"+acct+":"+kind+":"+name
	case "cloudwatch_log_group":
		id, arn = name, "arn:aws:logs:"+region+":"+acct+":log-group:"+name
	case "cloudwatch_metric_alarm":
		id, arn = name, "arn:aws:cloudwatch:"+region+":"+acct+":alarm:"+name
	case "sns_topic":
		arn = "arn:aws:sns:" + region + ":" + acct + ":" + name
		id = arn
	case "sqs_queue":
		id, arn = "https://sqs."+region+".amazonaws.com/"+acct+"/"+name, "arn:aws:sqs:"+region+":"+acct+":"+name
		setStr(m, "url", id)
	case "acm_certificate", "acmpca_certificate_authority":
		arn = "arn:aws:acm:" + region + ":" + acct + ":certificate/" + uuidOf(f.seed)
		id = arn
	case "route53_zone":
		id = "Z" + strings.ToUpper(hexOf(20, f.seed))
		arn = "arn:aws:route53:::hostedzone/" + id
		setStr(m, "zone_id", id)
		f.counts["name_servers"] = 4
	case "route53_record":
		zone, _ := str(m["zone_id"])
		typ, _ := str(m["type"])
		id = zone + "_" + name + "_" + typ
		setStr(m, "fqdn", strings.TrimSuffix(name, "."))
	case "efs_file_system":
		id = ec2ID("fs", f.typeName, f.seed)
		arn = "arn:aws:elasticfilesystem:" + region + ":" + acct + ":file-system/" + id
	case "efs_mount_target":
		fs, _ := str(m["file_system_id"])
		id = ec2ID("fsmt", f.typeName, f.seed)
		setStr(m, "dns_name", fs+".efs."+region+".amazonaws.com")
		setStr(m, "mount_target_dns_name", f.p.genString(f, "availability_zone", false, "az")+"."+fs+".efs."+region+".amazonaws.com")
	case "efs_access_point":
		id = ec2ID("fsap", f.typeName, f.seed)
		arn = "arn:aws:elasticfilesystem:" + region + ":" + acct + ":access-point/" + id
	case "ssm_parameter":
		id, arn = name, "arn:aws:ssm:"+region+":"+acct+":parameter/"+strings.TrimPrefix(name, "/")
	case "lambda_function":
		id, arn = name, "arn:aws:lambda:"+region+":"+acct+":function:"+name
	}
	return id, arn
}

// listenerARN is the ARN of a load balancer's listener or listener rule: under its load
// balancer's (or listener's) ARN when known.
func listenerARN(f *filler, m map[string]tftypes.Value, stem, region, acct, h16 string) string {
	lbArn, _ := str(m["load_balancer_arn"])
	if lbArn == "" {
		lbArn, _ = str(m["listener_arn"])
	}
	kind := "listener"
	if strings.HasSuffix(stem, "_rule") {
		kind = "listener-rule"
	}
	lbPart := "app/terraform/" + hexOf(16, "lb", f.seed)
	if i := strings.Index(lbArn, "loadbalancer/"); i >= 0 {
		lbPart = lbArn[i+len("loadbalancer/"):]
	} else if i := strings.Index(lbArn, "listener/"); i >= 0 {
		lbPart = lbArn[i+len("listener/"):]
	}
	return "arn:aws:elasticloadbalancing:" + region + ":" + acct + ":" + kind + "/" + lbPart + "/" + h16
}
