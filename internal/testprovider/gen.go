package testprovider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Fixed facts of the fake AWS account every generated value agrees with.
const (
	AccountID     = "111122223333"
	DefaultRegion = "eu-west-2"
	// AL2023AMI is what aws_ami and the AL2023 SSM public parameter answer.
	AL2023AMI     = "ami-0d1c4d5e8f2a3b4c5"
	AL2023AMIName = "al2023-ami-2023.9.20251117.1-kernel-6.1-x86_64"
)

// AvailabilityZones of the fake region.
var AvailabilityZones = []string{"eu-west-2a", "eu-west-2b", "eu-west-2c"}

// providerState is what ConfigureProvider learnt.
type providerState struct {
	name        string
	region      string
	defaultTags map[string]string
}

func (p *providerState) regionOr() string {
	if p.region != "" {
		return p.region
	}
	return DefaultRegion
}

// hexOf returns n deterministic lowercase hex characters for the given parts.
func hexOf(n int, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	s := hex.EncodeToString(h[:])
	for len(s) < n {
		s += s
	}
	return s[:n]
}

// idPrefixes are the EC2-style id prefixes by resource type or attribute name stem.
var idPrefixes = map[string]string{
	"vpc": "vpc", "subnet": "subnet", "instance": "i", "security_group": "sg", "internet_gateway": "igw",
	"nat_gateway": "nat", "eip": "eipalloc", "route_table": "rtb", "network_interface": "eni",
	"ami": "ami", "image": "ami", "vpc_endpoint": "vpce", "ebs_volume": "vol", "volume": "vol",
	"launch_template": "lt", "key_pair": "key", "network_acl": "acl", "default_network_acl": "acl",
	"vpc_security_group_ingress_rule": "sgr", "vpc_security_group_egress_rule": "sgr",
	"security_group_rule": "sgrule", "efs_file_system": "fs", "file_system": "fs", "efs_mount_target": "fsmt",
	"efs_access_point": "fsap", "route": "r", "route_table_association": "rtbassoc", "eip_association": "eipassoc",
	"association": "eipassoc", "allocation": "eipalloc", "snapshot": "snap", "flow_log": "fl",
	"default_security_group": "sg", "default_route_table": "rtb", "main_route_table": "rtb",
	"primary_network_interface": "eni", "customer_gateway": "cgw", "vpn_gateway": "vgw",
	"transit_gateway": "tgw", "egress_only_internet_gateway": "eigw", "dhcp_options": "dopt",
	"placement_group": "pg", "vpc_peering_connection": "pcx", "prefix_list": "pl", "owner": "",
}

// svcOf guesses the ARN service of a resource type.
func svcOf(typeName string) string {
	t := strings.TrimPrefix(strings.TrimPrefix(typeName, "aws_"), "data.")
	switch {
	case strings.HasPrefix(t, "lb") || strings.HasPrefix(t, "alb") || strings.HasPrefix(t, "elb"):
		return "elasticloadbalancing"
	case strings.HasPrefix(t, "db_") || strings.HasPrefix(t, "rds_"):
		return "rds"
	case strings.HasPrefix(t, "iam_"):
		return "iam"
	case strings.HasPrefix(t, "s3"):
		return "s3"
	case strings.HasPrefix(t, "cloudwatch_log"):
		return "logs"
	case strings.HasPrefix(t, "cloudwatch"):
		return "cloudwatch"
	case strings.HasPrefix(t, "route53"):
		return "route53"
	case strings.HasPrefix(t, "efs"):
		return "elasticfilesystem"
	}
	for _, ec2 := range []string{"vpc", "subnet", "instance", "security_group", "internet_gateway", "nat_gateway",
		"eip", "route", "network", "ami", "ebs", "launch_template", "key_pair", "default_", "flow_log", "ec2", "main_route"} {
		if strings.HasPrefix(t, ec2) {
			return "ec2"
		}
	}
	if i := strings.Index(t, "_"); i > 0 {
		return t[:i]
	}
	return t
}

// resourceStem is the type without provider prefix.
func resourceStem(typeName string) string {
	return strings.TrimPrefix(strings.TrimPrefix(typeName, "data."), "aws_")
}

// ec2ID is an EC2-style id such as vpc-0a1b2c3d4e5f60718.
func ec2ID(prefix string, parts ...string) string {
	return prefix + "-0" + hexOf(16, parts...)
}

// emptyPolicy is a policy document without statements.
const emptyPolicy = `{"Version":"2012-10-17","Statement":[]}`

// fixedStrings are the string attributes whose plausible value is the same everywhere.
var fixedStrings = map[string]string{
	"availability_zone_id":         "euw2-az2",
	"zone_id_az":                   "euw2-az2",
	"owner_id":                     AccountID,
	"account_id":                   AccountID,
	"owner":                        AccountID,
	"aws_account_id":               AccountID,
	"cidr_block":                   "10.0.0.0/16",
	"instance_tenancy":             "default",
	"tenancy":                      "default",
	"ami":                          AL2023AMI,
	"image_id":                     AL2023AMI,
	"policy":                       emptyPolicy,
	"json":                         emptyPolicy,
	"assume_role_policy":           emptyPolicy,
	"version":                      "1",
	"latest_version":               "1",
	"default_version":              "1",
	"maintenance_window":           "sun:04:00-sun:05:00",
	"preferred_maintenance_window": "sun:04:00-sun:05:00",
	"backup_window":                "02:00-03:00",
	"preferred_backup_window":      "02:00-03:00",
	"username":                     "admin",
	"master_username":              "admin",
	"storage_type":                 "gp3",
}

// genString is the plausible value of a string attribute named name: a fixed one, one the
// name alone decides (namedString), else one its suffix decides (suffixString).
func (p *providerState) genString(f *filler, name string, optional bool, path string) string {
	if v, ok := fixedStrings[name]; ok {
		return v
	}
	seed := []string{f.typeName, f.seed, path}
	if v, ok := p.namedString(f, name, path, seed); ok {
		return v
	}
	return p.suffixString(f, name, optional, seed)
}

// namedString is the value of an attribute whose name alone says what it holds, derived
// from the resource (its type, its seed, the region); ok false for any other name.
func (p *providerState) namedString(f *filler, name, path string, seed []string) (v string, ok bool) {
	region := p.regionOr()
	stem := resourceStem(f.typeName)
	switch name {
	case "id":
		return genID(stem, path, seed), true
	case "arn":
		return arnFor(f.typeName, region, hexOf(12, seed...)), true
	case "availability_zone":
		return AvailabilityZones[int(hexOf(2, seed...)[0])%len(AvailabilityZones)], true
	case "region":
		return region, true
	case "zone_id", "hosted_zone_id", "canonical_hosted_zone_id":
		if strings.Contains(stem, "lb") {
			return "ZHURV8PSTC4K8", true // ALB hosted zone of eu-west-2
		}
		return "Z" + strings.ToUpper(hexOf(20, seed...)), true
	case "name", "identifier", "bucket":
		return "terraform-" + hexOf(20, seed...), true
	case "private_ip", "private_ip_address":
		return privateIP(seed...), true
	case "public_ip", "public_ip_address", "carrier_ip", "customer_owned_ip":
		h := hexOf(4, seed...)
		return fmt.Sprintf("18.%d.%d.%d", 130+int(h[0])%40, int(h[1])*7%250+1, int(h[2])*5%250+1), true
	case "private_dns", "private_dns_name":
		return "ip-" + strings.ReplaceAll(privateIP(seed...), ".", "-") + "." + region + ".compute.internal", true
	case "public_dns":
		return "ec2-18-130-0-1." + region + ".compute.amazonaws.com", true
	case "dns_name", "domain_name", "address", "endpoint", "hostname", "fqdn", "bucket_domain_name",
		"bucket_regional_domain_name", "primary_endpoint_address", "reader_endpoint", "configuration_endpoint_address":
		return p.dnsName(f, name, f.typeName, f.seed), true
	case "name_servers":
		h := hexOf(6, seed...)
		return fmt.Sprintf("ns-%d.awsdns-%02d.%s", int(h[0])*7+int(h[1]), int(h[2])%64, []string{"com", "net", "org", "co.uk"}[int(h[3])%4]), true
	case "status", "instance_state", "state":
		switch {
		case strings.HasPrefix(stem, "instance"):
			return "running", true
		case strings.HasPrefix(stem, "acm"):
			return "ISSUED", true
		}
		return "available", true
	case "engine_version", "engine_version_actual":
		if strings.HasPrefix(stem, "db_") || strings.HasPrefix(stem, "rds_") {
			return "8.4.7", true
		}
		return "1.0", true
	case "arn_suffix":
		return "app/" + "terraform-" + hexOf(8, seed...) + "/" + hexOf(16, seed...), true
	case "kms_key_id", "key_id":
		return "arn:aws:kms:" + region + ":" + AccountID + ":key/" + uuidOf(seed...), true
	case "url":
		return "https://" + p.dnsName(f, "endpoint", f.typeName, f.seed) + "/", true
	}
	return "", false
}

// genID is a resource's id in its type's shape (EC2 prefixes, a hosted zone's, a KMS key's).
func genID(stem, path string, seed []string) string {
	if pre, ok := idPrefixes[stem]; ok && pre != "" {
		return ec2ID(pre, seed...)
	}
	if stem == "route53_zone" {
		return "Z" + strings.ToUpper(hexOf(20, seed...))
	}
	if stem == "kms_key" {
		return uuidOf(seed...)
	}
	if strings.Contains(path, ".") { // nested objects: keep ids short
		return hexOf(12, seed...)
	}
	return stem + "-" + hexOf(12, seed...)
}

// suffixString is the value of any other attribute: by its suffix (_arn, _id, _ip, a DNS
// name), else "" when optional, else a value that names it.
func (p *providerState) suffixString(f *filler, name string, optional bool, seed []string) string {
	region := p.regionOr()
	stem := resourceStem(f.typeName)
	switch {
	case strings.HasSuffix(name, "_arn"):
		base := strings.TrimSuffix(name, "_arn")
		if name == "secret_arn" {
			return "arn:aws:secretsmanager:" + region + ":" + AccountID + ":secret:" + stem + "-" + hexOf(8, seed...) + "-" + hexOf(6, seed...)
		}
		return arnFor("aws_"+base, region, hexOf(12, seed...))
	case strings.HasSuffix(name, "_id"):
		base := strings.TrimSuffix(name, "_id")
		if pre, ok := idPrefixes[base]; ok && pre != "" {
			return ec2ID(pre, seed...)
		}
		if pre, ok := idPrefixes[strings.TrimPrefix(base, "default_")]; ok && pre != "" {
			return ec2ID(pre, seed...)
		}
		if optional {
			return ""
		}
		return hexOf(16, seed...)
	case strings.HasSuffix(name, "_ip"):
		return privateIP(seed...)
	case strings.HasSuffix(name, "_dns_name") || strings.HasSuffix(name, "_endpoint") || strings.HasSuffix(name, "_address"):
		return p.dnsName(f, name, f.typeName, f.seed)
	}
	if optional {
		return ""
	}
	return name + "-" + hexOf(8, seed...)
}

func privateIP(seed ...string) string {
	h := sha256.Sum256([]byte(strings.Join(seed, "\x00")))
	return fmt.Sprintf("10.0.%d.%d", h[0]%64, int(h[1])%250+4)
}

func uuidOf(seed ...string) string {
	h := hexOf(32, seed...)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func arnFor(typeName, region, id string) string {
	svc := svcOf(typeName)
	stem := resourceStem(typeName)
	switch svc {
	case "iam":
		return "arn:aws:iam::" + AccountID + ":" + strings.TrimPrefix(stem, "iam_") + "/" + id
	case "s3":
		return "arn:aws:s3:::" + id
	case "route53":
		return "arn:aws:route53:::hostedzone/Z" + strings.ToUpper(id)
	}
	return "arn:aws:" + svc + ":" + region + ":" + AccountID + ":" + strings.ReplaceAll(stem, "_", "-") + "/" + id
}

func (p *providerState) dnsName(f *filler, name string, seed ...string) string {
	region := p.regionOr()
	stem := resourceStem(f.typeName)
	h := hexOf(12, seed...)
	switch {
	case strings.HasPrefix(stem, "lb") || strings.HasPrefix(stem, "alb"):
		return "terraform-" + h[:8] + "-" + h + "." + region + ".elb.amazonaws.com"
	case strings.HasPrefix(stem, "db_") || strings.HasPrefix(stem, "rds_"):
		host := "terraform-" + h[:8] + "." + h + "." + region + ".rds.amazonaws.com"
		if name == "endpoint" {
			return host + ":3306"
		}
		return host
	case strings.HasPrefix(stem, "efs"):
		return "fs-0" + h + ".efs." + region + ".amazonaws.com"
	case strings.HasPrefix(stem, "s3"):
		return "terraform-" + h + ".s3." + region + ".amazonaws.com"
	case strings.HasPrefix(stem, "acm"):
		return "example-" + h + ".test"
	}
	return strings.ReplaceAll(stem, "_", "-") + "-" + h + "." + region + ".amazonaws.com"
}
