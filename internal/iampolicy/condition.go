package iampolicy

import (
	"fmt"
	"strings"
)

// family is the kind of comparison of an operator.
type family int

const (
	famString family = iota
	famStringIgnoreCase
	famStringLike
	famArn
	famBool
	famNull
)

type operator struct {
	fam      family
	negated  bool
	ifExists bool
	set      string // "", "ForAnyValue", "ForAllValues"
}

// baseOperators are the operators this evaluator implements. The numeric, date, IP and
// binary operators are not used in this repository: they are errors, not guesses.
var baseOperators = map[string]operator{
	"StringEquals":              {fam: famString},
	"StringNotEquals":           {fam: famString, negated: true},
	"StringEqualsIgnoreCase":    {fam: famStringIgnoreCase},
	"StringNotEqualsIgnoreCase": {fam: famStringIgnoreCase, negated: true},
	"StringLike":                {fam: famStringLike},
	"StringNotLike":             {fam: famStringLike, negated: true},
	// ArnEquals and ArnLike behave alike: segment-wise, case-sensitive, with wildcards.
	"ArnEquals":    {fam: famArn},
	"ArnLike":      {fam: famArn},
	"ArnNotEquals": {fam: famArn, negated: true},
	"ArnNotLike":   {fam: famArn, negated: true},
	"Bool":         {fam: famBool},
	"Null":         {fam: famNull},
}

func parseOperator(name string) (operator, error) {
	rest := name
	set := ""
	for _, p := range []string{"ForAnyValue:", "ForAllValues:"} {
		if strings.HasPrefix(rest, p) {
			set = strings.TrimSuffix(p, ":")
			rest = strings.TrimPrefix(rest, p)
		}
	}
	ifExists := false
	if strings.HasSuffix(rest, "IfExists") {
		ifExists = true
		rest = strings.TrimSuffix(rest, "IfExists")
	}
	op, ok := baseOperators[rest]
	if !ok {
		return op, fmt.Errorf("unknown or unsupported condition operator %q", name)
	}
	if op.fam == famNull && (ifExists || set != "") {
		return op, fmt.Errorf("condition operator %q: Null takes no IfExists or set qualifier", name)
	}
	op.ifExists, op.set = ifExists, set
	return op, nil
}

// knownKeys are the condition keys (lower case) the evaluator accepts: the ones this
// repository's policies use, and the ones a per-host grant needs (aws:userid,
// ec2:SourceInstanceARN, aws:PrincipalTag/...). Any other key is an error, so that a
// policy using a key the test does not put into its requests fails loudly.
var knownKeys = map[string]bool{
	"aws:securetransport":                      true,
	"aws:sourceaccount":                        true,
	"aws:sourcearn":                            true,
	"aws:principalarn":                         true,
	"aws:principalaccount":                     true,
	"aws:principaltype":                        true,
	"aws:userid":                               true,
	"aws:username":                             true,
	"aws:requestedregion":                      true,
	"aws:viaawsservice":                        true,
	"aws:sourcevpc":                            true,
	"aws:sourcevpce":                           true,
	"ec2:sourceinstancearn":                    true,
	"elasticfilesystem:accesspointarn":         true,
	"elasticfilesystem:accessedviamounttarget": true,
	"kms:viaservice":                           true,
	"kms:calleraccount":                        true,
	"cloudwatch:namespace":                     true,
	"s3:prefix":                                true,
	"secretsmanager:secretid":                  true,
}

// knownKeyPrefixes are key families with a free-form suffix (tag keys, encryption
// context keys).
var knownKeyPrefixes = []string{
	"aws:principaltag/",
	"aws:resourcetag/",
	"aws:requesttag/",
	"secretsmanager:resourcetag/",
	"kms:encryptioncontext:",
}

func knownKey(k string) bool {
	l := strings.ToLower(k)
	if knownKeys[l] {
		return true
	}
	for _, p := range knownKeyPrefixes {
		if strings.HasPrefix(l, p) && len(l) > len(p) {
			return true
		}
	}
	return false
}

// eval decides one condition for a request. Policy values may hold policy variables.
func (c Condition) eval(req *request, vars bool) (bool, error) {
	ctxVals, present := req.lookup(c.Key)
	op := c.op
	if op.fam == famNull {
		want := strings.EqualFold(c.Values[0], "true")
		if len(c.Values) != 1 || (!want && !strings.EqualFold(c.Values[0], "false")) {
			return false, fmt.Errorf("operator Null on %s: value must be true or false", c.Key)
		}
		return want != present, nil
	}
	pvals, err := c.policyValues(req, vars)
	if err != nil {
		return false, err
	}
	matchOne := func(cv string) bool { return op.fam.matchesAny(pvals, cv) }
	switch op.set {
	case "ForAnyValue":
		if !present {
			return false, nil
		}
		for _, cv := range ctxVals {
			if matchOne(cv) != op.negated {
				return true, nil
			}
		}
		return false, nil
	case "ForAllValues":
		for _, cv := range ctxVals {
			if matchOne(cv) == op.negated {
				return false, nil
			}
		}
		return true, nil
	}
	if !present {
		// A missing key fails a positive operator and satisfies a negated one; IfExists
		// makes it pass either way.
		return op.ifExists || op.negated, nil
	}
	if len(ctxVals) != 1 {
		return false, fmt.Errorf("condition %s on %s: the request has %d values for this key: a multivalued key needs ForAnyValue or ForAllValues", c.Operator, c.Key, len(ctxVals))
	}
	return matchOne(ctxVals[0]) != op.negated, nil
}

// policyValue is one of a condition's values after variable substitution; ok is false when
// the request lacks its variable (it then matches nothing).
type policyValue struct {
	s  string
	ok bool
}

// policyValues are the condition's values with the request's policy variables substituted.
func (c Condition) policyValues(req *request, vars bool) ([]policyValue, error) {
	fam := c.op.fam
	pvals := make([]policyValue, 0, len(c.Values))
	for _, v := range c.Values {
		if fam == famBool && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return nil, fmt.Errorf("operator Bool on %s: value %q is not true or false", c.Key, v)
		}
		s, ok, err := substitute(v, req, vars && fam != famBool, fam == famStringLike || fam == famArn)
		if err != nil {
			return nil, err
		}
		pvals = append(pvals, policyValue{s, ok})
	}
	return pvals, nil
}

// matchesAny says whether one request value matches one of the policy values (in the
// positive sense: the caller applies negation and the set operators).
func (fam family) matchesAny(pvals []policyValue, cv string) bool {
	for _, pv := range pvals {
		if !pv.ok {
			continue
		}
		switch fam {
		case famString:
			if cv == pv.s {
				return true
			}
		case famStringIgnoreCase, famBool:
			if strings.EqualFold(cv, pv.s) {
				return true
			}
		case famStringLike:
			if globMatch(pv.s, cv, false) {
				return true
			}
		case famArn:
			if arnMatch(pv.s, cv) {
				return true
			}
		}
	}
	return false
}
