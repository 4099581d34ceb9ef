package envfile

import (
	"path/filepath"
	"strings"
	"testing"
)

// real is base with values shaped like a real account's: no placeholder.
var real = strings.NewReplacer(
	`account_id: "111122223333"`, `account_id: "804917365212"`,
	"admin_email: ops@example.com", "admin_email: platform-ops@cso-ssp.co.uk",
	"arn:aws:acm:eu-west-2:111122223333:certificate/abc", "arn:aws:acm:eu-west-2:804917365212:certificate/6f1c2b7e-93aa-4c0d-b1f2-7a8e5d4c3b21",
	"arn:aws:cognito-idp:eu-west-2:111122223333:userpool/eu-west-2_x", "arn:aws:cognito-idp:eu-west-2:804917365212:userpool/eu-west-2_Qh7Lm2XkT",
	"user_pool_client_id: c", "user_pool_client_id: 4p1k9s7e2qj3v8m0c6t5r1b2n",
).Replace(base)

func TestRealLookingFileHasNoPlaceholders(t *testing.T) {
	env, err := Parse("env.t.yaml", []byte(real))
	if err != nil {
		t.Fatalf("the real-looking file must be valid: %v", err)
	}
	if ps := env.Placeholders(); len(ps) > 0 {
		t.Fatalf("a real-looking file reported placeholders:\n%v", ps)
	}
}

func TestPlaceholders(t *testing.T) {
	const cert = "arn:aws:acm:eu-west-2:804917365212:certificate/6f1c2b7e-93aa-4c0d-b1f2-7a8e5d4c3b21"
	const pool = "arn:aws:cognito-idp:eu-west-2:804917365212:userpool/eu-west-2_Qh7Lm2XkT"
	cases := []struct {
		name, from, to string
		want           []string // each finding line's beginning, in file order
	}{
		{"example account everywhere", "804917365212", "111122223333", []string{
			`env.t.yaml:6:13: account_id: 111122223333 is the AWS documentation example account; put your AWS account ID (12 digits, quoted)`,
			`env.t.yaml:19:20: load_balancer.certificate_arn: arn:aws:acm:eu-west-2:111122223333:certificate/6f1c2b7e-93aa-4c0d-b1f2-7a8e5d4c3b21 is an example ARN (AWS documentation account 111122223333); put the ARN of your ACM certificate for the portal's public name, in eu-west-2 (aws acm list-certificates --region eu-west-2)`,
			`env.t.yaml:21:20: load_balancer.cognito.user_pool_arn: arn:aws:cognito-idp:eu-west-2:111122223333:userpool/eu-west-2_Qh7Lm2XkT is an example ARN (AWS documentation account 111122223333); put the ARN of your Cognito user pool`,
		}},
		{"other example account", "804917365212", "123456789012", []string{
			`env.t.yaml:6:13: account_id: 123456789012 is the AWS documentation example account`,
			`env.t.yaml:19:20: load_balancer.certificate_arn: `,
			`env.t.yaml:21:20: load_balancer.cognito.user_pool_arn: `,
		}},
		{"example mail domain", "platform-ops@cso-ssp.co.uk", "admin@company.com", []string{
			`env.t.yaml:12:14: admin_email: admin@company.com is a placeholder address (company.com); put the mailbox that must receive the CloudWatch alarm e-mails`}},
		{"reserved mail domain", "platform-ops@cso-ssp.co.uk", "ops@example.org", []string{
			`env.t.yaml:12:14: admin_email: ops@example.org is a placeholder address (example.org)`}},
		{"reserved mail top-level domain", "platform-ops@cso-ssp.co.uk", "ops@cso.test", []string{
			`env.t.yaml:12:14: admin_email: ops@cso.test is a placeholder address (reserved top-level domain .test)`}},
		{"zero certificate id", cert, "arn:aws:acm:eu-west-2:804917365212:certificate/00000000-0000-0000-0000-000000000001", []string{
			`env.t.yaml:19:20: load_balancer.certificate_arn: arn:aws:acm:eu-west-2:804917365212:certificate/00000000-0000-0000-0000-000000000001 is a placeholder ARN (its id is zeros); put the ARN of your ACM certificate`}},
		{"zero user pool id", pool, "arn:aws:cognito-idp:eu-west-2:804917365212:userpool/eu-west-2_prod00000", []string{
			`env.t.yaml:21:20: load_balancer.cognito.user_pool_arn: arn:aws:cognito-idp:eu-west-2:804917365212:userpool/eu-west-2_prod00000 is a placeholder ARN (its id is zeros); put the ARN of your Cognito user pool`}},
		{"zero app client id", "4p1k9s7e2qj3v8m0c6t5r1b2n", "prodclient0000000000000000", []string{
			`env.t.yaml:22:26: load_balancer.cognito.user_pool_client_id: prodclient0000000000000000 is a placeholder app client id (a run of zeros); put the id of the pool's app client for the ALB`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(real, c.from) {
				t.Fatalf("the real-looking file has no %q", c.from)
			}
			env, err := Parse("env.t.yaml", []byte(strings.ReplaceAll(real, c.from, c.to)))
			if err != nil {
				t.Fatalf("a placeholder must not make the file invalid: %v", err)
			}
			ps := env.Placeholders()
			if len(ps) != len(c.want) {
				t.Fatalf("want %d finding(s), got %d:\n%v", len(c.want), len(ps), ps)
			}
			for i, w := range c.want {
				if got := ps[i].String(); !strings.HasPrefix(got, w) {
					t.Errorf("finding\n  %s\nwant it to start with\n  %s", got, w)
				}
			}
		})
	}
}

// Every committed env file is a sample: each of its placeholders is found, and none of the
// files is mistaken for a real one.
func TestCommittedFilesHavePlaceholders(t *testing.T) {
	files, err := filepath.Glob("../../environments/env.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no env files: %v", err)
	}
	for _, f := range files {
		env, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ps := env.Placeholders()
		fields := map[string]bool{}
		for _, p := range ps {
			fields[p.Field] = true
			if p.Line == 0 {
				t.Errorf("%s: finding without a line: %v", f, p)
			}
		}
		want := []string{"account_id", "admin_email"}
		if env.HA {
			want = append(want, "load_balancer.certificate_arn", "load_balancer.cognito.user_pool_arn", "load_balancer.cognito.user_pool_client_id")
		}
		for _, w := range want {
			if !fields[w] {
				t.Errorf("%s: placeholder %s not found (findings: %v)", f, w, ps)
			}
		}
	}
}
