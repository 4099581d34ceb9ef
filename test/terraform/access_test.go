package terraform_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/iampolicy"
	"github.com/cso-ssp/platform/internal/tfharness"
)

// TestAccessMatrix applies every environment file in environments/ offline, reads the
// IAM, bucket, KMS key, EFS file-system and secret policies from the applied state, and
// evaluates (internal/iampolicy) what each host can do with every secret, S3 prefix, KMS
// key and EFS access point. Results are summarised per host role and compared with
// accessMatrix (access_matrix_test.go), the table docs/access-matrix.md shows.
func TestAccessMatrix(t *testing.T) {
	h := tfharness.New(t)
	stack := stackDir(t)
	envFiles, err := filepath.Glob(filepath.Join(repoRoot(t), "environments", "env.*.yaml"))
	if err != nil || len(envFiles) == 0 {
		t.Fatalf("no environment files: %v", err)
	}
	var mu sync.Mutex
	seen := map[string]map[string]bool{} // capability -> roles for which it exists somewhere
	ran := 0                             // environments evaluated
	t.Run("env", func(t *testing.T) {
		for _, path := range envFiles {
			name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "env."), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
				defer cancel()
				w := h.Workdir(t, stack)
				if err := w.Init(ctx); err != nil {
					t.Fatal(err)
				}
				if err := w.SelectWorkspace(ctx, name); err != nil {
					t.Fatal(err)
				}
				st, err := w.Apply(ctx, "env_file="+path)
				if err != nil {
					t.Fatal(err)
				}
				got := accessOf(t, name, indexState(t, st))
				mu.Lock()
				for c, roles := range got {
					if seen[c] == nil {
						seen[c] = map[string]bool{}
					}
					for r := range roles {
						seen[c][r] = true
					}
				}
				ran++
				mu.Unlock()
				compareMatrix(t, got)
			})
		}
	})
	if t.Failed() || ran != len(envFiles) {
		return // a failure, or -run picked some environments: coverage is not known
	}
	// Every row of the table must be exercised by some environment, for every role.
	for _, row := range accessMatrix {
		for _, r := range hostRoles {
			if notApplicable(row, r) {
				if seen[row.Capability][r] || slices.Contains(strings.Fields(row.Roles), r) {
					t.Errorf("%q: role %s has more than one host now: give it a real cell (singleHostRoles)", row.Capability, r)
				}
				continue
			}
			if !seen[row.Capability][r] {
				t.Errorf("%q: no environment has this capability for role %s: remove the row or add the resource", row.Capability, r)
			}
		}
	}
}

// accessResult is, per capability and host role, whether the hosts of that role have it.
type accessResult map[string]map[string]bool

// compareMatrix compares one environment's result with accessMatrix. A cell is compared
// when the environment has the capability for that role (dev has one Keystone host, so
// "another Keystone host's key" does not exist there for the keystone role).
func compareMatrix(t *testing.T, got accessResult) {
	t.Helper()
	want := map[string]map[string]bool{}
	for _, row := range accessMatrix {
		if want[row.Capability] != nil {
			t.Fatalf("accessMatrix lists %q twice", row.Capability)
		}
		want[row.Capability] = map[string]bool{}
		for _, r := range strings.Fields(row.Roles) {
			if !slices.Contains(hostRoles, r) {
				t.Fatalf("accessMatrix %q: unknown role %q", row.Capability, r)
			}
			want[row.Capability][r] = true
		}
	}
	var missing, differ []string
	for _, c := range sortedKeys(got) {
		w, ok := want[c]
		if !ok {
			missing = append(missing, fmt.Sprintf("\t{%q, %q},", c, rolesWith(got[c])))
			continue
		}
		for _, r := range hostRoles {
			if have, exists := got[c][r]; exists && have != w[r] {
				differ = append(differ, fmt.Sprintf("\t{%q, %q}, // the table says %q", c, rolesWith(got[c]), rolesWith(w)))
				break
			}
		}
	}
	if len(differ) > 0 {
		t.Errorf("the policies give these rows (roles that have the capability), accessMatrix says otherwise:\n%s", strings.Join(differ, "\n"))
	}
	if len(missing) > 0 {
		t.Errorf("capabilities missing from accessMatrix (add these rows, then run with -update to rewrite the doc):\n%s", strings.Join(missing, "\n"))
	}
}

func rolesWith(m map[string]bool) string {
	var out []string
	for _, r := range hostRoles {
		if m[r] {
			out = append(out, r)
		}
	}
	return strings.Join(out, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// managedWithoutTheseResources are the AWS managed policies the host roles carry. Their
// documents are not in the state; their documented content grants SSM, EC2 messages and
// patch-baseline actions only, none on Secrets Manager, S3, KMS or EFS, so they grant
// nothing of this matrix (docs/access-matrix.md cites them). Any other managed policy
// fails the test: its content must be looked at first.
var managedWithoutTheseResources = map[string]bool{
	"AmazonSSMManagedInstanceCore": true,
	"AmazonSSMPatchAssociation":    true,
}

// accessModel is what the state says about identities, resources and their policies.
type accessModel struct {
	env, region, account, partition string
	e                               *estate
	keys                            map[string]*iampolicy.Policy // KMS key ARN -> key policy
	keyByAnyID                      map[string]string            // key id, ARN or alias -> key ARN
	hostRole                        map[string]string            // host name -> cso role (jump, keystone, ...)
}

func (m *accessModel) parse(t *testing.T, what, doc string) *iampolicy.Policy {
	t.Helper()
	p, err := iampolicy.Parse(what, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// accessOf computes the access matrix of one applied environment.
func accessOf(t *testing.T, env string, e *estate) accessResult {
	t.Helper()
	m := &accessModel{env: env, e: e, keys: map[string]*iampolicy.Policy{}, keyByAnyID: map[string]string{}, hostRole: map[string]string{}}
	hosts := e.hostInstances()
	if len(hosts) == 0 {
		t.Fatal("no host instances in the state")
	}
	for name, inst := range hosts {
		arn := strings.Split(inst.str("arn"), ":")
		if len(arn) < 6 {
			t.Fatalf("%s: instance ARN %q", name, inst.str("arn"))
		}
		m.partition, m.region, m.account = arn[1], arn[3], arn[4]
		role, _ := inst.V["tags"].(map[string]any)["Role"].(string)
		if role == "" {
			t.Fatalf("%s: no Role tag", name)
		}
		m.hostRole[name] = role
	}
	m.loadKeys(t)

	out := accessResult{}
	perHost := map[string]map[string]bool{} // host -> capability -> allowed
	for _, name := range sortedKeys(hosts) {
		perHost[name] = m.hostAccess(t, name, hosts[name])
	}
	// Summarise per role; hosts of one role must agree, or the table could not say it.
	for _, name := range sortedKeys(perHost) {
		role := m.hostRole[name]
		for c, ok := range perHost[name] {
			if out[c] == nil {
				out[c] = map[string]bool{}
			}
			if prev, seen := out[c][role]; seen && prev != ok {
				t.Errorf("%s: hosts of role %s disagree (%s: %v)", c, role, name, ok)
			}
			out[c][role] = out[c][role] || ok
		}
	}
	return out
}

func (m *accessModel) loadKeys(t *testing.T) {
	for _, r := range m.e.all {
		switch r.Type {
		case "aws_kms_key":
			arn := r.str("arn")
			m.keyByAnyID[arn], m.keyByAnyID[r.str("key_id")] = arn, arn
			if doc := r.str("policy"); doc != "" {
				m.keys[arn] = m.parse(t, r.Address, doc)
			}
		case "aws_kms_alias":
			m.keyByAnyID[r.str("name")] = r.str("target_key_id")
			m.keyByAnyID[r.str("arn")] = r.str("target_key_id")
		}
	}
	for _, r := range m.e.all {
		if r.Type == "aws_kms_key_policy" {
			m.keys[m.keyARN(t, r.str("key_id"))] = m.parse(t, r.Address, r.str("policy"))
		}
	}
	for _, r := range m.e.all {
		if r.Type == "aws_kms_key" && m.keys[r.str("arn")] == nil {
			t.Fatalf("%s: no key policy in the state", r.Address)
		}
	}
}

// keyARN resolves a key id, key ARN, alias name or alias ARN to the key's ARN.
func (m *accessModel) keyARN(t *testing.T, id string) string {
	t.Helper()
	for range 3 { // alias -> key id -> key ARN
		v, ok := m.keyByAnyID[id]
		if !ok {
			t.Fatalf("KMS key %q is not in the state", id)
		}
		if v == id {
			return v
		}
		id = v
	}
	return id
}

// identityPolicies are the policies of one IAM role: attached customer managed policies,
// inline policies (aws_iam_role_policy, inline_policy blocks). AWS managed policies are
// checked against managedWithoutTheseResources.
func (m *accessModel) identityPolicies(t *testing.T, roleName string) []*iampolicy.Policy {
	t.Helper()
	var arns []string
	var out []*iampolicy.Policy
	for _, r := range m.e.all {
		switch r.Type {
		case "aws_iam_role_policy_attachment":
			if r.str("role") == roleName {
				arns = append(arns, r.str("policy_arn"))
			}
		case "aws_iam_policy_attachment":
			if slices.Contains(strs(r.V["roles"]), roleName) {
				arns = append(arns, r.str("policy_arn"))
			}
		case "aws_iam_role_policy":
			if r.str("role") == roleName {
				out = append(out, m.parse(t, r.Address, r.str("policy")))
			}
		case "aws_iam_role":
			if r.str("name") != roleName {
				continue
			}
			arns = append(arns, strs(r.V["managed_policy_arns"])...)
			for _, ip := range asObjs(r.V["inline_policy"]) {
				if doc, _ := ip["policy"].(string); doc != "" {
					out = append(out, m.parse(t, r.Address+" inline "+fmt.Sprint(ip["name"]), doc))
				}
			}
		}
	}
	for _, arn := range arns {
		if rest, ok := strings.CutPrefix(arn, "arn:"+m.partition+":iam::aws:policy/"); ok {
			if !managedWithoutTheseResources[rest] {
				t.Fatalf("role %s carries AWS managed policy %s: check what it grants and add it to managedWithoutTheseResources", roleName, arn)
			}
			continue
		}
		found := false
		for _, r := range m.e.all {
			if r.Type == "aws_iam_policy" && r.str("arn") == arn {
				out = append(out, m.parse(t, r.Address, r.str("policy")))
				found = true
			}
		}
		if !found {
			t.Fatalf("role %s: attached policy %s is not in the state", roleName, arn)
		}
	}
	return out
}

func asObjs(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, e := range l {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// principal describes one host's role session as AWS sees it: the role and the
// assumed-role session EC2 opens for the instance (its session name is the instance ID).
type principal struct {
	p        iampolicy.Principal
	ctx      map[string][]string
	identity []*iampolicy.Policy
}

func (m *accessModel) hostPrincipal(t *testing.T, name string, inst res) principal {
	t.Helper()
	profileName := inst.str("iam_instance_profile")
	var roleName string
	for _, r := range m.e.all {
		if r.Type == "aws_iam_instance_profile" && r.str("name") == profileName {
			roleName = r.str("role")
		}
	}
	var role res
	for _, r := range m.e.all {
		if r.Type == "aws_iam_role" && r.str("name") == roleName {
			role = r
		}
	}
	if role.V == nil {
		t.Fatalf("%s: instance profile %q has no role in the state", name, profileName)
	}
	id := inst.str("id")
	session := "arn:" + m.partition + ":sts::" + m.account + ":assumed-role/" + roleName + "/" + id
	ctx := map[string][]string{
		"aws:SecureTransport":   {"true"},
		"aws:PrincipalArn":      {role.str("arn")},
		"aws:PrincipalAccount":  {m.account},
		"aws:PrincipalType":     {"AssumedRole"},
		"aws:userid":            {role.str("unique_id") + ":" + id},
		"aws:RequestedRegion":   {m.region},
		"ec2:SourceInstanceARN": {inst.str("arn")},
	}
	tags, _ := role.V["tags_all"].(map[string]any)
	for k, v := range tags {
		ctx["aws:PrincipalTag/"+k] = []string{fmt.Sprint(v)}
	}
	return principal{
		p:        iampolicy.Principal{Account: m.account, ARNs: []string{role.str("arn"), session}},
		ctx:      ctx,
		identity: m.identityPolicies(t, roleName),
	}
}

// can evaluates one request of the host; extra adds request context keys.
func (m *accessModel) can(t *testing.T, pr principal, action, resource string, resPolicy *iampolicy.Policy, keyPolicy bool, extra map[string][]string) bool {
	t.Helper()
	ctx := map[string][]string{}
	for k, v := range pr.ctx {
		ctx[k] = v
	}
	for k, v := range extra {
		ctx[k] = v
	}
	d, err := iampolicy.Evaluate(iampolicy.Request{Principal: pr.p, Action: action, Resource: resource, Context: ctx},
		iampolicy.Input{Identity: pr.identity, Resource: resPolicy, KeyPolicy: keyPolicy})
	if err != nil {
		t.Fatalf("%s on %s: %v", action, resource, err)
	}
	return d == iampolicy.Allow
}

// kmsVia says whether the host may use key for action through a service (the request
// Secrets Manager or S3 makes to KMS on its behalf).
func (m *accessModel) kmsVia(t *testing.T, pr principal, keyARN, action, service string, encCtx map[string]string) bool {
	t.Helper()
	extra := map[string][]string{
		"kms:ViaService":    {service + "." + m.region + ".amazonaws.com"},
		"kms:CallerAccount": {m.account},
	}
	for k, v := range encCtx {
		extra["kms:EncryptionContext:"+k] = []string{v}
	}
	return m.can(t, pr, action, keyARN, m.keys[keyARN], true, extra)
}

// relative names a per-host thing from the asking host's point of view: its own,
// or a host of a role ({keystone}: a keystone host other than the asking one).
func (m *accessModel) relative(s, self string) string {
	names := sortedKeys(m.hostRole)
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, h := range names {
		if !strings.Contains(s, h) {
			continue
		}
		if h == self {
			return strings.ReplaceAll(s, h, "{own}")
		}
		return strings.ReplaceAll(s, h, "{"+m.hostRole[h]+"}")
	}
	return s
}

// hostAccess is every capability of one host.
func (m *accessModel) hostAccess(t *testing.T, name string, inst res) map[string]bool {
	t.Helper()
	pr := m.hostPrincipal(t, name, inst)
	out := map[string]bool{}
	set := func(c string, ok bool) {
		// Several resources may land on one label ({keystone} for two other hosts): the
		// role has it when any does.
		out[c] = out[c] || ok
	}
	m.secrets(t, name, pr, set)
	m.buckets(t, name, pr, set)
	m.kmsKeys(t, pr, set)
	m.efs(t, pr, set)
	m.hostLogs(t, name, pr, set)
	return out
}

// hostLogs: read = FilterLogEvents on a host log group (/cso/<env>/<log>), write =
// PutLogEvents on the asking host's stream in it. CloudWatch Logs decrypts and encrypts the
// events with the key itself (the key policy's grant to the logs service).
func (m *accessModel) hostLogs(t *testing.T, host string, pr principal, set func(string, bool)) {
	t.Helper()
	prefix := "/cso/" + m.env + "/"
	for _, g := range m.e.all {
		if g.Type != "aws_cloudwatch_log_group" || !strings.HasPrefix(g.str("name"), prefix) {
			continue
		}
		arn, label := g.str("arn"), "logs "+strings.TrimPrefix(g.str("name"), prefix)
		set(label+": read", m.can(t, pr, "logs:FilterLogEvents", arn, nil, false, nil))
		set(label+": write", m.can(t, pr, "logs:PutLogEvents", arn+":log-stream:"+host, nil, false, nil))
	}
}

// secrets: read = GetSecretValue on the secret and Decrypt of its key through Secrets
// Manager, write = PutSecretValue and GenerateDataKey through Secrets Manager
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
func (m *accessModel) secrets(t *testing.T, host string, pr principal, set func(string, bool)) {
	t.Helper()
	type secret struct {
		label, arn, key string
		tags            map[string]any
		policy          *iampolicy.Policy
	}
	var list []secret
	policies := map[string]*iampolicy.Policy{}
	for _, r := range m.e.all {
		if r.Type == "aws_secretsmanager_secret_policy" {
			policies[r.str("secret_arn")] = m.parse(t, r.Address, r.str("policy"))
		}
	}
	for _, r := range m.e.all {
		switch r.Type {
		case "aws_secretsmanager_secret":
			tags, _ := r.V["tags_all"].(map[string]any)
			s := secret{label: "secret " + strings.TrimPrefix(r.str("name"), m.env+"/"), arn: r.str("arn"), key: r.str("kms_key_id"), tags: tags, policy: policies[r.str("arn")]}
			if doc := r.str("policy"); doc != "" && s.policy == nil {
				s.policy = m.parse(t, r.Address, doc)
			}
			list = append(list, s)
		case "aws_db_instance":
			// The master user secret RDS manages. The test provider does not name it as
			// RDS does; RDS names it rds!db-<id>-<suffix> and tags it with the instance
			// ARN (aws:rds:primaryDBInstanceArn), which is what the host policy matches
			// (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html).
			ms := firstObj(r.V["master_user_secret"])
			if ms == nil {
				continue
			}
			key := r.str("master_user_secret_kms_key_id")
			if key == "" {
				key, _ = ms["kms_key_id"].(string)
			}
			arn, _ := ms["secret_arn"].(string)
			if !strings.Contains(arn, ":secret:rds!db-") {
				arn = "arn:" + m.partition + ":secretsmanager:" + m.region + ":" + m.account + ":secret:rds!db-" + strings.ToLower(strings.TrimPrefix(r.str("id"), "db-")) + "-AbC123"
			}
			list = append(list, secret{label: "secret rds!db (RDS master user)", arn: arn, key: key,
				tags: map[string]any{"aws:rds:primaryDBInstanceArn": r.str("arn")}})
		}
	}
	for _, s := range list {
		ctx := map[string][]string{"secretsmanager:SecretId": {s.arn}}
		for k, v := range s.tags {
			ctx["secretsmanager:ResourceTag/"+k] = []string{fmt.Sprint(v)}
			ctx["aws:ResourceTag/"+k] = []string{fmt.Sprint(v)}
		}
		ok := m.can(t, pr, "secretsmanager:GetSecretValue", s.arn, s.policy, false, ctx)
		if s.key == "" {
			// aws/secretsmanager: an AWS managed key, usable through Secrets Manager by
			// every principal of the account that may read the secret.
		} else {
			ok = ok && m.kmsVia(t, pr, m.keyARN(t, s.key), "kms:Decrypt", "secretsmanager", map[string]string{"SecretARN": s.arn})
		}
		set(m.relative(s.label, host)+": read", ok)
		// write = PutSecretValue and GenerateDataKey of its key through Secrets Manager (the
		// new version's data key).
		ok = m.can(t, pr, "secretsmanager:PutSecretValue", s.arn, s.policy, false, ctx)
		if s.key != "" {
			ok = ok && m.kmsVia(t, pr, m.keyARN(t, s.key), "kms:GenerateDataKey", "secretsmanager", map[string]string{"SecretARN": s.arn})
		}
		set(m.relative(s.label, host)+": write", ok)
	}
}

// s3Prefixes are the key prefixes the matrix probes, by bucket (its name without
// "<env>-cso-" and "-<account>"): for the files bucket what internal/deploy publishes
// (bin/, scripts/, packages/), the status documents (internal/status), the leases
// (internal/lease: a key without a trailing slash is that one object) and anything else;
// any other bucket as a whole.
var s3Prefixes = map[string][]string{
	"files": {"bin/", "scripts/", "packages/", "status/{host}.json", "backups/", "locks/app-restart.json", "locks/", "other/"},
}

// buckets: read = GetObject (+ Decrypt through S3 when SSE-KMS), write = PutObject (+
// GenerateDataKey through S3); with an S3 Bucket Key the encryption context is the
// bucket ARN (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
func (m *accessModel) buckets(t *testing.T, host string, pr principal, set func(string, bool)) {
	t.Helper()
	for _, b := range m.e.all {
		if b.Type != "aws_s3_bucket" {
			continue
		}
		name, arn := b.str("bucket"), b.str("arn")
		short := strings.TrimSuffix(strings.TrimPrefix(name, m.env+"-cso-"), "-"+m.account)
		var policy *iampolicy.Policy
		if doc := b.str("policy"); doc != "" {
			policy = m.parse(t, b.Address, doc)
		}
		key := ""
		for _, r := range m.e.all {
			switch {
			case r.Type == "aws_s3_bucket_policy" && r.str("bucket") == name:
				policy = m.parse(t, r.Address, r.str("policy"))
			case r.Type == "aws_s3_bucket_server_side_encryption_configuration" && r.str("bucket") == name:
				def := firstObj(firstObj(r.V["rule"])["apply_server_side_encryption_by_default"])
				if alg, _ := def["sse_algorithm"].(string); strings.HasPrefix(alg, "aws:kms") {
					k, _ := def["kms_master_key_id"].(string)
					if k == "" {
						t.Fatalf("%s: SSE-KMS with the AWS managed key: not modelled", r.Address)
					}
					key = m.keyARN(t, k)
				}
			}
		}
		set("s3 "+short+": list", m.can(t, pr, "s3:ListBucket", arn, policy, false, nil))
		hosts := sortedKeys(m.hostRole)
		prefixes, ok := s3Prefixes[short]
		if !ok {
			prefixes = []string{""}
		}
		for _, pfx := range prefixes {
			objects := []string{pfx + "probe"}
			exact := pfx != "" && !strings.HasSuffix(pfx, "/") && !strings.Contains(pfx, "{host}")
			if exact {
				objects = []string{pfx}
			}
			if strings.Contains(pfx, "{host}") {
				objects = nil
				for _, h := range hosts {
					objects = append(objects, strings.ReplaceAll(pfx, "{host}", h))
				}
			}
			for _, obj := range objects {
				label := "s3 " + short + "/" + m.relative(obj, host)
				if !strings.Contains(pfx, "{host}") && !exact {
					label = "s3 " + short + "/" + pfx + "*"
				}
				oarn := arn + "/" + obj
				read := m.can(t, pr, "s3:GetObject", oarn, policy, false, nil)
				write := m.can(t, pr, "s3:PutObject", oarn, policy, false, nil)
				if key != "" {
					ec := map[string]string{"aws:s3:arn": arn}
					read = read && m.kmsVia(t, pr, key, "kms:Decrypt", "s3", ec)
					write = write && m.kmsVia(t, pr, key, "kms:GenerateDataKey", "s3", ec)
				}
				set(label+": read", read)
				set(label+": write", write)
			}
		}
	}
}

// kmsKeys: calls to KMS itself (not through a service): what a host could do with a
// ciphertext it obtained some other way.
func (m *accessModel) kmsKeys(t *testing.T, pr principal, set func(string, bool)) {
	t.Helper()
	for _, r := range m.e.all {
		if r.Type != "aws_kms_key" {
			continue
		}
		arn := r.str("arn")
		label := "kms " + arn
		for _, a := range m.e.all {
			if a.Type == "aws_kms_alias" && m.keyARN(t, a.str("target_key_id")) == arn {
				label = "kms " + strings.TrimPrefix(strings.TrimPrefix(a.str("name"), "alias/"), m.env+"-")
			}
		}
		extra := map[string][]string{"kms:CallerAccount": {m.account}}
		set(label+": Decrypt (direct)", m.can(t, pr, "kms:Decrypt", arn, m.keys[arn], true, extra))
		set(label+": GenerateDataKey (direct)", m.can(t, pr, "kms:GenerateDataKey", arn, m.keys[arn], true, extra))
	}
}

// efs: mount (ClientMount), write (ClientWrite) and root (ClientRootAccess) through each
// access point and through no access point (the file system's root directory), over TLS
// through a mount target, as amazon-efs-utils mounts with -o tls,iam. A file system
// without a policy lets every client through a mount target do everything
// (https://docs.aws.amazon.com/efs/latest/ug/iam-access-control-nfs-efs.html).
func (m *accessModel) efs(t *testing.T, pr principal, set func(string, bool)) {
	t.Helper()
	for _, fs := range m.e.all {
		if fs.Type != "aws_efs_file_system" {
			continue
		}
		var policy *iampolicy.Policy
		for _, r := range m.e.all {
			if r.Type == "aws_efs_file_system_policy" && r.str("file_system_id") == fs.str("id") {
				policy = m.parse(t, r.Address, r.str("policy"))
			}
		}
		fsName := fmt.Sprint(keyOrEmpty(fs.Key))
		type target struct{ label, ap string }
		targets := []target{{"efs " + fsName + " without access point", ""}}
		for _, ap := range m.e.all {
			if ap.Type == "aws_efs_access_point" && ap.str("file_system_id") == fs.str("id") {
				path, _ := firstObj(ap.V["root_directory"])["path"].(string)
				targets = append(targets, target{fmt.Sprintf("efs %s access point %v (%s)", fsName, keyOrEmpty(ap.Key), path), ap.str("arn")})
			}
		}
		for _, tg := range targets {
			ctx := map[string][]string{"elasticfilesystem:AccessedViaMountTarget": {"true"}}
			if tg.ap != "" {
				ctx["elasticfilesystem:AccessPointArn"] = []string{tg.ap}
			}
			for _, a := range []struct{ what, action string }{{"mount", "ClientMount"}, {"write", "ClientWrite"}, {"root", "ClientRootAccess"}} {
				ok := true // no file system policy: the default grants everything
				if policy != nil {
					ok = m.can(t, pr, "elasticfilesystem:"+a.action, fs.str("arn"), policy, false, ctx)
				}
				set(tg.label+": "+a.what, ok)
			}
		}
	}
}
