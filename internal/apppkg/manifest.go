// Package apppkg is the CSO application package: how the application (a separate
// product: the management UI, the portal UI and the 13 backend services of LLD 3.2.1) is
// delivered to the platform, checked, unpacked and run by the frontend and backend roles.
//
// A package is a gzip-compressed tar file. At its root, cso-app.yaml describes it:
//
//	name: cso-application
//	version: 2.4.1
//	requires: [java]           # runtimes the hosts install (java: a headless JRE)
//	bindings: [mysql, rabbitmq, keystone]  # platform services it uses (bindings.go)
//	services:
//	  - name: customers        # an LLD service name (3.1.2 and 3.2.1)
//	    role: backend          # frontend or backend
//	    port: 8090             # the LLD's port of that service
//	    command: [java, -jar, "${APP_DIR}/lib/customers.jar"]
//	    health_path: /health   # answers 200 when the service is healthy
//	    env: {JAVA_OPTS: "-Xmx512m"}
//
// Every other entry of the archive is a file of the application, unpacked below the
// host's application directory. In command and env values, ${APP_DIR} is that directory,
// ${PORT} the port the service must listen on (the LLD's port on AWS, shifted locally),
// ${BIND} the address to listen on and ${NAME} the service name.
package apppkg

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/userfile"
)

// ManifestName is the manifest's path inside a package.
const ManifestName = "cso-app.yaml"

// Manifest is cso-app.yaml.
type Manifest struct {
	Name     string   `yaml:"name"`
	Version  string   `yaml:"version"`
	Requires []string `yaml:"requires"`
	// Bindings are the platform services the application uses (Binding*): each service
	// receives their addresses and credentials (docs/application-packages.md).
	Bindings []string  `yaml:"bindings"`
	Services []Service `yaml:"services"`
	// NameLine is the manifest's line of name (0 when built in memory), for a refusal of
	// another application's package.
	NameLine int `yaml:"-"`
}

// NameProblem refuses a manifest whose application is not want ("" accepts any).
func (m *Manifest) NameProblem(file, manifest, want string) error {
	if want == "" || m.Name == want {
		return nil
	}
	return &Problems{File: file, Manifest: manifest, Problems: []Problem{{Field: "name", Line: m.NameLine,
		Message: fmt.Sprintf("the package is application %q, not %q", m.Name, want)}}}
}

// Service is one long-running process of the application.
type Service struct {
	Name       string            `yaml:"name"`
	Role       envfile.Role      `yaml:"role"`
	Port       int               `yaml:"port"`
	Command    []string          `yaml:"command"`
	HealthPath string            `yaml:"health_path"`
	Env        map[string]string `yaml:"env"`
}

// Runtimes a package may require.
const RuntimeJava = "java"

// FrontendServices are the frontend role's application services and their ports (LLD 3.1):
// nginx proxies /ui/management/ and /ui/portal/ to them.
var FrontendServices = map[string]string{
	"management-ui": inventory.PortManagementUI,
	"portal-ui":     inventory.PortPortalUI,
}

// LLDPort returns the LLD's port of service name in role, or 0 when the LLD has no such
// service.
func LLDPort(role envfile.Role, name string) int {
	switch role {
	case envfile.RoleBackend:
		return inventory.BackendServices[name]
	case envfile.RoleFrontend:
		if key, ok := FrontendServices[name]; ok {
			return map[string]int{inventory.PortManagementUI: 8080, inventory.PortPortalUI: 8202}[key]
		}
	}
	return 0
}

// PortKey returns the inventory port name of service s (what inventory.Host.Ports uses).
func (s Service) PortKey() string {
	if s.Role == envfile.RoleFrontend {
		return FrontendServices[s.Name]
	}
	return s.Name
}

// Problem is one thing wrong with a manifest.
type Problem struct {
	Field   string // e.g. services[3] (customers).port
	Message string
	// Line is the manifest's line of the field (or of its nearest enclosing key when the
	// field is missing); 0 when unknown (a manifest built in memory).
	Line int
}

// Problems is the error of an invalid manifest: every problem found.
type Problems struct {
	File     string // the package (or the directory cso app package reads)
	Manifest string // the manifest file's name as the reader should look for it
	Problems []Problem
}

// Error lists the problems, one a line, each with the manifest's file and line, with
// control and bidirectional characters that came from the manifest escaped
// (userfile.Escape).
func (p *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: invalid application package manifest:", userfile.Escape(p.File))
	manifest := p.Manifest
	if manifest == "" {
		manifest = ManifestName
	}
	for _, x := range p.Problems {
		loc := manifest
		if x.Line > 0 {
			loc = fmt.Sprintf("%s:%d", manifest, x.Line)
		}
		fmt.Fprintf(&b, "\n  %s: %s: %s", userfile.Escape(loc), userfile.Escape(x.Field), userfile.Escape(x.Message))
	}
	return b.String()
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	varRE     = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// Variables usable in command and env values.
var knownVars = []string{"APP_DIR", "PORT", "BIND", "NAME"}

// MaxManifestSize bounds cso-app.yaml: the fixture's 15 services take about 4 KiB, so
// 64 KiB leaves room for long commands and environments while keeping hostile input small.
const MaxManifestSize = 64 << 10

// ParseManifest decodes and validates cso-app.yaml; file names the package in errors,
// and every problem names its line of the manifest.
// Before the YAML is parsed, the size is bounded and anchors, aliases and deep nesting are
// refused (userfile.CheckYAML); a leading UTF-8 byte-order mark is ignored.
func ParseManifest(file string, data []byte) (_ *Manifest, err error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%s: %s is larger than %s: a manifest lists a few dozen services", userfile.Escape(file), ManifestName, userfile.Size(MaxManifestSize))
	}
	data = userfile.StripBOM(data)
	if yerr := userfile.CheckYAML(data, userfile.MaxYAMLDepth); yerr != nil {
		return nil, fmt.Errorf("%s: %s:%d:%d: %s", userfile.Escape(file), ManifestName, yerr.Line, yerr.Column, yerr.Message)
	}
	defer func() {
		// A panic in the YAML library on hostile input is an invalid manifest, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %s: could not parse the file as YAML (%v); check its syntax", userfile.Escape(file), ManifestName, r)
		}
	}()
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %s: %s", userfile.Escape(file), ManifestName, userfile.Escape(yaml.FormatError(err, false, true)))
	}
	if err := m.Validate(file); err != nil {
		var ps *Problems
		if errors.As(err, &ps) {
			locate(ps, data)
		}
		return nil, err
	}
	if f, err := parser.ParseBytes(data, 0); err == nil {
		m.NameLine = lineOf(f, "name")
	}
	return &m, nil
}

// suffixRE removes the service name a problem's field shows: "services[3] (customers)"
// is "services[3]" in the YAML path.
var suffixRE = regexp.MustCompile(` \([^)]*\)`)

// locate sets each problem's line: that of its field, or of the nearest enclosing key
// present in the file (a missing field is reported where it belongs), else line 1.
func locate(ps *Problems, data []byte) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return
	}
	for i := range ps.Problems {
		field := suffixRE.ReplaceAllString(ps.Problems[i].Field, "")
		ps.Problems[i].Line = 1
		for field != "" {
			if line := lineOf(f, field); line > 0 {
				ps.Problems[i].Line = line
				break
			}
			cut := strings.LastIndexAny(field, ".[")
			if cut < 0 {
				break
			}
			field = field[:cut]
		}
	}
}

func lineOf(f *ast.File, field string) (line int) {
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	p, err := yaml.PathString("$." + field)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// Validate checks the manifest against the LLD: every service is an LLD service of its
// role on the LLD's port, has a command and a health path, and every LLD service is
// there once.
func (m *Manifest) Validate(file string) error {
	var l problemList
	m.validateHeader(l.add)
	m.validateBindings(l.add)
	if len(m.Services) == 0 {
		l.add("services", "no services: a package describes the frontend and backend services of the application")
	}
	seen := map[string]int{}
	present := map[string]bool{} // role/name of each valid LLD service
	for i, s := range m.Services {
		s.validate(l.add, i, seen, present)
	}
	requireLLDServices(l.add, present)
	if len(l) > 0 {
		return &Problems{File: file, Problems: l}
	}
	return nil
}

// problemList collects every problem of a manifest, so that its author fixes them in one
// pass instead of one per run.
type problemList []Problem

func (l *problemList) add(field, format string, a ...any) {
	*l = append(*l, Problem{Field: field, Message: fmt.Sprintf(format, a...)})
}

// validateHeader checks the package's name, version and runtimes.
func (m *Manifest) validateHeader(add func(string, string, ...any)) {
	if !nameRE.MatchString(m.Name) {
		add("name", "missing or not an application name (lower-case letters, digits, dashes): %q", m.Name)
	}
	if !versionRE.MatchString(m.Version) {
		add("version", "missing or not a version (letters, digits, . + _ -): %q", m.Version)
	}
	for i, r := range m.Requires {
		if r != RuntimeJava {
			add(fmt.Sprintf("requires[%d]", i), "unknown runtime %q: the platform provides %q", r, RuntimeJava)
		}
	}
}

// validateBindings checks that each binding is one the platform provides, listed once.
func (m *Manifest) validateBindings(add func(string, string, ...any)) {
	seen := map[string]bool{}
	for i, b := range m.Bindings {
		switch {
		case !slices.Contains(KnownBindings, b):
			add(fmt.Sprintf("bindings[%d]", i), "unknown binding %q: the platform binds %s (docs/application-packages.md)", b, strings.Join(KnownBindings, ", "))
		case seen[b]:
			add(fmt.Sprintf("bindings[%d]", i), "binding %s is listed twice", b)
		}
		seen[b] = true
	}
}

// validate checks service i of the manifest. seen maps each service name to its index
// plus one (duplicates name the first); present records each valid LLD service for
// requireLLDServices.
func (s Service) validate(add func(string, string, ...any), i int, seen map[string]int, present map[string]bool) {
	f := fmt.Sprintf("services[%d]", i)
	if s.Name != "" {
		f += fmt.Sprintf(" (%s)", s.Name)
	}
	switch {
	case !nameRE.MatchString(s.Name):
		add(f+".name", "missing or not a service name (lower-case letters, digits, dashes): %q", s.Name)
	case seen[s.Name] > 0:
		add(f+".name", "service %s is also services[%d]", s.Name, seen[s.Name]-1)
	}
	seen[s.Name] = i + 1
	if s.validateRolePort(add, f) {
		present[string(s.Role)+"/"+s.Name] = true
	}
	if len(s.Command) == 0 || strings.TrimSpace(s.Command[0]) == "" {
		add(f+".command", "missing: the command that runs the service in the foreground, as a list")
	}
	if s.HealthPath == "" {
		add(f+".health_path", "missing: the HTTP path that answers 200 when the service is healthy (e.g. /health)")
	} else if !strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\n?#") {
		add(f+".health_path", "must be an absolute URL path such as /health, not %q", s.HealthPath)
	}
	s.validateVars(add, f)
}

// validateRolePort checks that the service is an LLD service of its role on the LLD's
// port (field f), and reports whether it is an LLD service at all.
func (s Service) validateRolePort(add func(string, string, ...any), f string) bool {
	switch s.Role {
	case envfile.RoleFrontend, envfile.RoleBackend:
	default:
		add(f+".role", "must be frontend or backend, not %q", s.Role)
		return false
	}
	want := LLDPort(s.Role, s.Name)
	switch {
	case want == 0:
		add(f+".name", "unknown %s service %q: the LLD's %s services are %s", s.Role, s.Name, s.Role, strings.Join(serviceNames(s.Role), ", "))
	case s.Port != want:
		if other := portOwner(s.Port); other != "" {
			add(f+".port", "port %d is the LLD's port of service %s, not of %s (which listens on %d, LLD 3.1, 3.2.1)", s.Port, other, s.Name, want)
		} else {
			add(f+".port", "%s listens on %d in the LLD (3.1, 3.2.1), not %d", s.Name, want, s.Port)
		}
	}
	return want != 0
}

// validateVars checks the environment's names and the ${...} variables of the
// environment and the command (field f); keys are sorted so problems come in a stable
// order.
func (s Service) validateVars(add func(string, string, ...any), f string) {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envKeyRE.MatchString(k) {
			add(f+".env", "%q is not an environment variable name", k)
		}
		checkVars(add, f+".env."+k, s.Env[k])
	}
	for j, a := range s.Command {
		checkVars(add, fmt.Sprintf("%s.command[%d]", f, j), a)
	}
}

// requireLLDServices reports every LLD frontend and backend service the manifest lacks:
// a package replaces the whole application, not part of it.
func requireLLDServices(add func(string, string, ...any), present map[string]bool) {
	for _, role := range []envfile.Role{envfile.RoleFrontend, envfile.RoleBackend} {
		for _, n := range serviceNames(role) {
			if !present[string(role)+"/"+n] {
				add("services", "lacks the %s service %s (port %d): a package provides every service of LLD 3.1 and 3.2.1", role, n, LLDPort(role, n))
			}
		}
	}
}

func checkVars(add func(string, string, ...any), field, v string) {
	for _, m := range varRE.FindAllStringSubmatch(v, -1) {
		if !slices.Contains(knownVars, m[1]) {
			add(field, "unknown variable ${%s}: use ${%s}", m[1], strings.Join(knownVars, "}, ${"))
		}
	}
}

// portOwner names the LLD service (of either role) whose port is port, or "".
func portOwner(port int) string {
	for _, role := range []envfile.Role{envfile.RoleFrontend, envfile.RoleBackend} {
		for _, n := range serviceNames(role) {
			if LLDPort(role, n) == port {
				return fmt.Sprintf("%s (%s)", n, role)
			}
		}
	}
	return ""
}

func serviceNames(role envfile.Role) []string {
	if role == envfile.RoleBackend {
		return inventory.BackendServiceNames()
	}
	names := make([]string, 0, len(FrontendServices))
	for n := range FrontendServices {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ServicesOf returns the services of role, in port order.
func (m *Manifest) ServicesOf(role envfile.Role) []Service {
	var out []Service
	for _, s := range m.Services {
		if s.Role == role {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

// Expand replaces ${APP_DIR}, ${PORT}, ${BIND} and ${NAME} in v.
func Expand(v string, vars map[string]string) string {
	return varRE.ReplaceAllStringFunc(v, func(m string) string {
		if r, ok := vars[m[2:len(m)-1]]; ok {
			return r
		}
		return m
	})
}

// ErrNotConfigured is returned by Locate when the environment names no package.
var ErrNotConfigured = errors.New("no application package: the environment file sets no application.package")
