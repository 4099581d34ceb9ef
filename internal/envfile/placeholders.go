package envfile

import (
	"fmt"
	"regexp"
	"strings"
)

// ExampleAccounts are the account IDs AWS documentation uses in examples (IAM identifiers,
// account identifiers). The committed env files carry 111122223333 so that they validate
// and plan offline; nobody deploys into one of these.
var ExampleAccounts = []string{"111122223333", "444455556666", "123456789012", "012345678901"}

// placeholder values that are shaped right but say nothing: a run of zeros (the committed
// files' certificate ids, user pool ids and app client ids) and the example mail domains
// (RFC 2606 reserves example.com/.org/.net and the .example, .test, .invalid top-level
// domains; company.com is the LLD's own sample address).
var (
	zerosRE          = regexp.MustCompile(`0{5,}`)
	exampleARNAcctRE = regexp.MustCompile(`^arn:[^:]*:[^:]*:[^:]*:(\d{12}):`)
	exampleDomains   = []string{"example.com", "example.org", "example.net", "company.com"}
	exampleTLDs      = []string{".example", ".test", ".invalid", ".localhost"}
)

func isExampleAccount(id string) bool {
	for _, a := range ExampleAccounts {
		if id == a {
			return true
		}
	}
	return false
}

// Placeholders returns every value of the file that is still a documentation example or a
// placeholder where a deploy needs a real value, with its position, in file order. The
// committed files validate (Validate does not call this); `cso plan` and `cso deploy`
// refuse a file with any of these, and `cso env validate` warns about them.
func (e *Env) Placeholders() Problems {
	var ps Problems
	if e.Has("account_id") && isExampleAccount(e.AccountID) {
		ps = append(ps, e.problem("account_id", "%s is the AWS documentation example account; put your AWS account ID (12 digits, quoted)", e.AccountID))
	}
	if e.Has("admin_email") {
		if d := exampleMailDomain(e.AdminEmail); d != "" {
			ps = append(ps, e.problem("admin_email", "%s is a placeholder address (%s); put the mailbox that must receive the CloudWatch alarm e-mails (SNS subscription, confirmed from that mailbox)", e.AdminEmail, d))
		}
	}
	if lb := e.LoadBalancer; lb != nil {
		arn := func(field, value, what string) {
			if value == "" {
				return
			}
			if m := exampleARNAcctRE.FindStringSubmatch(value); m != nil && isExampleAccount(m[1]) {
				ps = append(ps, e.problem(field, "%s is an example ARN (AWS documentation account %s); put %s", value, m[1], what))
			} else if zerosRE.MatchString(value[strings.LastIndexAny(value, "/:")+1:]) {
				ps = append(ps, e.problem(field, "%s is a placeholder ARN (its id is zeros); put %s", value, what))
			}
		}
		arn("load_balancer.certificate_arn", lb.CertificateARN,
			fmt.Sprintf("the ARN of your ACM certificate for the portal's public name, in %s (aws acm list-certificates --region %s)", e.Region, e.Region))
		arn("load_balancer.cognito.user_pool_arn", lb.Cognito.UserPoolARN,
			fmt.Sprintf("the ARN of your Cognito user pool (aws cognito-idp list-user-pools --max-results 20 --region %s)", e.Region))
		if id := lb.Cognito.UserPoolClientID; zerosRE.MatchString(id) {
			ps = append(ps, e.problem("load_balancer.cognito.user_pool_client_id", "%s is a placeholder app client id (a run of zeros); put the id of the pool's app client for the ALB (aws cognito-idp list-user-pool-clients --user-pool-id <pool id>)", id))
		}
	}
	sortProblems(ps)
	return ps
}

// exampleMailDomain returns the reserved or sample domain of addr, "" when it has none.
func exampleMailDomain(addr string) string {
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return ""
	}
	d := strings.ToLower(addr[at+1:])
	for _, x := range exampleDomains {
		if d == x || strings.HasSuffix(d, "."+x) {
			return x
		}
	}
	for _, t := range exampleTLDs {
		if strings.HasSuffix(d, t) {
			return "reserved top-level domain " + t
		}
	}
	return ""
}
