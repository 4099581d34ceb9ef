package terraform_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	tfjson "github.com/hashicorp/terraform-json"
)

// res is one resource instance of the applied state.
type res struct {
	Address string
	Type    string
	Module  string // e.g. module.networking
	Name    string
	Key     any // for_each key (string) or count index (float64), nil when single
	V       map[string]any
	// DependsOn is what Terraform recorded this resource depends on: resource addresses
	// (no instance key), references resolved through variables, outputs and locals.
	DependsOn []string
}

// str returns attribute name as a string ("" when absent or null).
func (r res) str(name string) string {
	s, _ := r.V[name].(string)
	return s
}

func (r res) num(name string) float64 {
	f, _ := r.V[name].(float64)
	return f
}

func (r res) boolean(name string) bool {
	b, _ := r.V[name].(bool)
	return b
}

// block returns the first element of a nested block (list of one object), or nil.
func (r res) block(name string) map[string]any { return firstObj(r.V[name]) }

func firstObj(v any) map[string]any {
	switch b := v.(type) {
	case []any:
		if len(b) > 0 {
			m, _ := b[0].(map[string]any)
			return m
		}
	case map[string]any:
		return b
	}
	return nil
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func sortedCopy(ss []string) []string {
	c := append([]string(nil), ss...)
	sort.Strings(c)
	return c
}

// estate indexes an applied state for the assertions.
type estate struct {
	all     []res
	byAddr  map[string]res
	outputs map[string]any
	// deps is Terraform's recorded dependencies of every resource, managed and data, by
	// resource address without instance key (module.compute.aws_instance.this).
	deps map[string][]string
}

func indexState(t *testing.T, st *tfjson.State) *estate {
	t.Helper()
	if st == nil || st.Values == nil || st.Values.RootModule == nil {
		t.Fatal("state has no values: apply did not record anything")
	}
	e := &estate{byAddr: map[string]res{}, outputs: map[string]any{}, deps: map[string][]string{}}
	var walk func(m *tfjson.StateModule)
	walk = func(m *tfjson.StateModule) {
		for _, r := range m.Resources {
			addr := r.Type + "." + r.Name
			if r.Mode == tfjson.DataResourceMode {
				addr = "data." + addr
			}
			if m.Address != "" {
				addr = m.Address + "." + addr
			}
			e.deps[addr] = append(e.deps[addr], r.DependsOn...)
			if r.Mode != tfjson.ManagedResourceMode {
				continue
			}
			v, _ := normalize(r.AttributeValues).(map[string]any)
			x := res{Address: r.Address, Type: r.Type, Module: m.Address, Name: r.Name, Key: normalize(r.Index), V: v, DependsOn: r.DependsOn}
			e.all = append(e.all, x)
			e.byAddr[r.Address] = x
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(st.Values.RootModule)
	for k, o := range st.Values.Outputs {
		e.outputs[k] = normalize(o.Value)
	}
	return e
}

// normalize turns the json.Number values terraform-json decodes into float64, so
// assertions compare plain Go values.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// of returns the instances of one resource (module address + type + name), by key.
func (e *estate) of(module, typ, name string) map[string]res {
	out := map[string]res{}
	for _, r := range e.all {
		if r.Module == module && r.Type == typ && r.Name == name {
			out[fmt.Sprint(keyOrEmpty(r.Key))] = r
		}
	}
	return out
}

// dependsOn is every resource addr depends on, directly or through other resources.
func (e *estate) dependsOn(addr string) map[string]bool {
	seen := map[string]bool{}
	todo := []string{addr}
	for len(todo) > 0 {
		a := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, d := range e.deps[a] {
			if !seen[d] {
				seen[d] = true
				todo = append(todo, d)
			}
		}
	}
	return seen
}

// hostInstances returns every host's EC2 instance by host name: the jump server
// (aws_instance.jump) and the others (aws_instance.this).
func (e *estate) hostInstances() map[string]res {
	out := e.of("module.compute", "aws_instance", "this")
	for k, r := range e.of("module.compute", "aws_instance", "jump") {
		out[k] = r
	}
	return out
}

func keyOrEmpty(k any) any {
	if k == nil {
		return ""
	}
	return k
}

// one returns the single instance of a resource and fails when there is not exactly one.
func (e *estate) one(t *testing.T, module, typ, name string) res {
	t.Helper()
	m := e.of(module, typ, name)
	if len(m) != 1 {
		t.Fatalf("want exactly one %s.%s.%s, state has %d", module, typ, name, len(m))
	}
	for _, r := range m {
		return r
	}
	return res{}
}

func (e *estate) countType(typ string) int {
	n := 0
	for _, r := range e.all {
		if r.Type == typ {
			n++
		}
	}
	return n
}

// sgNames maps security group id -> key (name without the "<env>-" prefix, "-" as "_").
func (e *estate) sgNames(env string) map[string]string {
	out := map[string]string{}
	for _, r := range e.of("module.security", "aws_security_group", "this") {
		out[r.str("id")] = strings.ReplaceAll(strings.TrimPrefix(r.str("name"), env+"-"), "-", "_")
	}
	return out
}

// envFile is the part of an environment file the tests read directly.
type envFile struct {
	Prod                  bool     `yaml:"prod"`
	HA                    bool     `yaml:"ha"`
	VPCName               string   `yaml:"vpc_name"`
	VPCCIDR               string   `yaml:"vpc_cidr"`
	Region                string   `yaml:"region"`
	AccountID             string   `yaml:"account_id"`
	AvailabilityZones     []string `yaml:"availability_zones"`
	DomainSuffix          string   `yaml:"domain_suffix"`
	JumpServerAccessCIDRs []string `yaml:"jump_server_access_cidrs"`
	AdminEmail            string   `yaml:"admin_email"`
	LoadBalancer          *struct {
		CertificateARN string `yaml:"certificate_arn"`
		Cognito        struct {
			UserPoolARN      string `yaml:"user_pool_arn"`
			UserPoolClientID string `yaml:"user_pool_client_id"`
			UserPoolDomain   string `yaml:"user_pool_domain"`
		} `yaml:"cognito"`
	} `yaml:"load_balancer"`
}

func readEnvFile(t *testing.T, path string) envFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read environment file: %v", err)
	}
	var e envFile
	if err := yaml.Unmarshal(data, &e); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return e
}

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", wd, err)
	}
	return root
}

// stackDir is the root stack under test: terraform/, or $CSO_TERRAFORM_STACK (a modified
// copy, e.g. to check that a broken stack makes these tests fail).
func stackDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("CSO_TERRAFORM_STACK"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "terraform")
}

func envFilePath(t *testing.T, env string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "environments", "env."+env+".yaml")
}

// policyDoc decodes an IAM/resource policy JSON string.
type policyDoc struct {
	Statement []map[string]any
}

func decodePolicy(t *testing.T, what, s string) policyDoc {
	t.Helper()
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatalf("%s: policy is not JSON: %v\n%s", what, err, s)
	}
	var p policyDoc
	if err := json.Unmarshal(raw.Statement, &p.Statement); err != nil {
		var one map[string]any
		if err2 := json.Unmarshal(raw.Statement, &one); err2 != nil {
			t.Fatalf("%s: Statement is neither list nor object: %v", what, err)
		}
		p.Statement = []map[string]any{one}
	}
	return p
}

func asList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		return strs(x)
	}
	return nil
}
