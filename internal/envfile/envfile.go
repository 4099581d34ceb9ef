// Package envfile reads and validates environments/env.<name>.yaml, the one file an operator
// edits per environment (docs/environments.md). Every problem names file, line and field.
package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/cso-ssp/platform/internal/userfile"
)

// Env is one environment file. Optional keys are pointers or zero values; use the accessor
// methods (Count, InstanceType, ...) which apply the LLD's defaults.
type Env struct {
	// Name is the environment name, taken from the file name env.<name>.yaml.
	Name string `yaml:"-"`
	// Path is the file the environment was read from.
	Path string `yaml:"-"`

	Prod                  bool          `yaml:"prod"`
	HA                    bool          `yaml:"ha"`
	VPCName               string        `yaml:"vpc_name"`
	VPCCIDR               string        `yaml:"vpc_cidr"`
	Region                string        `yaml:"region"`
	AccountID             string        `yaml:"account_id"`
	AvailabilityZones     []string      `yaml:"availability_zones"`
	DomainSuffix          string        `yaml:"domain_suffix"`
	JumpServerAccessCIDRs []string      `yaml:"jump_server_access_cidrs"`
	AdminEmail            string        `yaml:"admin_email"`
	State                 State         `yaml:"state"`
	LoadBalancer          *LoadBalancer `yaml:"load_balancer"`
	Counts                Counts        `yaml:"counts"`
	InstanceTypes         InstanceTypes `yaml:"instance_types"`
	Database              Database      `yaml:"database"`
	Application           Application   `yaml:"application"`
	Logs                  Logs          `yaml:"logs"`
	Keystone              Keystone      `yaml:"keystone"`
	Backup                Backup        `yaml:"backup"`

	// present records which keys the file set (dotted paths), so validation can tell
	// "missing" from "false"/"0".
	present map[string]bool
	file    *ast.File
}

// State is the Terraform S3 backend with DynamoDB locking (LLD 7.3).
type State struct {
	// Backend is "s3" (default) or "local" (a state file at Path, for trials and tests).
	Backend string `yaml:"backend"`
	Path    string `yaml:"path"`
	// Bucket may be left out: Env.StateBucket then gives cso-terraform-state-<account>-<region>.
	Bucket        string `yaml:"bucket"`
	Key           string `yaml:"key"`
	DynamoDBTable string `yaml:"dynamodb_table"`
	Region        string `yaml:"region"`
}

// LoadBalancer holds what the HA internet-facing ALB needs.
type LoadBalancer struct {
	CertificateARN string  `yaml:"certificate_arn"`
	Cognito        Cognito `yaml:"cognito"`
}

// Cognito is the ALB's authenticate_cognito action (LLD 5.1).
type Cognito struct {
	UserPoolARN      string `yaml:"user_pool_arn"`
	UserPoolClientID string `yaml:"user_pool_client_id"`
	UserPoolDomain   string `yaml:"user_pool_domain"`
}

// Counts overrides the number of hosts per role.
type Counts struct {
	Frontend *int `yaml:"frontend"`
	Backend  *int `yaml:"backend"`
	Keystone *int `yaml:"keystone"`
	RabbitMQ *int `yaml:"rabbitmq"`
}

// InstanceTypes overrides the LLD sizing tables per role.
type InstanceTypes struct {
	Frontend string `yaml:"frontend"`
	Backend  string `yaml:"backend"`
	Keystone string `yaml:"keystone"`
	RabbitMQ string `yaml:"rabbitmq"`
	Jump     string `yaml:"jump"`
}

// Database overrides RDS settings.
type Database struct {
	EngineVersion string `yaml:"engine_version"`
	InstanceClass string `yaml:"instance_class"`
}

// Application says where the CSO application package is.
type Application struct {
	Package string `yaml:"package"`
}

// Logs sets how long CloudWatch Logs keeps the hosts' shipped logs.
type Logs struct {
	RetentionDays *int `yaml:"retention_days"`
}

// Backup is the schedule of `cso backup`, run by the jump server's agent timer, and how
// many backups are kept; BackupSettings applies the defaults.
type Backup struct {
	IntervalHours  *int `yaml:"interval_hours"`
	RetentionCount *int `yaml:"retention_count"`
	RetentionDays  *int `yaml:"retention_days"`
}

// Keystone sets Keystone's policy enforcement and password rules (keystone.conf
// [oslo_policy] and [security_compliance]), the token lifetime ([token] expiration) and the
// fernet and credential rotation schedules; KeystoneSettings applies the defaults.
type Keystone struct {
	EnforceScope       *bool              `yaml:"enforce_scope"`
	EnforceNewDefaults *bool              `yaml:"enforce_new_defaults"`
	SecurityCompliance SecurityCompliance `yaml:"security_compliance"`
	// TokenExpiration is a duration such as "1h" (keystone.conf [token] expiration).
	TokenExpiration    *string            `yaml:"token_expiration"`
	FernetRotation     FernetRotation     `yaml:"fernet_rotation"`
	CredentialRotation CredentialRotation `yaml:"credential_rotation"`
}

// CredentialRotation is the schedule of the credential key rotation that the first
// Keystone node's agent runs (rotate, every node installs, then credential_migrate).
type CredentialRotation struct {
	// Interval is a duration such as "720h": the age of the primary credential key at which
	// the scheduled run rotates.
	Interval *string `yaml:"interval"`
}

// FernetRotation is the schedule of the fernet key rotation that the first Keystone node's
// agent runs; [fernet_tokens] max_active_keys is derived from it and the token lifetime.
type FernetRotation struct {
	// Interval is a duration such as "24h": the age of the primary key at which the
	// scheduled run rotates.
	Interval *string `yaml:"interval"`
}

// SecurityCompliance is keystone.conf's [security_compliance] as the file may set it.
type SecurityCompliance struct {
	LockoutFailureAttempts   *int    `yaml:"lockout_failure_attempts"`
	LockoutDuration          *int    `yaml:"lockout_duration"`
	UniqueLastPasswordCount  *int    `yaml:"unique_last_password_count"`
	MinimumPasswordAge       *int    `yaml:"minimum_password_age"`
	PasswordRegex            *string `yaml:"password_regex"`
	PasswordRegexDescription *string `yaml:"password_regex_description"`
}

// Problem is one thing wrong with an environment file.
type Problem struct {
	File    string
	Line    int // 0 when the field is missing altogether
	Column  int
	Field   string // dotted path, e.g. "state.bucket" or "availability_zones[1]"
	Message string // what is wrong and what is expected
}

// String is file:line:col: field: message, with control and bidirectional characters
// that came from the file escaped (userfile.Escape) so that a message cannot rewrite the
// operator's terminal.
func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
	if p.Field == "" {
		return userfile.Escape(fmt.Sprintf("%s: %s", loc, p.Message))
	}
	return userfile.Escape(fmt.Sprintf("%s: %s: %s", loc, p.Field, p.Message))
}

// Escaped returns p with its text fields escaped as String does (for JSON output).
func (p Problem) Escaped() Problem {
	p.File, p.Field, p.Message = userfile.Escape(p.File), userfile.Escape(p.Field), userfile.Escape(p.Message)
	return p
}

// Problems is the error returned when a file is invalid: every problem found, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// NameFromPath returns <name> for a path ending in env.<name>.yaml, or "" when it does not.
func NameFromPath(path string) string {
	base := filepath.Base(path)
	if !strings.HasPrefix(base, "env.") {
		return ""
	}
	for _, ext := range []string{".yaml", ".yml"} {
		if strings.HasSuffix(base, ext) {
			return strings.TrimSuffix(strings.TrimPrefix(base, "env."), ext)
		}
	}
	return ""
}

// PathFor returns the file of environment name in dir.
func PathFor(dir, name string) string { return filepath.Join(dir, "env."+name+".yaml") }

// Load reads, decodes and validates path. The error is Problems when the file is invalid.
// Only a regular file (symlinks followed) of at most MaxFileSize bytes is read.
func Load(path string) (*Env, error) {
	data, err := userfile.Read(path, MaxFileSize)
	if errors.Is(err, userfile.ErrTooLarge) {
		return nil, Problems{tooLarge(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("read environment file: %w", err)
	}
	return Parse(path, data)
}

// MaxFileSize bounds an environment file: the real ones are under 1 KiB, so 64 KiB leaves
// room for comments while keeping hostile input small.
const MaxFileSize = 64 << 10

func tooLarge(path string) Problem {
	return Problem{File: path, Message: fmt.Sprintf("larger than %s: an environment file is a few dozen lines", userfile.Size(MaxFileSize))}
}

// Parse decodes and validates data read from path (path is used for the name and messages).
// Before the YAML is parsed, the size is bounded and anchors, aliases and deep nesting are
// refused (userfile.CheckYAML); a leading UTF-8 byte-order mark is ignored.
func Parse(path string, data []byte) (*Env, error) {
	if len(data) > MaxFileSize {
		return nil, Problems{tooLarge(path)}
	}
	data = userfile.StripBOM(data)
	if yerr := userfile.CheckYAML(data, userfile.MaxYAMLDepth); yerr != nil {
		return nil, Problems{{File: path, Line: yerr.Line, Column: yerr.Column, Message: yerr.Message}}
	}
	env, err := decode(path, data)
	if err != nil {
		return nil, err
	}
	if ps := env.Validate(); len(ps) > 0 {
		return env, ps
	}
	return env, nil
}

// decode parses the YAML strictly (unknown keys are errors) and keeps the AST for positions.
// A panic in the YAML library on hostile input becomes a Problem: validation never crashes.
func decode(path string, data []byte) (env *Env, err error) {
	defer func() {
		if r := recover(); r != nil {
			env, err = nil, Problems{{File: path, Message: fmt.Sprintf("could not parse the file as YAML (%v); check its syntax", r)}}
		}
	}()
	env = &Env{Path: path, Name: NameFromPath(path), present: map[string]bool{}}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{yamlProblem(path, nil, err)}
	}
	env.file = file
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, Problems{{File: path, Message: "expected exactly one YAML document with the environment's keys"}}
	}
	if _, ok := file.Docs[0].Body.(ast.MapNode); !ok {
		tk := file.Docs[0].Body.GetToken()
		return nil, Problems{{File: path, Line: tk.Position.Line, Column: tk.Position.Column,
			Message: "expected a mapping of keys (prod, ha, vpc_cidr, ...) at the top level"}}
	}
	collectPresent(file.Docs[0].Body, "", env.present)
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(env); err != nil {
		return nil, Problems{yamlProblem(path, file, err)}
	}
	return env, nil
}

// collectPresent records the dotted path of every mapping key in the document.
func collectPresent(n ast.Node, prefix string, out map[string]bool) {
	m, ok := n.(ast.MapNode)
	if !ok {
		return
	}
	it := m.MapRange()
	for it.Next() {
		key := it.Key().GetToken().Value
		p := key
		if prefix != "" {
			p = prefix + "." + key
		}
		out[p] = true
		collectPresent(it.Value(), p, out)
	}
}

// yamlProblem turns a goccy/go-yaml error into a Problem with the position it carries and,
// when the AST is known, the dotted field at that position.
func yamlProblem(path string, file *ast.File, err error) Problem {
	p := Problem{File: path, Message: err.Error()}
	var se yaml.Error
	if errors.As(err, &se) {
		if tk := se.GetToken(); tk != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
		p.Message = cleanYAMLMessage(se.GetMessage())
	}
	if file != nil && p.Line > 0 && len(file.Docs) == 1 {
		p.Field = fieldAt(file.Docs[0].Body, "", p.Line, p.Column)
	}
	return p
}

var unmarshalRE = regexp.MustCompile(`^cannot unmarshal (\S+) into Go (?:struct field \S+|value) of type (\S+)$`)

// goTypes names Go types in the words of the file's schema.
var goTypes = map[string]string{
	"bool": "true or false", "int": "a whole number", "*int": "a whole number", "string": "text",
	"[]string": "a list of text values",
}

func cleanYAMLMessage(msg string) string {
	// goccy reports `unknown field "x"`; say what to do about it.
	if strings.HasPrefix(msg, "unknown field") {
		return msg + ": not a key of an environment file (see docs/environments.md); check the spelling"
	}
	if m := unmarshalRE.FindStringSubmatch(msg); m != nil {
		want, ok := goTypes[m[2]]
		if !ok {
			want = "a mapping of keys"
		}
		return fmt.Sprintf("expected %s, found a %s value", want, m[1])
	}
	if strings.Contains(msg, "was used where mapping is expected") {
		return msg + " (this key holds sub-keys; see docs/environments.md)"
	}
	return msg
}

// fieldAt returns the dotted path of the key or value at line:col ("" when none).
func fieldAt(n ast.Node, prefix string, line, col int) string {
	switch m := n.(type) {
	case ast.MapNode:
		it := m.MapRange()
		for it.Next() {
			key := it.Key().GetToken().Value
			p := key
			if prefix != "" {
				p = prefix + "." + key
			}
			if at(it.Key(), line, col) || at(it.Value(), line, col) {
				return p
			}
			if f := fieldAt(it.Value(), p, line, col); f != "" {
				return f
			}
		}
	case *ast.SequenceNode:
		for i, v := range m.Values {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			if at(v, line, col) {
				return p
			}
			if f := fieldAt(v, p, line, col); f != "" {
				return f
			}
		}
	}
	return ""
}

func at(n ast.Node, line, col int) bool {
	if n == nil || n.GetToken() == nil {
		return false
	}
	pos := n.GetToken().Position
	return pos.Line == line && pos.Column == col
}

// Has reports whether the file set the dotted key path.
func (e *Env) Has(path string) bool { return e.present[path] }

// Position returns the line and column of the dotted path (YAMLPath syntax without "$."),
// for example "vpc_cidr" or "availability_zones[1]"; 0, 0 when it is not in the file.
func (e *Env) Position(field string) (line, col int) {
	if e.file == nil {
		return 0, 0
	}
	p, err := yaml.PathString("$." + field)
	if err != nil {
		return 0, 0
	}
	n, err := p.FilterFile(e.file)
	if err != nil || n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	return tk.Position.Line, tk.Position.Column
}

// problem builds a Problem for field with its position in the file.
func (e *Env) problem(field, format string, args ...any) Problem {
	line, col := e.Position(field)
	return Problem{File: e.Path, Line: line, Column: col, Field: field, Message: fmt.Sprintf(format, args...)}
}

// sortProblems orders problems by line so the operator reads them top to bottom; missing
// fields (line 0) come last.
func sortProblems(ps Problems) {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if li == 0 {
			li = 1 << 30
		}
		if lj == 0 {
			lj = 1 << 30
		}
		return li < lj
	})
}
