package iampolicy

import (
	"strings"
	"testing"
)

const (
	acct    = "111122223333"
	roleARN = "arn:aws:iam::111122223333:role/dev-keystone"
	session = "arn:aws:sts::111122223333:assumed-role/dev-keystone/i-0abc"
	bucket  = "arn:aws:s3:::dev-cso-files-111122223333"
)

var role = Principal{Account: acct, ARNs: []string{roleARN, session}}

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decide(t *testing.T, req Request, in Input) Decision {
	t.Helper()
	d, err := Evaluate(req, in)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func req(action, resource string, ctx map[string][]string) Request {
	return Request{Principal: role, Action: action, Resource: resource, Context: ctx}
}

// Actions match case-insensitively with wildcards, resources case-sensitively
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
func TestActionAndResourceMatching(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:Get*","secretsmanager:DescribeSecre?"],"Resource":["`+bucket+`/status/*","arn:aws:secretsmanager:*:111122223333:secret:dev/cso/*"]}]}`)
	in := Input{Identity: []*Policy{p}}
	for _, c := range []struct {
		action, resource string
		want             Decision
	}{
		{"s3:GetObject", bucket + "/status/keystone01.json", Allow},
		{"S3:getobject", bucket + "/status/keystone01.json", Allow},        // action case
		{"s3:GetObject", bucket + "/STATUS/keystone01.json", ImplicitDeny}, // resource case
		{"s3:PutObject", bucket + "/status/keystone01.json", ImplicitDeny},
		{"s3:GetObject", bucket + "/status", ImplicitDeny},
		{"secretsmanager:DescribeSecret", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dev/cso/tls/x-AbC123", Allow},
		{"secretsmanager:DescribeSecrets", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dev/cso/tls/x-AbC123", ImplicitDeny}, // ? is one character
		// A wildcard does not cross the ARN's colon-separated segments.
		{"secretsmanager:DescribeSecret", "arn:aws:secretsmanager:eu-west-1:444455556666:secret:dev/cso/x", ImplicitDeny},
	} {
		if got := decide(t, req(c.action, c.resource, nil), in); got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	if arnMatch("arn:aws:s3:::*", "arn:aws:s3:eu-west-1::x") {
		t.Error("* in the region segment matched across segments")
	}
}

// NotAction and NotResource match everything but what they list
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html).
func TestNotActionNotResource(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","NotAction":"s3:Delete*","NotResource":"`+bucket+`/secret/*"}]}`)
	in := Input{Identity: []*Policy{p}}
	if d := decide(t, req("s3:GetObject", bucket+"/a", nil), in); d != Allow {
		t.Errorf("GetObject a: %v", d)
	}
	if d := decide(t, req("s3:DeleteObject", bucket+"/a", nil), in); d != ImplicitDeny {
		t.Errorf("DeleteObject a: %v", d)
	}
	if d := decide(t, req("s3:GetObject", bucket+"/secret/k", nil), in); d != ImplicitDeny {
		t.Errorf("GetObject secret/k: %v", d)
	}
}

// An explicit deny in any policy overrides every allow; nothing allowed is an implicit
// deny (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html).
func TestExplicitDenyWins(t *testing.T) {
	allow := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"`+bucket+`/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)
	in := Input{Identity: []*Policy{allow}, Resource: deny}
	tls := map[string][]string{"aws:SecureTransport": {"true"}}
	plain := map[string][]string{"aws:SecureTransport": {"false"}}
	if d := decide(t, req("s3:GetObject", bucket+"/x", tls), in); d != Allow {
		t.Errorf("over TLS: %v", d)
	}
	if d := decide(t, req("s3:GetObject", bucket+"/x", plain), in); d != ExplicitDeny {
		t.Errorf("without TLS: %v", d)
	}
	if d := decide(t, req("s3:GetObject", bucket+"/x", tls), Input{}); d != ImplicitDeny {
		t.Errorf("no policy: %v", d)
	}
	// An identity Deny overrides a resource-policy Allow too.
	idDeny := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}}`)
	resAllow := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"`+roleARN+`"},"Action":"s3:GetObject","Resource":"*"}}`)
	if d := decide(t, req("s3:GetObject", bucket+"/x", nil), Input{Identity: []*Policy{idDeny}, Resource: resAllow}); d != ExplicitDeny {
		t.Errorf("identity deny vs resource allow: %v", d)
	}
}

// Within one account, identity OR resource policy allows; a resource policy naming the
// account (root) delegates to IAM and grants nothing by itself; across accounts both must
// allow (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
func TestSameAccountUnionAndCrossAccount(t *testing.T) {
	byRole := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["`+roleARN+`"]},"Action":"elasticfilesystem:ClientMount","Resource":"*"}}`)
	bySession := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"`+session+`"},"Action":"elasticfilesystem:ClientMount","Resource":"*"}}`)
	byAccount := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"elasticfilesystem:ClientMount","Resource":"*"}}`)
	byOther := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/dev-frontend"},"Action":"elasticfilesystem:ClientMount","Resource":"*"}}`)
	identity := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"elasticfilesystem:ClientMount","Resource":"*"}}`)
	fs := "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-1"
	r := req("elasticfilesystem:ClientMount", fs, nil)
	for _, c := range []struct {
		name string
		in   Input
		want Decision
	}{
		{"resource policy names the role", Input{Resource: byRole}, Allow},
		{"resource policy names the session", Input{Resource: bySession}, Allow},
		{"resource policy names another role", Input{Resource: byOther}, ImplicitDeny},
		{"resource policy names the account only", Input{Resource: byAccount}, ImplicitDeny},
		{"account delegation plus identity", Input{Resource: byAccount, Identity: []*Policy{identity}}, Allow},
		{"identity only", Input{Identity: []*Policy{identity}}, Allow},
		{"cross-account identity only", Input{Identity: []*Policy{identity}, ResourceAccount: "444455556666"}, ImplicitDeny},
		{"cross-account resource only", Input{Resource: byRole, ResourceAccount: "444455556666"}, ImplicitDeny},
		{"cross-account both", Input{Resource: byAccount, Identity: []*Policy{identity}, ResourceAccount: "444455556666"}, Allow},
	} {
		if got := decide(t, r, c.in); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// A service principal is not the role.
	svc := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"logs.eu-west-1.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}}`)
	if d := decide(t, req("kms:Decrypt", "k", nil), Input{Resource: svc}); d != ImplicitDeny {
		t.Errorf("service principal matched a role: %v", d)
	}
	s := Request{Principal: Principal{Service: "logs.eu-west-1.amazonaws.com"}, Action: "kms:Decrypt", Resource: "k"}
	if d := decide(t, s, Input{Resource: svc}); d != Allow {
		t.Errorf("service principal: %v", d)
	}
}

// KMS: without the key policy's permission an identity policy's allow has no effect; the
// key policy grants directly, or grants the account and so enables IAM policies
// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html,
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
func TestKMSKeyPolicyRequired(t *testing.T) {
	key := "arn:aws:kms:eu-west-1:111122223333:key/1234"
	identity := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"`+key+`"}}`)
	rootOnly := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}`)
	serviceOnly := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"logs.eu-west-1.amazonaws.com"},"Action":"kms:*","Resource":"*"}}`)
	roleDirect := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"`+roleARN+`"},"Action":"kms:Decrypt","Resource":"*"}}`)
	accountID := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}}`)
	r := req("kms:Decrypt", key, nil)
	for _, c := range []struct {
		name string
		in   Input
		want Decision
	}{
		{"root delegation + identity", Input{Identity: []*Policy{identity}, Resource: rootOnly, KeyPolicy: true}, Allow},
		{"account ID delegation + identity", Input{Identity: []*Policy{identity}, Resource: accountID, KeyPolicy: true}, Allow},
		{"root delegation, no identity grant", Input{Resource: rootOnly, KeyPolicy: true}, ImplicitDeny},
		{"key policy without the account: identity allow has no effect", Input{Identity: []*Policy{identity}, Resource: serviceOnly, KeyPolicy: true}, ImplicitDeny},
		{"key policy names the role", Input{Resource: roleDirect, KeyPolicy: true}, Allow},
	} {
		if got := decide(t, r, c.in); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := Evaluate(r, Input{Identity: []*Policy{identity}, KeyPolicy: true}); err == nil {
		t.Error("a KMS evaluation without a key policy was not refused")
	}
}

// Condition operators (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
// case rules, several values of one key are ORed (negated operators: NOR), several keys
// and operators are ANDed, a missing key fails positive operators and satisfies negated
// ones, ...IfExists passes on a missing key, Null tests presence.
func TestConditionOperators(t *testing.T) {
	for _, c := range []struct {
		op, key, values string
		ctx             map[string][]string
		want            bool
	}{
		{"StringEquals", "aws:SourceAccount", `"111122223333"`, map[string][]string{"aws:SourceAccount": {"111122223333"}}, true},
		{"StringEquals", "aws:SourceAccount", `["1","111122223333"]`, map[string][]string{"aws:sourceaccount": {"111122223333"}}, true}, // key case-insensitive, values ORed
		{"StringEquals", "cloudwatch:namespace", `"CWAgent"`, map[string][]string{"cloudwatch:namespace": {"cwagent"}}, false},          // value case-sensitive
		{"StringEqualsIgnoreCase", "cloudwatch:namespace", `"CWAgent"`, map[string][]string{"cloudwatch:namespace": {"cwagent"}}, true},
		{"StringNotEquals", "cloudwatch:namespace", `["A","B"]`, map[string][]string{"cloudwatch:namespace": {"C"}}, true},
		{"StringNotEquals", "cloudwatch:namespace", `["A","B"]`, map[string][]string{"cloudwatch:namespace": {"B"}}, false},
		{"StringNotEqualsIgnoreCase", "cloudwatch:namespace", `"a"`, map[string][]string{"cloudwatch:namespace": {"A"}}, false},
		{"StringLike", "s3:prefix", `"status/*"`, map[string][]string{"s3:prefix": {"status/x.json"}}, true},
		{"StringLike", "s3:prefix", `"Status/*"`, map[string][]string{"s3:prefix": {"status/x.json"}}, false},
		{"StringNotLike", "s3:prefix", `"status/*"`, map[string][]string{"s3:prefix": {"bin/cso"}}, true},
		{"ArnLike", "aws:SourceArn", `"arn:aws:logs:eu-west-1:111122223333:log-group:*"`, map[string][]string{"aws:SourceArn": {"arn:aws:logs:eu-west-1:111122223333:log-group:/cso/dev:*"}}, true},
		{"ArnLike", "aws:SourceArn", `"arn:aws:logs:*:111122223333:log-group:*"`, map[string][]string{"aws:SourceArn": {"arn:aws:logs:eu-west-1:444455556666:log-group:x"}}, false},
		{"ArnEquals", "ec2:SourceInstanceARN", `"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"`, map[string][]string{"ec2:SourceInstanceARN": {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"}}, true},
		{"ArnNotLike", "aws:PrincipalArn", `"arn:aws:iam::111122223333:role/dev-jump"`, map[string][]string{"aws:PrincipalArn": {roleARN}}, true},
		{"Bool", "aws:SecureTransport", `"false"`, map[string][]string{"aws:SecureTransport": {"false"}}, true},
		{"Bool", "aws:SecureTransport", `false`, map[string][]string{"aws:SecureTransport": {"FALSE"}}, true}, // JSON boolean, case-insensitive
		{"Bool", "aws:SecureTransport", `"false"`, map[string][]string{"aws:SecureTransport": {"true"}}, false},
		// Missing keys.
		{"StringEquals", "aws:SourceAccount", `"1"`, nil, false},
		{"Bool", "aws:SecureTransport", `"false"`, nil, false},
		{"StringNotEquals", "aws:SourceAccount", `"1"`, nil, true},
		{"ArnNotLike", "aws:SourceArn", `"arn:aws:s3:::x"`, nil, true},
		{"StringEqualsIfExists", "aws:SourceAccount", `"1"`, nil, true},
		{"StringEqualsIfExists", "aws:SourceAccount", `"1"`, map[string][]string{"aws:SourceAccount": {"2"}}, false},
		{"Null", "aws:SourceAccount", `"true"`, nil, true},
		{"Null", "aws:SourceAccount", `"false"`, nil, false},
		{"Null", "aws:SourceAccount", `"false"`, map[string][]string{"aws:SourceAccount": {"2"}}, true},
		// Tag and encryption-context key families.
		{"StringEquals", "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn", `"arn:aws:rds:eu-west-1:111122223333:db:dev"`, map[string][]string{"secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": {"arn:aws:rds:eu-west-1:111122223333:db:dev"}}, true},
		{"StringEquals", "aws:PrincipalTag/cso-role", `"keystone"`, map[string][]string{"aws:PrincipalTag/cso-role": {"jump"}}, false},
	} {
		p := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"`+c.op+`":{"`+c.key+`":`+c.values+`}}}}`)
		got := decide(t, req("s3:GetObject", bucket+"/x", c.ctx), Input{Identity: []*Policy{p}}) == Allow
		if got != c.want {
			t.Errorf("%s %s %s with %v: %v, want %v", c.op, c.key, c.values, c.ctx, got, c.want)
		}
	}
	// Two keys under one operator, and two operators, must all hold.
	p := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{
		"StringEquals":{"aws:SourceAccount":"1","cloudwatch:namespace":"N"},"Bool":{"aws:SecureTransport":"true"}}}}`)
	all := map[string][]string{"aws:SourceAccount": {"1"}, "cloudwatch:namespace": {"N"}, "aws:SecureTransport": {"true"}}
	if decide(t, req("s3:GetObject", bucket, all), Input{Identity: []*Policy{p}}) != Allow {
		t.Error("all conditions hold: not allowed")
	}
	for _, drop := range []string{"aws:SourceAccount", "cloudwatch:namespace", "aws:SecureTransport"} {
		ctx := map[string][]string{}
		for k, v := range all {
			if k != drop {
				ctx[k] = v
			}
		}
		if decide(t, req("s3:GetObject", bucket, ctx), Input{Identity: []*Policy{p}}) == Allow {
			t.Errorf("allowed without %s", drop)
		}
	}
}

// Set operators on multivalued keys: ForAnyValue needs one request value to match (false
// when the key is missing), ForAllValues needs every one (true when missing); a
// single-valued operator given several request values is refused
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
func TestMultivaluedKeys(t *testing.T) {
	eval := func(op string, ctx map[string][]string) (bool, error) {
		p := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"`+op+`":{"aws:RequestTag/role":["jump","keystone"]}}}}`)
		d, err := Evaluate(req("s3:GetObject", bucket, ctx), Input{Identity: []*Policy{p}})
		return d == Allow, err
	}
	some := map[string][]string{"aws:RequestTag/role": {"keystone", "frontend"}}
	both := map[string][]string{"aws:RequestTag/role": {"keystone", "jump"}}
	for _, c := range []struct {
		op   string
		ctx  map[string][]string
		want bool
	}{
		{"ForAnyValue:StringEquals", some, true},
		{"ForAnyValue:StringEquals", nil, false},
		{"ForAllValues:StringEquals", some, false},
		{"ForAllValues:StringEquals", both, true},
		{"ForAllValues:StringEquals", nil, true},
		{"ForAnyValue:StringNotEquals", both, false},
		{"ForAnyValue:StringNotEquals", some, true},
		{"ForAllValues:StringNotEquals", map[string][]string{"aws:RequestTag/role": {"backend"}}, true},
	} {
		got, err := eval(c.op, c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s with %v: %v, want %v", c.op, c.ctx, got, c.want)
		}
	}
	if _, err := eval("StringEquals", some); err == nil || !strings.Contains(err.Error(), "ForAnyValue") {
		t.Errorf("single-valued operator on two request values: err %v", err)
	}
}

// Policy variables (Version 2012-10-17 only) in Resource and condition values: the
// per-host grants (${aws:userid}, ${ec2:SourceInstanceARN}, ${aws:PrincipalTag/...})
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
func TestPolicyVariables(t *testing.T) {
	doc := `{"Version":"%s","Statement":[
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"` + bucket + `/status/${aws:PrincipalTag/host}.json"},
		{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringLike":{"secretsmanager:ResourceTag/Instance":"${ec2:SourceInstanceARN}"}}},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + bucket + `/literal/${*}${?}${$}"}]}`
	p := mustParse(t, strings.Replace(doc, "%s", "2012-10-17", 1))
	in := Input{Identity: []*Policy{p}}
	host := map[string][]string{"aws:PrincipalTag/host": {"keystone01"}, "ec2:SourceInstanceARN": {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"}}
	for _, c := range []struct {
		action, resource string
		ctx              map[string][]string
		want             Decision
	}{
		{"s3:PutObject", bucket + "/status/keystone01.json", host, Allow},
		{"s3:PutObject", bucket + "/status/keystone02.json", host, ImplicitDeny},
		{"s3:PutObject", bucket + "/status/.json", nil, ImplicitDeny}, // variable missing: no match
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:s", map[string][]string{
			"ec2:SourceInstanceARN":               {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"},
			"secretsmanager:ResourceTag/Instance": {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"}}, Allow},
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:s", map[string][]string{
			"ec2:SourceInstanceARN":               {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"},
			"secretsmanager:ResourceTag/Instance": {"arn:aws:ec2:eu-west-1:111122223333:instance/i-0def"}}, ImplicitDeny},
		// ${*}, ${?}, ${$} are the literal characters, not wildcards.
		{"s3:GetObject", bucket + "/literal/*?$", nil, Allow},
		{"s3:GetObject", bucket + "/literal/ab$", nil, ImplicitDeny},
	} {
		if got := decide(t, req(c.action, c.resource, c.ctx), in); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	// The per-host grant of an EC2 role session: aws:userid is <role unique ID>:<instance
	// ID> (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-infotouse).
	perHost := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject",
		"Resource":"`+bucket+`/status/${aws:userid}.json","Condition":{"StringLike":{"aws:userid":"AROAEXAMPLE:i-*"}}}}`)
	uid := map[string][]string{"aws:userid": {"AROAEXAMPLE:i-0abc"}}
	if d := decide(t, req("s3:PutObject", bucket+"/status/AROAEXAMPLE:i-0abc.json", uid), Input{Identity: []*Policy{perHost}}); d != Allow {
		t.Errorf("own status by aws:userid: %v", d)
	}
	if d := decide(t, req("s3:PutObject", bucket+"/status/AROAEXAMPLE:i-0def.json", uid), Input{Identity: []*Policy{perHost}}); d != ImplicitDeny {
		t.Errorf("another host's status by aws:userid: %v", d)
	}
	// A variable's value is literal: a tag value "*" does not become a wildcard.
	star := map[string][]string{"aws:PrincipalTag/host": {"*"}}
	if d := decide(t, req("s3:PutObject", bucket+"/status/keystone01.json", star), in); d != ImplicitDeny {
		t.Errorf("a variable's * value acted as a wildcard: %v", d)
	}
	// Version 2008-10-17 has no variables: ${...} is literal text.
	old := mustParse(t, strings.Replace(doc, "%s", "2008-10-17", 1))
	if d := decide(t, req("s3:PutObject", bucket+"/status/${aws:PrincipalTag/host}.json", host), Input{Identity: []*Policy{old}}); d != Allow {
		t.Errorf("2008-10-17 variable as literal: %v", d)
	}
	bad := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"`+bucket+`/${aws:nosuchkey}"}}`)
	if _, err := Evaluate(req("s3:GetObject", bucket+"/x", nil), Input{Identity: []*Policy{bad}}); err == nil {
		t.Error("unknown policy variable not refused")
	}
}

// NotPrincipal with Deny: the request is exempt only when its ARN and its account are
// listed (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html).
func TestNotPrincipal(t *testing.T) {
	doc := func(ids string) *Policy {
		return mustParse(t, `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
			{"Effect":"Deny","NotPrincipal":{"AWS":[`+ids+`]},"Action":"s3:GetObject","Resource":"*"}]}`)
	}
	r := req("s3:GetObject", bucket+"/x", nil)
	if d := decide(t, r, Input{Resource: doc(`"` + session + `","arn:aws:iam::111122223333:root"`)}); d != Allow {
		t.Errorf("session and account exempt: %v", d)
	}
	if d := decide(t, r, Input{Resource: doc(`"` + roleARN + `"`)}); d != ExplicitDeny {
		t.Errorf("only the role ARN listed: %v", d)
	}
	if d := decide(t, r, Input{Resource: doc(`"arn:aws:iam::111122223333:role/dev-jump","111122223333"`)}); d != ExplicitDeny {
		t.Errorf("another role exempt: %v", d)
	}
}

// Whatever the evaluator does not understand is an error, never an allow.
func TestRefusals(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"unknown operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringSortOf":{"aws:SourceAccount":"1"}}}}`, "unknown or unsupported condition operator"},
		{"unsupported operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`, "unknown or unsupported condition operator"},
		{"unknown key", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAcount":"1"}}}}`, "unknown condition key"},
		{"Null with IfExists", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"aws:SourceAccount":"true"}}}}`, "Null takes no"},
		{"wildcard principal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:role/*"},"Action":"s3:*","Resource":"*"}}`, "wildcards are not allowed"},
		{"unknown element", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condtion":{}}}`, "unknown statement element"},
		{"bad effect", `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"s3:*","Resource":"*"}}`, "Effect"},
		{"action and notaction", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}`, "exactly one of Action"},
		{"no resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}`, "exactly one of Resource"},
		{"bad version", `{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`, "Version"},
		{"not json", `{"Version":`, "not a JSON object"},
		{"Bool value", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}`, "not true or false"},
	} {
		_, err := Parse("p", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	withPrincipal := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`)
	if _, err := Evaluate(req("s3:GetObject", bucket, nil), Input{Identity: []*Policy{withPrincipal}}); err == nil {
		t.Error("identity policy with Principal accepted")
	}
	noPrincipal := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
	if _, err := Evaluate(req("s3:GetObject", bucket, nil), Input{Resource: noPrincipal}); err == nil {
		t.Error("resource policy without Principal accepted")
	}
	// An error in a later statement is reported even after an earlier Deny applies.
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},
		{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/x":"a"}}}]}`)
	two := map[string][]string{"aws:RequestTag/x": {"a", "b"}}
	if _, err := Evaluate(req("s3:GetObject", bucket, two), Input{Identity: []*Policy{p}}); err == nil {
		t.Error("an error after a Deny was not reported")
	}
}
