package iampolicy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Principal is who makes a request: an IAM role session (Account and ARNs: the role ARN
// and the assumed-role session ARN) or an AWS service (Service, e.g. logs.amazonaws.com).
type Principal struct {
	Account string
	ARNs    []string
	Service string
}

// Request is one API call to decide.
type Request struct {
	Principal Principal
	Action    string // e.g. s3:GetObject
	Resource  string // ARN
	// Context holds the request's condition keys (case-insensitive) and their values.
	// Keys the request does not carry are absent, as in AWS.
	Context map[string][]string
}

// Input is every policy that applies to a request.
type Input struct {
	// Identity is the policies attached to the principal (managed and inline).
	Identity []*Policy
	// Resource is the resource's policy (bucket, key, file system, secret), or nil.
	Resource *Policy
	// ResourceAccount owns the resource; "" means the principal's account.
	ResourceAccount string
	// KeyPolicy says Resource is a KMS key policy: it must allow, directly or by
	// granting the key's account (which lets identity policies decide).
	KeyPolicy bool
}

// Decision is the outcome of an evaluation.
type Decision int

const (
	ImplicitDeny Decision = iota // nothing allows
	Allow
	ExplicitDeny // a Deny statement applies
)

func (d Decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

// Evaluate decides a request. Every statement is evaluated, so that an error anywhere
// (an unknown key, an operator misuse) is reported even when a Deny already decided.
func Evaluate(req Request, in Input) (Decision, error) {
	r := newRequest(req)
	if in.KeyPolicy && in.Resource == nil {
		return ImplicitDeny, fmt.Errorf("a KMS key always has a key policy: none given for %s", req.Resource)
	}
	denied, identityAllow, direct, delegated := false, false, false, false
	for _, p := range in.Identity {
		for i, st := range p.Statements {
			if st.Principal != nil || st.NotPrincipal != nil {
				return ImplicitDeny, fmt.Errorf("%s: Statement[%d]: an identity policy has no Principal", p.Name, i)
			}
			ok, err := st.applies(r, p.Version)
			if err != nil {
				return ImplicitDeny, fmt.Errorf("%s: Statement[%d] %s: %w", p.Name, i, st.Sid, err)
			}
			if ok && st.Effect == "Deny" {
				denied = true
			} else if ok {
				identityAllow = true
			}
		}
	}
	if p := in.Resource; p != nil {
		for i, st := range p.Statements {
			if st.Principal == nil && st.NotPrincipal == nil {
				return ImplicitDeny, fmt.Errorf("%s: Statement[%d]: a resource policy statement needs Principal or NotPrincipal", p.Name, i)
			}
			ok, err := st.applies(r, p.Version)
			if err != nil {
				return ImplicitDeny, fmt.Errorf("%s: Statement[%d] %s: %w", p.Name, i, st.Sid, err)
			}
			if !ok {
				continue
			}
			d, acct := st.principalMatch(req.Principal)
			switch {
			case !d && !acct:
			case st.Effect == "Deny":
				// A Deny naming the account applies to every principal of it.
				denied = true
			case d:
				direct = true
			default:
				delegated = true
			}
		}
	}
	switch {
	case denied:
		return ExplicitDeny, nil
	case in.KeyPolicy:
		if direct || delegated && identityAllow {
			return Allow, nil
		}
	case in.ResourceAccount == "" || in.ResourceAccount == req.Principal.Account:
		// Same account: the union of identity and resource policies. A resource policy
		// that names only the account delegates to IAM, which identityAllow covers.
		if identityAllow || direct {
			return Allow, nil
		}
	default:
		if identityAllow && (direct || delegated) {
			return Allow, nil
		}
	}
	return ImplicitDeny, nil
}

// applies says whether the statement's action, resource and conditions match (not the
// principal).
func (st Statement) applies(r *request, version string) (bool, error) {
	vars := version == "2012-10-17"
	if st.Action != nil && !anyGlob(st.Action, r.Action) || st.NotAction != nil && anyGlob(st.NotAction, r.Action) {
		return false, nil
	}
	list, positive := st.Resource, true
	if list == nil {
		list, positive = st.NotResource, false
	}
	hit := false
	for _, pat := range list {
		p, ok, err := substitute(pat, r, vars, true)
		if err != nil {
			return false, fmt.Errorf("resource %q: %w", pat, err)
		}
		if ok && arnMatch(p, r.Resource) {
			hit = true
			break
		}
	}
	if hit != positive {
		return false, nil
	}
	for _, c := range st.Conditions {
		ok, err := c.eval(r, vars)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

var rootARN = regexp.MustCompile(`^arn:[a-z-]+:iam::([0-9]{12}):root$`)

// principalMatch says whether the statement's principal covers p directly (its ARN, its
// service, or "*") or only through p's account (which delegates to identity policies).
func (st Statement) principalMatch(p Principal) (direct, account bool) {
	if st.Principal != nil {
		return st.Principal.match(p)
	}
	// NotPrincipal excludes a role session only when it names one of its ARNs and its
	// account, as AWS asks of a Deny with NotPrincipal; anything less still applies.
	n := st.NotPrincipal
	d, a := n.match(p)
	if n.All || p.Service != "" && d || p.Service == "" && d && a {
		return false, false
	}
	return true, false
}

func (ps *Principals) match(p Principal) (direct, account bool) {
	if ps.All {
		return true, false
	}
	for _, s := range ps.Service {
		if p.Service != "" && s == p.Service {
			direct = true
		}
	}
	for _, id := range ps.AWS {
		for _, a := range p.ARNs {
			if id == a {
				direct = true
			}
		}
		if p.Account != "" && (id == p.Account || rootARN.FindStringSubmatch(id) != nil && rootARN.FindStringSubmatch(id)[1] == p.Account) {
			account = true
		}
	}
	return direct, account
}

// request is a Request with its context keys folded to lower case.
type request struct {
	Request
	ctx map[string][]string
}

func newRequest(r Request) *request {
	x := &request{Request: r, ctx: map[string][]string{}}
	for k, v := range r.Context {
		l := strings.ToLower(k)
		x.ctx[l] = append(x.ctx[l], v...)
	}
	return x
}

func (r *request) lookup(key string) ([]string, bool) {
	v, ok := r.ctx[strings.ToLower(key)]
	return v, ok && len(v) > 0
}

// Literal wildcard characters (from ${*}, ${?} or a variable's value) travel through
// patterns as these private-use runes, so that the glob does not expand them.
const (
	litStar     = '\uE000'
	litQuestion = '\uE001'
)

var unliteral = strings.NewReplacer(string(litStar), "*", string(litQuestion), "?")
var literal = strings.NewReplacer("*", string(litStar), "?", string(litQuestion))

var variableRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute replaces the policy variables of s (only in 2012-10-17 policies). ok is false
// when a variable's key is absent from the request: the value then matches nothing.
// When pattern is true the result is a glob pattern (literal wildcards encoded);
// otherwise a plain string.
func substitute(s string, r *request, vars, pattern bool) (string, bool, error) {
	if !vars || !strings.Contains(s, "${") {
		return s, true, nil
	}
	ok := true
	var err error
	out := variableRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		switch name {
		case "*":
			return string(litStar)
		case "?":
			return string(litQuestion)
		case "$":
			return "$"
		}
		if strings.Contains(name, ",") {
			err = fmt.Errorf("policy variable %s: default values are not supported", m)
			return m
		}
		if !knownKey(name) {
			err = fmt.Errorf("unknown policy variable %s", m)
			return m
		}
		v, present := r.lookup(name)
		if !present {
			ok = false
			return ""
		}
		if len(v) != 1 {
			err = fmt.Errorf("policy variable %s: the request has %d values", m, len(v))
			return m
		}
		return literal.Replace(v[0])
	})
	if err != nil {
		return "", false, err
	}
	if !pattern {
		out = unliteral.Replace(out)
	}
	return out, ok, nil
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s, true) {
			return true
		}
	}
	return false
}

var globCache sync.Map // pattern (with case flag) -> *regexp.Regexp

// globMatch matches s against a pattern where * is any run of characters and ? any one
// character.
func globMatch(pattern, s string, ignoreCase bool) bool {
	key := pattern
	if ignoreCase {
		key = "i\x00" + pattern
	} else {
		key = "s\x00" + pattern
	}
	if re, ok := globCache.Load(key); ok {
		return re.(*regexp.Regexp).MatchString(s)
	}
	var b strings.Builder
	b.WriteString("(?s")
	if ignoreCase {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for _, c := range pattern {
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case litStar:
			b.WriteString(`\*`)
		case litQuestion:
			b.WriteString(`\?`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re := regexp.MustCompile(b.String())
	globCache.Store(key, re)
	return re.MatchString(s)
}

// arnMatch matches an ARN against an ARN pattern segment by segment (arn, partition,
// service, region, account, resource): a wildcard does not span the first five colons.
// A pattern that is not an ARN ("*") is matched as a whole.
func arnMatch(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	if len(pp) < 6 {
		return globMatch(pattern, arn, false)
	}
	ap := strings.SplitN(arn, ":", 6)
	if len(ap) < 6 {
		return false
	}
	for i := range pp {
		if !globMatch(pp[i], ap[i], false) {
			return false
		}
	}
	return true
}
