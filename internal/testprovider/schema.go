// Package testprovider serves the real schemas of hashicorp/aws, hashicorp/tls and
// hashicorp/random (read from the cdktf prebuilt provider packages) as a Terraform plugin
// (protocol 5) that plans and applies without any cloud: computed values are filled with
// plausible deterministic values, data sources are answered from fixtures.
package testprovider

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Type is a Terraform value type, serialisable into the schema cache.
type Type struct {
	Kind  string           `json:"k"` // string, number, bool, list, set, map, object, dynamic
	Elem  *Type            `json:"e,omitempty"`
	Attrs map[string]*Type `json:"a,omitempty"`
}

// Primitive and collection constructors keep the extraction code short.
var (
	TString  = &Type{Kind: "string"}
	TNumber  = &Type{Kind: "number"}
	TBool    = &Type{Kind: "bool"}
	TDynamic = &Type{Kind: "dynamic"}
)

// ListOf returns list(elem).
func ListOf(elem *Type) *Type { return &Type{Kind: "list", Elem: elem} }

// SetOf returns set(elem).
func SetOf(elem *Type) *Type { return &Type{Kind: "set", Elem: elem} }

// MapOf returns map(elem).
func MapOf(elem *Type) *Type { return &Type{Kind: "map", Elem: elem} }

// String renders the type in Terraform's type-constraint syntax.
func (t *Type) String() string {
	switch t.Kind {
	case "list", "set", "map":
		return t.Kind + "(" + t.Elem.String() + ")"
	case "object":
		names := make([]string, 0, len(t.Attrs))
		for n := range t.Attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		s := "object({"
		for i, n := range names {
			if i > 0 {
				s += ", "
			}
			s += n + "=" + t.Attrs[n].String()
		}
		return s + "})"
	default:
		return t.Kind
	}
}

// TF converts to the terraform-plugin-go type.
func (t *Type) TF() tftypes.Type {
	switch t.Kind {
	case "string":
		return tftypes.String
	case "number":
		return tftypes.Number
	case "bool":
		return tftypes.Bool
	case "dynamic":
		return tftypes.DynamicPseudoType
	case "list":
		return tftypes.List{ElementType: t.Elem.TF()}
	case "set":
		return tftypes.Set{ElementType: t.Elem.TF()}
	case "map":
		return tftypes.Map{ElementType: t.Elem.TF()}
	case "object":
		at := make(map[string]tftypes.Type, len(t.Attrs))
		for n, a := range t.Attrs {
			at[n] = a.TF()
		}
		return tftypes.Object{AttributeTypes: at}
	}
	panic(fmt.Sprintf("testprovider: unknown type kind %q", t.Kind))
}

// Attribute is one schema attribute.
type Attribute struct {
	Name      string `json:"n"`
	Type      *Type  `json:"t"`
	Required  bool   `json:"r,omitempty"`
	Optional  bool   `json:"o,omitempty"`
	Computed  bool   `json:"c,omitempty"`
	Sensitive bool   `json:"s,omitempty"`
}

// Nesting modes of nested blocks, as in the plugin protocol.
const (
	NestList   = "list"
	NestSet    = "set"
	NestSingle = "single"
)

// NestedBlock is one nested block type.
type NestedBlock struct {
	Name     string `json:"n"`
	Nesting  string `json:"m"`
	MinItems int    `json:"min,omitempty"`
	MaxItems int    `json:"max,omitempty"`
	Block    *Block `json:"b"`
}

// Block is a resource, data source, provider or nested block body.
type Block struct {
	Attributes []*Attribute   `json:"a,omitempty"`
	Blocks     []*NestedBlock `json:"b,omitempty"`
	// Built on first use; the server answers RPCs concurrently.
	indexOnce  sync.Once
	attrIndex  map[string]int
	blockIndex map[string]int
	typeOnce   sync.Once
	objType    tftypes.Object
}

func (b *Block) index() {
	b.indexOnce.Do(func() {
		b.attrIndex = make(map[string]int, len(b.Attributes))
		for i, a := range b.Attributes {
			b.attrIndex[a.Name] = i
		}
		b.blockIndex = make(map[string]int, len(b.Blocks))
		for i, nb := range b.Blocks {
			b.blockIndex[nb.Name] = i
		}
	})
}

// Attr returns the attribute called name, or nil.
func (b *Block) Attr(name string) *Attribute {
	b.index()
	if i, ok := b.attrIndex[name]; ok {
		return b.Attributes[i]
	}
	return nil
}

// NestedBlock returns the nested block type called name, or nil.
func (b *Block) NestedBlock(name string) *NestedBlock {
	b.index()
	if i, ok := b.blockIndex[name]; ok {
		return b.Blocks[i]
	}
	return nil
}

// ValueType is the Terraform type of a value of this block (an object).
func (b *Block) ValueType() *Type {
	t := &Type{Kind: "object", Attrs: map[string]*Type{}}
	for _, a := range b.Attributes {
		t.Attrs[a.Name] = a.Type
	}
	for _, nb := range b.Blocks {
		inner := nb.Block.ValueType()
		switch nb.Nesting {
		case NestSingle:
			t.Attrs[nb.Name] = inner
		case NestSet:
			t.Attrs[nb.Name] = SetOf(inner)
		default:
			t.Attrs[nb.Name] = ListOf(inner)
		}
	}
	return t
}

// ObjectType is ValueType converted to tftypes, cached.
func (b *Block) ObjectType() tftypes.Object {
	b.typeOnce.Do(func() { b.objType = b.ValueType().TF().(tftypes.Object) })
	return b.objType
}

// Proto converts the block into its protocol form.
func (b *Block) Proto() *tfprotov5.SchemaBlock {
	out := &tfprotov5.SchemaBlock{}
	for _, a := range b.Attributes {
		out.Attributes = append(out.Attributes, &tfprotov5.SchemaAttribute{
			Name: a.Name, Type: a.Type.TF(), Required: a.Required, Optional: a.Optional,
			Computed: a.Computed, Sensitive: a.Sensitive,
		})
	}
	for _, nb := range b.Blocks {
		mode := tfprotov5.SchemaNestedBlockNestingModeList
		switch nb.Nesting {
		case NestSet:
			mode = tfprotov5.SchemaNestedBlockNestingModeSet
		case NestSingle:
			mode = tfprotov5.SchemaNestedBlockNestingModeSingle
		}
		out.BlockTypes = append(out.BlockTypes, &tfprotov5.SchemaNestedBlock{
			TypeName: nb.Name, Nesting: mode, MinItems: int64(nb.MinItems), MaxItems: int64(nb.MaxItems),
			Block: nb.Block.Proto(),
		})
	}
	return out
}

// Validate applies the rules Terraform checks when it loads a provider schema
// (configschema.Block.InternalValidate), so a bad extraction fails in unit tests rather
// than in terraform.
func (b *Block) Validate() error {
	return b.validate("", false)
}

func (b *Block) validate(path string, inSet bool) error {
	names := map[string]bool{}
	for _, a := range b.Attributes {
		p := path + a.Name
		if a.Name == "" || strings.ToLower(a.Name) != a.Name || strings.ContainsAny(a.Name, " .-") {
			return fmt.Errorf("%s: invalid attribute name", p)
		}
		if names[a.Name] {
			return fmt.Errorf("%s: declared twice", p)
		}
		names[a.Name] = true
		switch {
		case !a.Required && !a.Optional && !a.Computed:
			return fmt.Errorf("%s: neither required, optional nor computed", p)
		case a.Required && (a.Optional || a.Computed):
			return fmt.Errorf("%s: required cannot be optional or computed", p)
		case a.Type == nil:
			return fmt.Errorf("%s: no type", p)
		}
		if inSet && strings.Contains(a.Type.String(), "dynamic") {
			return fmt.Errorf("%s: dynamic type inside a set block", p)
		}
	}
	for _, nb := range b.Blocks {
		p := path + nb.Name
		if names[nb.Name] {
			return fmt.Errorf("%s: both attribute and block", p)
		}
		names[nb.Name] = true
		if nb.Nesting == NestSingle && (nb.MinItems != 0 || nb.MaxItems != 0) {
			return fmt.Errorf("%s: single blocks have no item limits", p)
		}
		if nb.MaxItems != 0 && nb.MinItems > nb.MaxItems {
			return fmt.Errorf("%s: min_items > max_items", p)
		}
		if err := nb.Block.validate(p+".", inSet || nb.Nesting == NestSet); err != nil {
			return err
		}
	}
	return nil
}

// ProviderSchema is everything one provider serves.
type ProviderSchema struct {
	Name        string            `json:"name"`    // aws, tls, random
	Version     string            `json:"version"` // provider version the package was generated from
	Provider    *Block            `json:"provider"`
	Resources   map[string]*Block `json:"resources"`
	DataSources map[string]*Block `json:"data_sources"`
}
