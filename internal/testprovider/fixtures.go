package testprovider

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// hook computes type-specific values. m holds the object's top-level attributes; a hook
// sets only attributes that are still unknown (setComputed), everything else is filled
// by the generic rules afterwards. It may also ask for elements of computed collections
// of objects through f.counts.
type hook func(f *filler, m map[string]tftypes.Value) error

var resourceHooks = map[string]hook{
	"tls_private_key":         tlsPrivateKey,
	"tls_self_signed_cert":    tlsSelfSignedCert,
	"tls_cert_request":        tlsCertRequest,
	"tls_locally_signed_cert": tlsLocallySignedCert,
	"random_password":         randomPassword,
	"random_string":           randomStringRes,
	"random_id":               randomID,
	"random_uuid":             randomUUID,
	"random_integer":          randomInteger,
	"random_pet":              randomPet,
	"random_shuffle":          randomShuffle,
	"random_bytes":            randomBytes,
	"aws_db_instance":         awsManagedMasterSecret,
	"aws_rds_cluster":         awsManagedMasterSecret,
	"aws_acm_certificate":     awsACMCertificate,
	"aws_s3_bucket":           awsS3Bucket,
	"aws_lb":                  awsLB,
	"aws_alb":                 awsLB,
}

var dataHooks = map[string]hook{
	"tls_public_key":                     dataTLSPublicKey,
	"tls_certificate":                    dataTLSCertificate,
	"aws_caller_identity":                dataCallerIdentity,
	"aws_region":                         dataRegion,
	"aws_partition":                      dataPartition,
	"aws_availability_zones":             dataAvailabilityZones,
	"aws_ami":                            dataAMI,
	"aws_ssm_parameter":                  dataSSMParameter,
	"aws_elb_service_account":            dataELBServiceAccount,
	"aws_iam_policy_document":            dataIAMPolicyDocument,
	"aws_vpc_endpoint_service":           dataVPCEndpointService,
	"aws_secretsmanager_secret_version":  dataSecretVersion,
	"aws_secretsmanager_random_password": dataSecretsRandomPassword,
	"aws_subnets":                        dataSubnets,
}

// planDefaults are the schema defaults of the tls and random providers, which the real
// providers show in the plan.
var planDefaults = map[string]map[string]any{
	"tls_private_key":         {"rsa_bits": 2048, "ecdsa_curve": "P224"},
	"tls_self_signed_cert":    {"early_renewal_hours": 0, "is_ca_certificate": false, "set_subject_key_id": false, "set_authority_key_id": false},
	"tls_locally_signed_cert": {"early_renewal_hours": 0, "is_ca_certificate": false, "set_subject_key_id": false},
	"random_password": {"lower": true, "upper": true, "numeric": true, "number": true, "special": true,
		"min_lower": 0, "min_upper": 0, "min_numeric": 0, "min_special": 0},
	"random_string": {"lower": true, "upper": true, "numeric": true, "number": true, "special": true,
		"min_lower": 0, "min_upper": 0, "min_numeric": 0, "min_special": 0},
	"random_pet": {"length": 2, "separator": "-"},
}

// applyPlanDefaults sets defaults for attributes the configuration left null.
func applyPlanDefaults(typeName string, v tftypes.Value) tftypes.Value {
	d := planDefaults[typeName]
	if d == nil || v.IsNull() || !v.IsKnown() {
		return v
	}
	m := objMap(v)
	for k, def := range d {
		cur, ok := m[k]
		if !ok || !cur.IsNull() {
			continue
		}
		switch x := def.(type) {
		case int:
			m[k] = tftypes.NewValue(tftypes.Number, new(big.Float).SetInt64(int64(x)))
		case bool:
			m[k] = tftypes.NewValue(tftypes.Bool, x)
		case string:
			m[k] = newStr(x)
		}
	}
	return tftypes.NewValue(v.Type(), m)
}

// awsManagedMasterSecret: with manage_master_user_password the instance or cluster
// exposes the Secrets Manager secret in master_user_secret (one element).
func awsManagedMasterSecret(f *filler, m map[string]tftypes.Value) error {
	if boolOr(m["manage_master_user_password"], false) {
		f.counts["master_user_secret"] = 1
	}
	return nil
}

// planHooks adjust a create plan. The real aws_acm_certificate plans
// domain_validation_options with the domain names known, so stacks can for_each over it.
var planHooks = map[string]func(m map[string]tftypes.Value){
	"aws_acm_certificate": planACMCertificate,
}

func acmDomains(m map[string]tftypes.Value) ([]string, bool) {
	d, ok := str(m["domain_name"])
	if !ok {
		return nil, false
	}
	names := []string{d}
	san := m["subject_alternative_names"]
	if !san.IsFullyKnown() {
		return nil, false
	}
	for _, s := range strList(san) {
		if s != d {
			names = append(names, s)
		}
	}
	return names, true
}

func planACMCertificate(m map[string]tftypes.Value) {
	dvo, ok := m["domain_validation_options"]
	method, _ := str(m["validation_method"])
	if !ok || dvo.IsKnown() || method != "DNS" {
		return
	}
	names, ok := acmDomains(m)
	if !ok {
		return
	}
	st := dvo.Type().(tftypes.Set)
	ot := st.ElementType.(tftypes.Object)
	var out []tftypes.Value
	for _, n := range names {
		attrs := map[string]tftypes.Value{"domain_name": newStr(n)}
		for k, at := range ot.AttributeTypes {
			if k != "domain_name" {
				attrs[k] = unknown(at)
			}
		}
		out = append(out, tftypes.NewValue(ot, attrs))
	}
	m["domain_validation_options"] = tftypes.NewValue(st, out)
}

// awsACMCertificate: one DNS validation record per domain name.
func awsACMCertificate(f *filler, m map[string]tftypes.Value) error {
	dvo, ok := m["domain_validation_options"]
	if !ok || dvo.IsFullyKnown() {
		return nil
	}
	names, ok := acmDomains(m)
	if !ok {
		return nil
	}
	st := dvo.Type().(tftypes.Set)
	ot := st.ElementType.(tftypes.Object)
	var out []tftypes.Value
	for _, n := range names {
		h := hexOf(32, f.seed, n)
		attrs := map[string]tftypes.Value{
			"domain_name":           newStr(n),
			"resource_record_name":  newStr("_" + h[:32] + "." + strings.TrimPrefix(n, "*.") + "."),
			"resource_record_type":  newStr("CNAME"),
			"resource_record_value": newStr("_" + hexOf(32, n, f.seed) + ".acm-validations.aws."),
		}
		out = append(out, objectOf(ot, attrs))
	}
	m["domain_validation_options"] = tftypes.NewValue(st, out)
	return nil
}

// objectOf builds an object of type ot from attrs, null for attributes not given.
func objectOf(ot tftypes.Object, attrs map[string]tftypes.Value) tftypes.Value {
	full := make(map[string]tftypes.Value, len(ot.AttributeTypes))
	for k, at := range ot.AttributeTypes {
		if v, ok := attrs[k]; ok {
			full[k] = v
		} else {
			full[k] = tftypes.NewValue(at, nil)
		}
	}
	return tftypes.NewValue(ot, full)
}

func awsS3Bucket(f *filler, m map[string]tftypes.Value) error {
	b, ok := str(m["bucket"])
	if !ok {
		if p, ok := str(m["bucket_prefix"]); ok {
			b = p + hexOf(26, f.seed)
		} else {
			b = "terraform-" + hexOf(26, f.seed)
		}
		setStr(m, "bucket", b)
	}
	region := f.p.regionOr()
	setStr(m, "id", b)
	setStr(m, "arn", "arn:aws:s3:::"+b)
	setStr(m, "bucket_domain_name", b+".s3.amazonaws.com")
	setStr(m, "bucket_regional_domain_name", b+".s3."+region+".amazonaws.com")
	setStr(m, "hosted_zone_id", "Z3GKZC51ZF0DB4") // S3 website zone of eu-west-2
	setStr(m, "region", region)
	return nil
}

func awsLB(f *filler, m map[string]tftypes.Value) error {
	name, ok := str(m["name"])
	if !ok {
		name = "tf-lb-" + hexOf(20, f.seed)
		setStr(m, "name", name)
	}
	typ, _ := str(m["load_balancer_type"])
	kind := "app"
	if typ == "network" {
		kind = "net"
	}
	suffix := kind + "/" + name + "/" + hexOf(16, f.seed)
	setStr(m, "arn_suffix", suffix)
	setStr(m, "arn", "arn:aws:elasticloadbalancing:"+f.p.regionOr()+":"+AccountID+":loadbalancer/"+suffix)
	setStr(m, "id", "arn:aws:elasticloadbalancing:"+f.p.regionOr()+":"+AccountID+":loadbalancer/"+suffix)
	prefix := "internal-"
	if !boolOr(m["internal"], false) {
		prefix = ""
	}
	setStr(m, "dns_name", prefix+name+"-"+hexOf(10, f.seed)+"."+f.p.regionOr()+".elb.amazonaws.com")
	setStr(m, "zone_id", "ZHURV8PSTC4K8")
	return nil
}

func dataCallerIdentity(f *filler, m map[string]tftypes.Value) error {
	setStr(m, "account_id", AccountID)
	setStr(m, "arn", "arn:aws:iam::"+AccountID+":user/cso-test")
	setStr(m, "user_id", "AIDAEXAMPLECSOTEST0001")
	setStr(m, "id", AccountID)
	return nil
}

var regionNames = map[string]string{
	"eu-west-2": "Europe (London)", "eu-west-1": "Europe (Ireland)", "us-east-1": "US East (N. Virginia)",
}

func dataRegion(f *filler, m map[string]tftypes.Value) error {
	r := f.p.regionOr()
	if s, ok := str(m["region"]); ok && s != "" {
		r = s
	} else if s, ok := str(m["name"]); ok && s != "" {
		r = s
	}
	setStr(m, "name", r)
	setStr(m, "region", r)
	setStr(m, "id", r)
	setStr(m, "endpoint", "ec2."+r+".amazonaws.com")
	d := regionNames[r]
	if d == "" {
		d = r
	}
	setStr(m, "description", d)
	return nil
}

func dataPartition(f *filler, m map[string]tftypes.Value) error {
	setStr(m, "partition", "aws")
	setStr(m, "dns_suffix", "amazonaws.com")
	setStr(m, "reverse_dns_prefix", "com.amazonaws")
	setStr(m, "id", "aws")
	return nil
}

func strListValue(t tftypes.Type, ss []string) tftypes.Value {
	vals := make([]tftypes.Value, len(ss))
	for i, s := range ss {
		vals[i] = newStr(s)
	}
	return tftypes.NewValue(t, vals)
}

func dataAvailabilityZones(f *filler, m map[string]tftypes.Value) error {
	r := f.p.regionOr()
	var names, ids []string
	excluded := map[string]bool{}
	for _, n := range append(strList(m["exclude_names"]), strList(m["exclude_zone_ids"])...) {
		excluded[n] = true
	}
	for i, suffix := range []string{"a", "b", "c"} {
		id := []string{"euw2-az2", "euw2-az3", "euw2-az1"}[i]
		if !excluded[r+suffix] && !excluded[id] {
			names, ids = append(names, r+suffix), append(ids, id)
		}
	}
	if v, ok := m["names"]; ok {
		setComputed(m, "names", strListValue(v.Type(), names))
	}
	if v, ok := m["zone_ids"]; ok {
		setComputed(m, "zone_ids", strListValue(v.Type(), ids))
	}
	if v, ok := m["group_names"]; ok {
		setComputed(m, "group_names", strListValue(v.Type(), []string{r}))
	}
	setStr(m, "id", r)
	setStr(m, "state", "available")
	return nil
}

func dataAMI(f *filler, m map[string]tftypes.Value) error {
	setStr(m, "id", AL2023AMI)
	setStr(m, "image_id", AL2023AMI)
	setStr(m, "name", AL2023AMIName)
	setStr(m, "architecture", "x86_64")
	setStr(m, "root_device_name", "/dev/xvda")
	setStr(m, "root_device_type", "ebs")
	setStr(m, "virtualization_type", "hvm")
	setStr(m, "owner_id", "137112412989")
	setStr(m, "image_owner_alias", "amazon")
	setStr(m, "platform_details", "Linux/UNIX")
	setStr(m, "description", "Amazon Linux 2023 AMI")
	setStr(m, "arn", "arn:aws:ec2:"+f.p.regionOr()+"::image/"+AL2023AMI)
	setStr(m, "state", "available")
	setStr(m, "boot_mode", "uefi-preferred")
	setStr(m, "imds_support", "v2.0")
	setStr(m, "creation_date", "2025-11-17T20:00:00.000Z")
	setStr(m, "hypervisor", "xen")
	setStr(m, "image_type", "machine")
	setStr(m, "image_location", "amazon/"+AL2023AMIName)
	setStr(m, "ena_support", "true")
	return nil
}

func dataSSMParameter(f *filler, m map[string]tftypes.Value) error {
	name, _ := str(m["name"])
	val := "value-of-" + strings.Trim(strings.ReplaceAll(name, "/", "-"), "-")
	if strings.Contains(name, "/ami/") || strings.Contains(name, "ami-") || strings.Contains(name, "/images/") {
		val = AL2023AMI
	}
	setStr(m, "value", val)
	setStr(m, "insecure_value", val)
	setStr(m, "type", "String")
	setStr(m, "id", name)
	setStr(m, "arn", "arn:aws:ssm:"+f.p.regionOr()+":"+AccountID+":parameter/"+strings.TrimPrefix(name, "/"))
	setNum(m, "version", 1)
	return nil
}

// elbAccounts are the regional Elastic Load Balancing account ids (AWS documentation).
var elbAccounts = map[string]string{"eu-west-2": "652711504416", "eu-west-1": "156460612806", "us-east-1": "127311923021"}

func dataELBServiceAccount(f *filler, m map[string]tftypes.Value) error {
	r := f.p.regionOr()
	if s, ok := str(m["region"]); ok && s != "" {
		r = s
	}
	acct := elbAccounts[r]
	if acct == "" {
		acct = elbAccounts[DefaultRegion]
	}
	setStr(m, "id", acct)
	setStr(m, "arn", "arn:aws:iam::"+acct+":root")
	return nil
}

func dataVPCEndpointService(f *filler, m map[string]tftypes.Value) error {
	r := f.p.regionOr()
	svc, _ := str(m["service"])
	name, ok := str(m["service_name"])
	if !ok || name == "" {
		if svc == "" {
			svc = "s3"
		}
		name = "com.amazonaws." + r + "." + svc
	}
	typ, _ := str(m["service_type"])
	if typ == "" {
		typ = "Interface"
		if svc == "s3" || svc == "dynamodb" {
			typ = "Gateway"
		}
	}
	setStr(m, "service_name", name)
	setStr(m, "service_type", typ)
	setStr(m, "service", svc)
	setStr(m, "id", hexOf(10, name))
	setStr(m, "owner", "amazon")
	setStr(m, "service_id", "vpce-svc-0"+hexOf(16, name))
	setStr(m, "private_dns_name", svc+"."+r+".amazonaws.com")
	setBool(m, "acceptance_required", false)
	setBool(m, "vpc_endpoint_policy_supported", true)
	setBool(m, "manages_vpc_endpoints", false)
	if v, ok := m["availability_zones"]; ok {
		setComputed(m, "availability_zones", strListValue(v.Type(), []string{r + "a", r + "b", r + "c"}))
	}
	if v, ok := m["base_endpoint_dns_names"]; ok {
		setComputed(m, "base_endpoint_dns_names", strListValue(v.Type(), []string{svc + "." + r + ".amazonaws.com"}))
	}
	return nil
}

func dataSecretVersion(f *filler, m map[string]tftypes.Value) error {
	id, _ := str(m["secret_id"])
	// A generated secret, never a literal: tests read it like any other.
	pw, err := randomString(map[string]tftypes.Value{"length": tftypes.NewValue(tftypes.Number, big.NewFloat(32)),
		"special": tftypes.NewValue(tftypes.Bool, false)})
	if err != nil {
		return err
	}
	doc, _ := json.Marshal(map[string]string{"username": "admin", "password": pw})
	setStr(m, "secret_string", string(doc))
	setStr(m, "version_id", uuidOf(id, "version"))
	setStr(m, "arn", "arn:aws:secretsmanager:"+f.p.regionOr()+":"+AccountID+":secret:"+strings.TrimPrefix(id, "arn:")+"-"+hexOf(6, id))
	setStr(m, "id", id+"|AWSCURRENT")
	if v, ok := m["version_stages"]; ok {
		setComputed(m, "version_stages", strListValue(v.Type(), []string{"AWSCURRENT"}))
	}
	return nil
}

func dataSecretsRandomPassword(f *filler, m map[string]tftypes.Value) error {
	cfg := map[string]tftypes.Value{"length": m["password_length"]}
	if v, ok := m["password_length"]; !ok || !v.IsKnown() || v.IsNull() {
		cfg["length"] = tftypes.NewValue(tftypes.Number, big.NewFloat(32))
	}
	cfg["special"] = tftypes.NewValue(tftypes.Bool, !boolOr(m["exclude_punctuation"], false))
	cfg["upper"] = tftypes.NewValue(tftypes.Bool, !boolOr(m["exclude_uppercase"], false))
	cfg["lower"] = tftypes.NewValue(tftypes.Bool, !boolOr(m["exclude_lowercase"], false))
	cfg["numeric"] = tftypes.NewValue(tftypes.Bool, !boolOr(m["exclude_numbers"], false))
	pw, err := randomString(cfg)
	if err != nil {
		return err
	}
	setStr(m, "random_password", pw)
	setStr(m, "id", "random")
	return nil
}

// dataIAMPolicyDocument renders the statements as the AWS provider does: single values
// as strings, several as sorted lists, principals by type, conditions by test and key.
func dataIAMPolicyDocument(f *filler, m map[string]tftypes.Value) error {
	var st statementSet
	if err := st.gather(m); err != nil {
		return err
	}
	doc := map[string]any{}
	version, ok := str(m["version"])
	if !ok || version == "" {
		version = "2012-10-17"
	}
	doc["Version"] = version
	if id, ok := str(m["policy_id"]); ok && id != "" {
		doc["Id"] = id
	}
	if st.list == nil {
		st.list = []map[string]any{}
	}
	doc["Statement"] = st.list
	pretty, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	mini, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	setStr(m, "json", string(pretty))
	setStr(m, "minified_json", string(mini))
	setStr(m, "id", fmt.Sprint(hashString(string(mini))))
	return nil
}

// statementSet holds the statements of an aws_iam_policy_document as the provider merges
// them: a statement with the Sid of an earlier one replaces it in place.
type statementSet struct {
	list  []map[string]any
	bySid map[string]int
}

// gather merges, in the provider's order, source_json, source_policy_documents, the
// statement blocks, override_policy_documents and override_json.
func (p *statementSet) gather(m map[string]tftypes.Value) error {
	if s, ok := str(m["source_json"]); ok && s != "" {
		if err := p.merge(s); err != nil {
			return fmt.Errorf("source_json: %w", err)
		}
	}
	for _, s := range strList(m["source_policy_documents"]) {
		if err := p.merge(s); err != nil {
			return fmt.Errorf("source_policy_documents: %w", err)
		}
	}
	if v, ok := m["statement"]; ok && v.IsKnown() && !v.IsNull() {
		for _, e := range elems(v) {
			p.add(policyStatement(objMap(e)))
		}
	}
	for _, s := range strList(m["override_policy_documents"]) {
		if err := p.merge(s); err != nil {
			return fmt.Errorf("override_policy_documents: %w", err)
		}
	}
	if s, ok := str(m["override_json"]); ok && s != "" {
		if err := p.merge(s); err != nil {
			return fmt.Errorf("override_json: %w", err)
		}
	}
	return nil
}

func (p *statementSet) add(s map[string]any) {
	if sid, ok := s["Sid"].(string); ok && sid != "" {
		if i, ok := p.bySid[sid]; ok {
			p.list[i] = s
			return
		}
		if p.bySid == nil {
			p.bySid = map[string]int{}
		}
		p.bySid[sid] = len(p.list)
	}
	p.list = append(p.list, s)
}

// merge adds the statements of a policy document (Statement one object or a list).
func (p *statementSet) merge(raw string) error {
	var d struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return fmt.Errorf("policy document is not JSON: %w", err)
	}
	var list []map[string]any
	if len(d.Statement) > 0 && d.Statement[0] == '{' {
		var one map[string]any
		if err := json.Unmarshal(d.Statement, &one); err != nil {
			return err
		}
		list = []map[string]any{one}
	} else if len(d.Statement) > 0 {
		if err := json.Unmarshal(d.Statement, &list); err != nil {
			return err
		}
	}
	for _, s := range list {
		p.add(s)
	}
	return nil
}

func hashString(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// oneOrList renders a set of strings as the AWS provider does.
func oneOrList(ss []string) any {
	if len(ss) == 1 {
		return ss[0]
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ss)))
	return ss
}

func policyStatement(s map[string]tftypes.Value) map[string]any {
	out := map[string]any{}
	if sid, ok := str(s["sid"]); ok && sid != "" {
		out["Sid"] = sid
	}
	effect, ok := str(s["effect"])
	if !ok || effect == "" {
		effect = "Allow"
	}
	out["Effect"] = effect
	for tf, js := range map[string]string{"actions": "Action", "not_actions": "NotAction", "resources": "Resource", "not_resources": "NotResource"} {
		if l := strList(s[tf]); len(l) > 0 {
			out[js] = oneOrList(l)
		}
	}
	for tf, js := range map[string]string{"principals": "Principal", "not_principals": "NotPrincipal"} {
		v, ok := s[tf]
		if !ok || !v.IsKnown() || v.IsNull() {
			continue
		}
		byType := map[string][]string{}
		for _, e := range elems(v) {
			p := objMap(e)
			t, _ := str(p["type"])
			byType[t] = append(byType[t], strList(p["identifiers"])...)
		}
		if len(byType) == 0 {
			continue
		}
		if ids, ok := byType["*"]; ok && len(byType) == 1 && len(ids) == 1 && ids[0] == "*" {
			out[js] = "*"
			continue
		}
		pm := map[string]any{}
		for t, ids := range byType {
			pm[t] = oneOrList(ids)
		}
		out[js] = pm
	}
	if v, ok := s["condition"]; ok && v.IsKnown() && !v.IsNull() {
		cond := map[string]map[string]any{}
		for _, e := range elems(v) {
			c := objMap(e)
			test, _ := str(c["test"])
			variable, _ := str(c["variable"])
			if cond[test] == nil {
				cond[test] = map[string]any{}
			}
			cond[test][variable] = oneOrList(strList(c["values"]))
		}
		if len(cond) > 0 {
			out["Condition"] = cond
		}
	}
	return out
}

// dataSubnets finds one subnet per availability zone.
func dataSubnets(f *filler, m map[string]tftypes.Value) error {
	if v, ok := m["ids"]; ok {
		var ids []string
		for _, az := range AvailabilityZones {
			ids = append(ids, ec2ID("subnet", f.seed, az))
		}
		setComputed(m, "ids", strListValue(v.Type(), ids))
	}
	setStr(m, "id", f.p.regionOr())
	return nil
}
