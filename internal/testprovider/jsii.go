package testprovider

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// The cdktf prebuilt provider packages describe every resource twice: the .jsii type
// system (structs for arguments, classes whose getters are the attributes) and the
// generated JavaScript (lib/<resource>/index.js). The .jsii is the primary source:
// argument names come from its Terraform Registry doc links, optional/required and
// primitive types from its property types. The JavaScript fills what the .jsii cannot say:
// Terraform names of computed-only attributes (getStringAttribute('arn')), list vs set,
// and whether a struct is a nested block, a single block or a map attribute
// (toHclTerraform: isBlock/type).

type jsiiTypeRef struct {
	Primitive  string `json:"primitive"`
	FQN        string `json:"fqn"`
	Collection *struct {
		Kind        string      `json:"kind"`
		ElementType jsiiTypeRef `json:"elementtype"`
	} `json:"collection"`
	Union *struct {
		Types []jsiiTypeRef `json:"types"`
	} `json:"union"`
}

type jsiiDocs struct {
	Summary string `json:"summary"`
	Remarks string `json:"remarks"`
}

type jsiiProp struct {
	Name     string      `json:"name"`
	Type     jsiiTypeRef `json:"type"`
	Optional bool        `json:"optional"`
	Static   bool        `json:"static"`
	Docs     jsiiDocs    `json:"docs"`
}

type jsiiType struct {
	FQN         string     `json:"fqn"`
	Kind        string     `json:"kind"`
	Name        string     `json:"name"`
	Base        string     `json:"base"`
	Datatype    bool       `json:"datatype"`
	Interfaces  []string   `json:"interfaces"`
	Docs        jsiiDocs   `json:"docs"`
	Properties  []jsiiProp `json:"properties"`
	Initializer *struct {
		Parameters []struct {
			Name string      `json:"name"`
			Type jsiiTypeRef `json:"type"`
		} `json:"parameters"`
	} `json:"initializer"`
	Methods []struct {
		Name    string `json:"name"`
		Returns *struct {
			Type jsiiTypeRef `json:"type"`
		} `json:"returns"`
	} `json:"methods"`
	LocationInModule struct {
		Filename string `json:"filename"`
	} `json:"locationInModule"`
}

type jsiiAssembly struct {
	Name  string               `json:"name"`
	Types map[string]*jsiiType `json:"types"`
}

// jsHCLAttr is one entry of a generated toHclTerraform attribute table.
type jsHCLAttr struct {
	IsBlock bool
	Type    string // simple, list, set, map, struct
	// AttrSyntax: a list/set of objects that the real schema declares as an attribute
	// (SDKv2 ConfigModeAttr such as aws_security_group ingress, or a framework list of
	// objects). cdktf maps it with listMapperHcl(fn, false) instead of (fn, true).
	AttrSyntax bool
}

// jsGetter is what a generated getter reads.
type jsGetter struct {
	TFName string
	Set    bool // wrapped in Fn.tolist, or a ComplexList built with wrapsSet=true
}

// jsScope collects what one generated class or function says.
type jsScope struct {
	hcl     map[string]jsHCLAttr // TF name -> entry (toHclTerraform of the struct/class)
	getters map[string]jsGetter  // camelCase getter -> attribute it reads
}

type jsFile map[string]*jsScope // scope name (class or struct name) -> facts

var (
	reJSClass    = regexp.MustCompile(`^class (\w+) extends`)
	reJSHCLFunc  = regexp.MustCompile(`^function (\w+)ToHclTerraform\(`)
	reJSFunc     = regexp.MustCompile(`^function (\w+)`)
	reJSHCLEntry = regexp.MustCompile(`^\s+"?([A-Za-z0-9_\-]+)"?: \{$`)
	reJSIsBlock  = regexp.MustCompile(`^\s+isBlock: (true|false),$`)
	reJSType     = regexp.MustCompile(`^\s+type: "(\w+)",$`)
	reJSAttrVal  = regexp.MustCompile(`^\s+value: cdktf\.listMapperHcl\(\w+ToHclTerraform, false\)`)
	reJSGetter   = regexp.MustCompile(`^\s+get (\w+)\(\) \{$`)
	reJSAttrRead = regexp.MustCompile(`this\.(?:get\w*Attribute|interpolationForAttribute)\('([^']+)'\)`)
	reJSField    = regexp.MustCompile(`^\s+return this\._(\w+);$`)
	reJSCtor     = regexp.MustCompile(`this\._(\w+) = new \w+\(this, "([^"]+)"(?:, (true|false))?\)`)
	reDocLink    = regexp.MustCompile(`\{@link https://registry\.terraform\.io/providers/[^ ]*?#([A-Za-z0-9_\-]+) [^}]*\}`)
	reTypeLink   = regexp.MustCompile(`\{@link https://registry\.terraform\.io/providers/\S+ ([A-Za-z0-9_\-]+)\}`)
)

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// parseJSFile reads one generated index.js line by line; the generator's layout is regular.
func parseJSFile(path string) (jsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := newJSParser()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		p.line(sc.Text())
	}
	p.flushClass()
	return p.out, sc.Err()
}

// jsParser is the state of parseJSFile between lines.
type jsParser struct {
	out           jsFile
	cur           *jsScope            // the class or HCL function being read; nil outside
	ctorFields    map[string]jsGetter // _field -> what the ctor built, per class
	pendingFields map[string]string   // getter -> _field, resolved at class end
	entry         string              // the HCL entry being read
	entryAttr     jsHCLAttr
	getter        string // the getter whose body is next
}

func newJSParser() *jsParser {
	return &jsParser{out: jsFile{}, ctorFields: map[string]jsGetter{}, pendingFields: map[string]string{}}
}

func (p *jsParser) scope(name string) *jsScope {
	s := p.out[name]
	if s == nil {
		s = &jsScope{hcl: map[string]jsHCLAttr{}, getters: map[string]jsGetter{}}
		p.out[name] = s
	}
	return s
}

// flushClass resolves the getters of the class that ends, which return a field its
// constructor built.
func (p *jsParser) flushClass() {
	if p.cur == nil {
		return
	}
	for getter, field := range p.pendingFields {
		if g, ok := p.ctorFields[field]; ok {
			p.cur.getters[getter] = g
		}
	}
	p.ctorFields = map[string]jsGetter{}
	p.pendingFields = map[string]string{}
}

// line reads one line: a class or function starts a scope; inside one, constructor
// fields, getters and HCL entries are recorded.
func (p *jsParser) line(line string) {
	if m := reJSClass.FindStringSubmatch(line); m != nil {
		p.flushClass()
		p.cur = p.scope(m[1])
		return
	}
	if m := reJSHCLFunc.FindStringSubmatch(line); m != nil {
		p.flushClass()
		p.cur = p.scope(upperFirst(m[1]))
		return
	}
	if reJSFunc.MatchString(line) {
		p.flushClass()
		p.cur = nil
		return
	}
	if p.cur == nil {
		return
	}
	if m := reJSCtor.FindStringSubmatch(line); m != nil {
		p.ctorFields[m[1]] = jsGetter{TFName: m[2], Set: m[3] == "true"}
	}
	if p.getter != "" {
		if m := reJSAttrRead.FindStringSubmatch(line); m != nil {
			p.cur.getters[p.getter] = jsGetter{TFName: m[1], Set: strings.Contains(line, "cdktf.Fn.tolist(")}
		} else if m := reJSField.FindStringSubmatch(line); m != nil {
			p.pendingFields[p.getter] = m[1]
		}
		p.getter = ""
		return
	}
	if m := reJSGetter.FindStringSubmatch(line); m != nil {
		p.getter = m[1]
		return
	}
	if m := reJSHCLEntry.FindStringSubmatch(line); m != nil {
		p.entry, p.entryAttr = m[1], jsHCLAttr{}
		return
	}
	if p.entry == "" {
		return
	}
	if reJSAttrVal.MatchString(line) {
		p.entryAttr.AttrSyntax = true
	} else if m := reJSIsBlock.FindStringSubmatch(line); m != nil {
		p.entryAttr.IsBlock = m[1] == "true"
	} else if m := reJSType.FindStringSubmatch(line); m != nil {
		p.entryAttr.Type = m[1]
		p.cur.hcl[p.entry] = p.entryAttr
		p.entry = ""
	}
}

// extractor turns one assembly into a ProviderSchema.
type extractor struct {
	asm     *jsiiAssembly
	libDir  string
	jsCache map[string]jsFile
	errs    []string
}

func (x *extractor) js(t *jsiiType) jsFile {
	rel := strings.TrimPrefix(t.LocationInModule.Filename, "src/")
	rel = strings.TrimSuffix(rel, ".ts") + ".js"
	if f, ok := x.jsCache[rel]; ok {
		return f
	}
	f, err := parseJSFile(filepath.Join(x.libDir, rel))
	if err != nil {
		x.errs = append(x.errs, err.Error())
		f = jsFile{}
	}
	x.jsCache[rel] = f
	return f
}

func (x *extractor) scope(t *jsiiType, name string) *jsScope {
	if s := x.js(t)[name]; s != nil {
		return s
	}
	return &jsScope{hcl: map[string]jsHCLAttr{}, getters: map[string]jsGetter{}}
}

// structProps returns a datatype interface's properties including those it inherits
// from interfaces in the same assembly (Config structs also extend cdktf meta-argument
// interfaces, which are not resource arguments).
func (x *extractor) structProps(t *jsiiType) []jsiiProp {
	props := append([]jsiiProp(nil), t.Properties...)
	for _, parent := range t.Interfaces {
		if p := x.asm.Types[parent]; p != nil {
			props = append(props, x.structProps(p)...)
		}
	}
	return props
}

// tfNameFromDocs returns the anchor of the property's Registry doc link.
func tfNameFromDocs(d jsiiDocs) string {
	for _, s := range []string{d.Summary, d.Remarks} {
		if m := reDocLink.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	}
	return ""
}

// snake is the fallback camelCase -> snake_case conversion, used only where neither the
// doc link nor the generated JavaScript names the attribute.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// structOf reports the struct FQN a property type refers to and how: "single",
// "array", "map", or "" when the type is not a struct.
func (x *extractor) structOf(r jsiiTypeRef) (string, string) {
	isStruct := func(fqn string) bool {
		t := x.asm.Types[fqn]
		return t != nil && t.Datatype
	}
	if r.FQN != "" && isStruct(r.FQN) {
		return r.FQN, "single"
	}
	if r.Union != nil {
		for _, u := range r.Union.Types {
			if fqn, how := x.structOf(u); how != "" {
				return fqn, how
			}
		}
	}
	if r.Collection != nil && r.Collection.ElementType.FQN != "" && isStruct(r.Collection.ElementType.FQN) {
		if r.Collection.Kind == "map" {
			return r.Collection.ElementType.FQN, "map"
		}
		return r.Collection.ElementType.FQN, "array"
	}
	return "", ""
}

// primType converts a non-struct jsii type; set turns the outer array into a set.
func (x *extractor) primType(r jsiiTypeRef, set bool) *Type {
	if r.Union != nil {
		// boolean | IResolvable, or IResolvable | collection: the non-IResolvable member.
		for _, u := range r.Union.Types {
			if u.FQN != "cdktf.IResolvable" {
				return x.primType(u, set)
			}
		}
		return TBool
	}
	switch r.Primitive {
	case "string", "date":
		return TString
	case "number":
		return TNumber
	case "boolean":
		return TBool
	case "any", "json":
		return TDynamic
	}
	if r.Collection != nil {
		elem := x.primType(r.Collection.ElementType, false)
		if r.Collection.Kind == "map" {
			return MapOf(elem)
		}
		if set {
			return SetOf(elem)
		}
		return ListOf(elem)
	}
	switch r.FQN {
	case "cdktf.IResolvable":
		return TBool
	case "cdktf.StringMap":
		return MapOf(TString)
	case "cdktf.NumberMap":
		return MapOf(TNumber)
	case "cdktf.BooleanMap":
		return MapOf(TBool)
	case "cdktf.AnyMap":
		return MapOf(TDynamic)
	case "cdktf.StringListMap":
		return MapOf(ListOf(TString))
	case "cdktf.NumberListMap":
		return MapOf(ListOf(TNumber))
	case "cdktf.AnyListMap":
		return MapOf(ListOf(TDynamic))
	case "cdktf.BooleanListMap":
		return MapOf(ListOf(TBool))
	case "cdktf.StringMapList":
		return ListOf(MapOf(TString))
	case "cdktf.NumberMapList":
		return ListOf(MapOf(TNumber))
	case "cdktf.BooleanMapList":
		return ListOf(MapOf(TBool))
	case "cdktf.AnyMapList":
		return ListOf(MapOf(TDynamic))
	}
	x.errs = append(x.errs, fmt.Sprintf("unsupported jsii type %+v", r))
	return TDynamic
}

// buildBlock converts an argument struct plus the class whose getters describe its
// attributes. hclScope names the generated toHclTerraform table for the struct.
func (x *extractor) buildBlock(structFQN, classFQN, hclScope string, provider bool) *Block {
	st := x.asm.Types[structFQN]
	b := &Block{}
	if st == nil {
		x.errs = append(x.errs, "missing struct "+structFQN)
		return b
	}
	var cls *jsiiType
	if classFQN != "" {
		cls = x.asm.Types[classFQN]
	}
	hcl := x.scope(st, hclScope).hcl
	var getters map[string]jsGetter
	if cls != nil {
		getters = x.scope(cls, cls.Name).getters
	}
	seen := map[string]bool{}
	for _, p := range x.structProps(st) {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if provider && p.Name == "alias" { // a Terraform meta-argument, not a provider argument
			continue
		}
		name := tfNameFromDocs(p.Docs)
		if name == "" {
			if g, ok := getters[p.Name]; ok {
				name = g.TFName
			} else {
				name = snake(p.Name)
			}
		}
		info, hasInfo := hcl[name]
		if fqn, how := x.structOf(p.Type); how != "" {
			inner := x.buildBlock(fqn, fqn+"OutputReference", x.asm.Types[fqn].Name, provider)
			switch {
			case hasInfo && info.Type == "map" || how == "map":
				b.Attributes = append(b.Attributes, &Attribute{Name: name, Type: MapOf(inner.ValueType()),
					Required: !p.Optional, Optional: p.Optional, Computed: p.Optional && !provider})
			case hasInfo && info.AttrSyntax && how == "array":
				t := ListOf(inner.ValueType())
				if info.Type == "set" {
					t = SetOf(inner.ValueType())
				}
				b.Attributes = append(b.Attributes, &Attribute{Name: name, Type: t,
					Required: !p.Optional, Optional: p.Optional, Computed: p.Optional && !provider})
			case hasInfo && info.Type == "struct":
				b.Blocks = append(b.Blocks, &NestedBlock{Name: name, Nesting: NestSingle, Block: inner})
			default:
				nb := &NestedBlock{Name: name, Nesting: NestList, Block: inner}
				if hasInfo && info.Type == "set" {
					nb.Nesting = NestSet
				}
				if how == "single" {
					nb.MaxItems = 1
				}
				if !p.Optional {
					nb.MinItems = 1
				}
				b.Blocks = append(b.Blocks, nb)
			}
			continue
		}
		set := hasInfo && info.Type == "set"
		b.Attributes = append(b.Attributes, &Attribute{Name: name, Type: x.primType(p.Type, set),
			Required: !p.Optional, Optional: p.Optional, Computed: p.Optional && !provider})
	}
	if cls != nil {
		x.addComputed(b, cls, seen)
	}
	sort.Slice(b.Attributes, func(i, j int) bool { return b.Attributes[i].Name < b.Attributes[j].Name })
	sort.Slice(b.Blocks, func(i, j int) bool { return b.Blocks[i].Name < b.Blocks[j].Name })
	return b
}

// classGetters lists a class's instance getters that describe attributes.
func classGetters(cls *jsiiType) []jsiiProp {
	var out []jsiiProp
	for _, p := range cls.Properties {
		if p.Static || strings.HasSuffix(p.Name, "Input") || p.Name == "internalValue" {
			continue
		}
		out = append(out, p)
	}
	return out
}

// addComputed adds the getters of cls that are not arguments: computed-only attributes.
func (x *extractor) addComputed(b *Block, cls *jsiiType, args map[string]bool) {
	getters := x.scope(cls, cls.Name).getters
	have := map[string]bool{}
	for _, a := range b.Attributes {
		have[a.Name] = true
	}
	for _, nb := range b.Blocks {
		have[nb.Name] = true
	}
	for _, p := range classGetters(cls) {
		if args[p.Name] {
			continue
		}
		g, ok := getters[p.Name]
		if !ok {
			g = jsGetter{TFName: snake(p.Name)}
		}
		if have[g.TFName] {
			continue
		}
		have[g.TFName] = true
		b.Attributes = append(b.Attributes, &Attribute{Name: g.TFName, Type: x.computedType(p.Type, g.Set, 0), Computed: true})
	}
}

// computedType converts the type of a computed-only getter. Complex values are classes
// (XxxList, XxxOutputReference, XxxMap) whose element class lists the object attributes.
func (x *extractor) computedType(r jsiiTypeRef, set bool, depth int) *Type {
	if depth > 12 {
		x.errs = append(x.errs, "computed type nesting too deep")
		return TDynamic
	}
	t := x.asm.Types[r.FQN]
	if r.FQN == "" || t == nil || t.Kind != "class" {
		if r.Union != nil {
			for _, u := range r.Union.Types {
				if u.FQN != "cdktf.IResolvable" {
					return x.computedType(u, set, depth)
				}
			}
		}
		return x.primType(r, set)
	}
	switch t.Base {
	case "cdktf.ComplexObject":
		return x.objectOfClass(t, depth)
	case "cdktf.ComplexList", "cdktf.ComplexMap":
		elemFQN := ""
		for _, m := range t.Methods {
			if m.Name == "get" && m.Returns != nil {
				elemFQN = m.Returns.Type.FQN
			}
		}
		if elemFQN == "" {
			elemFQN = strings.TrimSuffix(strings.TrimSuffix(r.FQN, "List"), "Map") + "OutputReference"
		}
		et := x.asm.Types[elemFQN]
		if et == nil {
			x.errs = append(x.errs, "missing element class "+elemFQN)
			return TDynamic
		}
		obj := x.objectOfClass(et, depth)
		if t.Base == "cdktf.ComplexMap" {
			return MapOf(obj)
		}
		if set {
			return SetOf(obj)
		}
		return ListOf(obj)
	}
	x.errs = append(x.errs, "unsupported computed class "+r.FQN)
	return TDynamic
}

func (x *extractor) objectOfClass(cls *jsiiType, depth int) *Type {
	getters := x.scope(cls, cls.Name).getters
	obj := &Type{Kind: "object", Attrs: map[string]*Type{}}
	for _, p := range classGetters(cls) {
		g, ok := getters[p.Name]
		if !ok {
			g = jsGetter{TFName: snake(p.Name)}
		}
		obj.Attrs[g.TFName] = x.computedType(p.Type, g.Set, depth+1)
	}
	return obj
}

// ExtractSchema reads one cdktf provider package directory (the one holding .jsii and lib/).
func ExtractSchema(pkgDir string) (*ProviderSchema, error) {
	asm, err := readAssembly(pkgDir)
	if err != nil {
		return nil, err
	}
	name, version := providerPackage(pkgDir)
	x := &extractor{asm: asm, libDir: filepath.Join(pkgDir, "lib"), jsCache: map[string]jsFile{}}
	ps := &ProviderSchema{Name: name, Version: version, Resources: map[string]*Block{}, DataSources: map[string]*Block{}}
	fqns := make([]string, 0, len(asm.Types))
	for fqn := range asm.Types {
		fqns = append(fqns, fqn)
	}
	sort.Strings(fqns)
	for _, fqn := range fqns {
		x.addType(ps, fqn, asm.Types[fqn])
	}
	if ps.Provider == nil {
		ps.Provider = &Block{}
	}
	if ps.Name == "" {
		for n := range ps.Resources {
			ps.Name = n[:strings.Index(n+"_", "_")]
			break
		}
	}
	for _, b := range ps.Resources {
		fixSetsWithDynamic(b)
	}
	for _, b := range ps.DataSources {
		fixSetsWithDynamic(b)
	}
	markSensitive(ps)
	if len(x.errs) > 0 {
		if len(x.errs) > 20 {
			x.errs = append(x.errs[:20], fmt.Sprintf("... and %d more", len(x.errs)-20))
		}
		return nil, fmt.Errorf("extract schema from %s: %s", pkgDir, strings.Join(x.errs, "; "))
	}
	return ps, nil
}

// readAssembly reads the package's jsii assembly (.jsii).
func readAssembly(pkgDir string) (*jsiiAssembly, error) {
	data, err := os.ReadFile(filepath.Join(pkgDir, ".jsii"))
	if err != nil {
		return nil, fmt.Errorf("read provider schema package: %w (run scripts/install-deps.sh)", err)
	}
	asm := &jsiiAssembly{}
	if err := json.Unmarshal(data, asm); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(pkgDir, ".jsii"), err)
	}
	return asm, nil
}

// providerPackage is the provider's short name (without its namespace) and version from
// the package's package.json ("" when it has none).
func providerPackage(pkgDir string) (name, version string) {
	var pkg struct {
		Cdktf struct {
			Provider struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"provider"`
		} `json:"cdktf"`
	}
	if raw, err := os.ReadFile(filepath.Join(pkgDir, "package.json")); err == nil {
		_ = json.Unmarshal(raw, &pkg)
	}
	if n := pkg.Cdktf.Provider.Name; n != "" {
		name = n[strings.LastIndex(n, "/")+1:]
	}
	return name, pkg.Cdktf.Provider.Version
}

// addType adds the schema of one assembly type to ps when it is the provider, a resource or
// a data source; what cannot be read is recorded in x.errs.
func (x *extractor) addType(ps *ProviderSchema, fqn string, t *jsiiType) {
	if t.Kind != "class" || t.Initializer == nil {
		return
	}
	if t.Base != "cdktf.TerraformResource" && t.Base != "cdktf.TerraformDataSource" && t.Base != "cdktf.TerraformProvider" {
		return
	}
	cfg := ""
	for _, p := range t.Initializer.Parameters {
		if p.Name == "config" {
			cfg = p.Type.FQN
		}
	}
	if cfg == "" {
		x.errs = append(x.errs, "no config struct for "+fqn)
		return
	}
	if t.Base == "cdktf.TerraformProvider" {
		ps.Provider = x.buildBlock(cfg, "", t.Name, true)
		return
	}
	m := reTypeLink.FindStringSubmatch(t.Docs.Summary)
	if m == nil {
		x.errs = append(x.errs, "no Terraform type name in docs of "+fqn)
		return
	}
	b := x.buildBlock(cfg, fqn, t.Name, false)
	if t.Base == "cdktf.TerraformResource" {
		ps.Resources[m[1]] = b
	} else {
		ps.DataSources[strings.TrimPrefix(m[1], "data.")] = b
	}
}

// hasDynamic reports whether a block holds an attribute of dynamic type at any depth.
func hasDynamic(b *Block) bool {
	var inType func(t *Type) bool
	inType = func(t *Type) bool {
		switch t.Kind {
		case "dynamic":
			return true
		case "list", "set", "map":
			return inType(t.Elem)
		case "object":
			for _, a := range t.Attrs {
				if inType(a) {
					return true
				}
			}
		}
		return false
	}
	for _, a := range b.Attributes {
		if inType(a.Type) {
			return true
		}
	}
	for _, nb := range b.Blocks {
		if hasDynamic(nb.Block) {
			return true
		}
	}
	return false
}

// fixSetsWithDynamic turns set blocks that hold dynamic attributes into list blocks:
// cdktf renders blocks nested too deeply to generate (wafv2 rule statements) as "any",
// and Terraform rejects dynamic values inside set blocks.
func fixSetsWithDynamic(b *Block) {
	for _, nb := range b.Blocks {
		if nb.Nesting == NestSet && hasDynamic(nb.Block) {
			nb.Nesting = NestList
		}
		fixSetsWithDynamic(nb.Block)
	}
}
