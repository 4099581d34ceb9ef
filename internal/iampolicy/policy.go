// Package iampolicy evaluates AWS policy documents (identity policies and the resource
// policies of S3 buckets, KMS keys, EFS file systems and Secrets Manager secrets) for one
// request, as AWS documents it:
//
//   - IAM policy evaluation logic: an explicit Deny in any policy wins; within one account
//     an Allow in the identity policies OR in the resource policy allows
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html);
//     across accounts both must allow
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
//   - KMS: the key policy must allow, directly or by granting the key's account, which
//     enables IAM policies; without it IAM policies that allow have no effect
//     (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html).
//   - Condition operators, their case rules, missing keys, ...IfExists, Null and the
//     ForAnyValue/ForAllValues set operators
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
//
// It is the proof tool of test/terraform's access matrix, so it refuses rather than
// guesses: an operator or condition key it does not know, a wildcard in a principal, a
// single-valued operator given several request values, Principal in an identity policy
// or no Principal in a resource policy are errors, never a silent allow or deny.
// Not modelled: SCPs/RCPs, permission boundaries, session policies, KMS grants, ACLs,
// and the numeric, date, IP and binary operators (none is used in this repository).
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Policy is one parsed policy document.
type Policy struct {
	// Name says where the policy came from, for error messages.
	Name       string
	Version    string
	Statements []Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid                   string
	Effect                string // "Allow" or "Deny"
	Action, NotAction     []string
	Resource, NotResource []string
	// Principal and NotPrincipal are nil when the element is absent.
	Principal, NotPrincipal *Principals
	Conditions              []Condition
}

// Principals is the value of a Principal or NotPrincipal element.
type Principals struct {
	All     bool // "*" or {"AWS": "*"}
	AWS     []string
	Service []string
	Other   []string // Federated, CanonicalUser: never match a role session
}

// Condition is one operator/key pair of a Condition block with its policy values.
type Condition struct {
	Operator string
	Key      string
	Values   []string
	op       operator
}

// Parse decodes a policy document. name is used in errors (a resource address).
func Parse(name string, doc []byte) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: policy is not a JSON object: %w", name, err)
	}
	p := &Policy{Name: name}
	for k, v := range raw {
		switch k {
		case "Version":
			s, ok := v.(string)
			if !ok || (s != "2012-10-17" && s != "2008-10-17") {
				return nil, fmt.Errorf("%s: Version %v: want 2012-10-17 or 2008-10-17", name, v)
			}
			p.Version = s
		case "Id":
		case "Statement":
			var list []any
			switch s := v.(type) {
			case []any:
				list = s
			case map[string]any:
				list = []any{s}
			default:
				return nil, fmt.Errorf("%s: Statement is neither a list nor an object", name)
			}
			for i, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: Statement[%d] is not an object", name, i)
				}
				st, err := parseStatement(m)
				if err != nil {
					return nil, fmt.Errorf("%s: Statement[%d]: %w", name, i, err)
				}
				p.Statements = append(p.Statements, st)
			}
		default:
			return nil, fmt.Errorf("%s: unknown policy element %q", name, k)
		}
	}
	if len(p.Statements) == 0 {
		return nil, fmt.Errorf("%s: policy has no statement", name)
	}
	return p, nil
}

func parseStatement(m map[string]any) (Statement, error) {
	var st Statement
	var err error
	for k, v := range m {
		switch k {
		case "Sid":
			st.Sid, _ = v.(string)
		case "Effect":
			s, _ := v.(string)
			if s != "Allow" && s != "Deny" {
				return st, fmt.Errorf("element Effect %v: want Allow or Deny", v)
			}
			st.Effect = s
		case "Action":
			st.Action, err = stringList(k, v)
		case "NotAction":
			st.NotAction, err = stringList(k, v)
		case "Resource":
			st.Resource, err = stringList(k, v)
		case "NotResource":
			st.NotResource, err = stringList(k, v)
		case "Principal":
			st.Principal, err = parsePrincipals(k, v)
		case "NotPrincipal":
			st.NotPrincipal, err = parsePrincipals(k, v)
		case "Condition":
			st.Conditions, err = parseConditions(v)
		default:
			return st, fmt.Errorf("unknown statement element %q", k)
		}
		if err != nil {
			return st, err
		}
	}
	switch {
	case st.Effect == "":
		return st, fmt.Errorf("no Effect")
	case (st.Action == nil) == (st.NotAction == nil):
		return st, fmt.Errorf("exactly one of Action and NotAction is required")
	case (st.Resource == nil) == (st.NotResource == nil):
		return st, fmt.Errorf("exactly one of Resource and NotResource is required")
	case st.Principal != nil && st.NotPrincipal != nil:
		return st, fmt.Errorf("both Principal and NotPrincipal")
	}
	return st, nil
}

// stringList accepts a string or a list of strings (numbers and booleans spelled as JSON
// literals are accepted for condition values, as AWS does).
func stringList(field string, v any) ([]string, error) {
	scalar := func(e any) (string, bool) {
		switch x := e.(type) {
		case string:
			return x, true
		case bool:
			return fmt.Sprint(x), true
		case json.Number:
			return x.String(), true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("%s: want a string or a non-empty list of strings", field)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := scalar(e)
		if !ok {
			return nil, fmt.Errorf("%s: %v is not a string", field, e)
		}
		out = append(out, s)
	}
	return out, nil
}

func parsePrincipals(field string, v any) (*Principals, error) {
	if s, ok := v.(string); ok {
		if s != "*" {
			return nil, fmt.Errorf("%s %q: a string principal must be \"*\"", field, s)
		}
		return &Principals{All: true}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want \"*\" or an object", field)
	}
	p := &Principals{}
	for k, e := range m {
		l, err := stringList(field+"."+k, e)
		if err != nil {
			return nil, err
		}
		for _, id := range l {
			// Only "*" on its own may be a wildcard in a principal.
			if id != "*" && strings.ContainsAny(id, "*?") {
				return nil, fmt.Errorf("%s.%s %q: wildcards are not allowed in a principal", field, k, id)
			}
		}
		switch k {
		case "AWS":
			for _, id := range l {
				if id == "*" {
					p.All = true
				}
			}
			p.AWS = append(p.AWS, l...)
		case "Service":
			p.Service = append(p.Service, l...)
		case "Federated", "CanonicalUser":
			p.Other = append(p.Other, l...)
		default:
			return nil, fmt.Errorf("%s: unknown principal type %q", field, k)
		}
	}
	return p, nil
}

func parseConditions(v any) ([]Condition, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Condition: want an object")
	}
	var out []Condition
	for opName, keys := range m {
		op, err := parseOperator(opName)
		if err != nil {
			return nil, fmt.Errorf("Condition: %w", err)
		}
		km, ok := keys.(map[string]any)
		if !ok || len(km) == 0 {
			return nil, fmt.Errorf("element Condition.%s: want an object of condition keys", opName)
		}
		for key, vals := range km {
			if !knownKey(key) {
				return nil, fmt.Errorf("element Condition.%s: unknown condition key %q", opName, key)
			}
			l, err := stringList("Condition."+opName+"."+key, vals)
			if err != nil {
				return nil, err
			}
			if op.fam == famBool || op.fam == famNull {
				for _, v := range l {
					if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
						return nil, fmt.Errorf("element Condition.%s.%s: value %q is not true or false", opName, key, v)
					}
				}
			}
			out = append(out, Condition{Operator: opName, Key: key, Values: l, op: op})
		}
	}
	return out, nil
}
