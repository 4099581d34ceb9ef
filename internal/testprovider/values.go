package testprovider

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Helpers over tftypes.Value. Values handed to them come from Terraform and conform to
// the schema, so conversion errors are programming errors and panic (the server turns a
// panic into an error diagnostic).

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func objMap(v tftypes.Value) map[string]tftypes.Value {
	m := map[string]tftypes.Value{}
	must(v.As(&m))
	return m
}

func elems(v tftypes.Value) []tftypes.Value {
	var l []tftypes.Value
	must(v.As(&l))
	return l
}

func mapElems(v tftypes.Value) map[string]tftypes.Value {
	m := map[string]tftypes.Value{}
	must(v.As(&m))
	return m
}

func unknown(t tftypes.Type) tftypes.Value { return tftypes.NewValue(t, tftypes.UnknownValue) }

func str(v tftypes.Value) (string, bool) {
	if !v.IsKnown() || v.IsNull() || !v.Type().Is(tftypes.String) {
		return "", false
	}
	var s string
	must(v.As(&s))
	return s, true
}

func num(v tftypes.Value) (*big.Float, bool) {
	if !v.IsKnown() || v.IsNull() || !v.Type().Is(tftypes.Number) {
		return nil, false
	}
	var f big.Float
	must(v.As(&f))
	return &f, true
}

func intOr(v tftypes.Value, def int64) int64 {
	if f, ok := num(v); ok {
		i, _ := f.Int64()
		return i
	}
	return def
}

func boolOr(v tftypes.Value, def bool) bool {
	if !v.IsKnown() || v.IsNull() || !v.Type().Is(tftypes.Bool) {
		return def
	}
	var b bool
	must(v.As(&b))
	return b
}

func strList(v tftypes.Value) []string {
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	var out []string
	for _, e := range elems(v) {
		if s, ok := str(e); ok {
			out = append(out, s)
		}
	}
	return out
}

func strMap(v tftypes.Value) (map[string]string, bool) {
	if !v.IsKnown() {
		return nil, false
	}
	out := map[string]string{}
	if v.IsNull() {
		return out, true
	}
	for k, e := range mapElems(v) {
		s, ok := str(e)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

func newStr(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }

func newStrMap(m map[string]string) tftypes.Value {
	vm := make(map[string]tftypes.Value, len(m))
	for k, s := range m {
		vm[k] = newStr(s)
	}
	return tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, vm)
}

// canonical renders a value deterministically (sorted map keys and set elements), used
// to seed generated values so that the same configuration gets the same ids.
func canonical(v tftypes.Value) string {
	t := v.Type()
	switch {
	case !v.IsKnown():
		return "?"
	case v.IsNull():
		return "~"
	case t.Is(tftypes.String):
		s, _ := str(v)
		return fmt.Sprintf("%q", s)
	case t.Is(tftypes.Number):
		f, _ := num(v)
		return f.Text('g', -1)
	case t.Is(tftypes.Bool):
		return fmt.Sprint(boolOr(v, false))
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}), t.Is(tftypes.Tuple{}):
		var parts []string
		for _, e := range elems(v) {
			parts = append(parts, canonical(e))
		}
		if t.Is(tftypes.Set{}) {
			sort.Strings(parts)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case t.Is(tftypes.Map{}), t.Is(tftypes.Object{}):
		m := mapElems(v)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for _, k := range keys {
			fmt.Fprintf(&b, "%q:%s,", k, canonical(m[k]))
		}
		b.WriteString("}")
		return b.String()
	}
	return v.String()
}

// markUnknown is the create-time plan: computed attributes left null by the
// configuration become unknown ("known after apply"). For optional+computed attributes
// only those that plausibly get a value from the cloud are marked (likelyComputed);
// the others stay null, as the configuration says.
// With all (data sources) every null computed attribute becomes unknown.
func markUnknown(b *Block, v tftypes.Value, all bool) tftypes.Value {
	if !v.IsKnown() || v.IsNull() {
		return v
	}
	m := objMap(v)
	for _, a := range b.Attributes {
		cur, ok := m[a.Name]
		if !ok || !cur.IsNull() || !a.Computed {
			continue
		}
		if a.Optional && !all && !likelyComputed(a.Name) {
			continue
		}
		m[a.Name] = unknown(cur.Type())
	}
	for _, nb := range b.Blocks {
		m[nb.Name] = mapBlock(nb, m[nb.Name], func(e tftypes.Value) tftypes.Value { return markUnknown(nb.Block, e, all) })
	}
	return tftypes.NewValue(v.Type(), m)
}

// mapBlock applies f to every object of a nested block value.
func mapBlock(nb *NestedBlock, v tftypes.Value, f func(tftypes.Value) tftypes.Value) tftypes.Value {
	if !v.IsKnown() || v.IsNull() {
		return v
	}
	if nb.Nesting == NestSingle {
		return f(v)
	}
	in := elems(v)
	out := make([]tftypes.Value, len(in))
	for i, e := range in {
		out[i] = f(e)
	}
	return tftypes.NewValue(v.Type(), out)
}

// likelyComputed names optional+computed attributes whose value the cloud decides when
// the configuration leaves them out (ids, ARNs, addresses, zones, generated names...).
// References to other resources (target_group_arn, prefix_list_id...) are not among
// them: left out, they stay null as with the real provider.
func likelyComputed(name string) bool {
	switch name {
	case "id", "arn", "name", "identifier", "cluster_identifier", "availability_zone", "availability_zones",
		"availability_zone_id", "region", "owner_id", "port", "address", "endpoint", "dns_name", "private_ip",
		"public_ip", "private_dns", "public_dns", "hosted_zone_id", "zone_id", "kms_key_id", "engine_version",
		"subnet_id", "vpc_security_group_ids", "security_groups", "ami", "status", "state",
		"account_id", "parameter_group_name", "option_group_name", "db_subnet_group_name",
		"ca_cert_identifier", "maintenance_window", "backup_window", "secondary_private_ips",
		"private_ips", "network_interface_id", "primary_network_interface_id", "bucket",
		"bucket_domain_name", "bucket_regional_domain_name", "dns_names", "vpc_id", "subnet_ids",
		"instance_tenancy", "tenancy", "instance_type", "key_id", "dns_entry", "storage_type",
		"engine", "username", "master_username", "hostname", "url", "fqdn", "version", "arn_suffix",
		"latest_version", "default_version", "resource_id", "image_id", "unique_id", "policy_id",
		"key_arn", "volume_id", "root_device_name", "license_model", "character_set_name":
		return true
	}
	for _, suf := range []string{"_dns", "_dns_name", "_endpoint", "_address"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// filler fills unknown values at apply (and null computed values of data sources).
type filler struct {
	p        *providerState
	typeName string
	seed     string
	counts   map[string]int
}

func (f *filler) block(b *Block, v tftypes.Value, path string) tftypes.Value {
	if v.IsNull() {
		return v
	}
	if !v.IsKnown() {
		return f.value(path, b.ObjectType(), false, path)
	}
	m := objMap(v)
	for _, a := range b.Attributes {
		cur, ok := m[a.Name]
		if !ok {
			continue
		}
		p := join(path, a.Name)
		switch {
		case !cur.IsKnown():
			m[a.Name] = f.value(a.Name, cur.Type(), a.Optional, p)
		case !cur.IsFullyKnown():
			m[a.Name] = f.partial(a.Name, cur, p)
		}
	}
	for _, nb := range b.Blocks {
		cur := m[nb.Name]
		p := join(path, nb.Name)
		if !cur.IsKnown() {
			// A dynamic block over an unknown collection: nothing to show.
			m[nb.Name] = f.value(nb.Name, cur.Type(), false, p)
			continue
		}
		m[nb.Name] = mapBlock(nb, cur, func(e tftypes.Value) tftypes.Value { return f.block(nb.Block, e, p) })
	}
	return tftypes.NewValue(v.Type(), m)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// partial fills the unknown parts inside a known collection or object.
func (f *filler) partial(name string, v tftypes.Value, path string) tftypes.Value {
	if !v.IsKnown() {
		return f.value(name, v.Type(), false, path)
	}
	if v.IsNull() || v.IsFullyKnown() {
		return v
	}
	t := v.Type()
	switch {
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}), t.Is(tftypes.Tuple{}):
		in := elems(v)
		out := make([]tftypes.Value, len(in))
		for i, e := range in {
			out[i] = f.partial(name, e, fmt.Sprintf("%s[%d]", path, i))
		}
		return tftypes.NewValue(t, out)
	case t.Is(tftypes.Map{}), t.Is(tftypes.Object{}):
		m := mapElems(v)
		for k, e := range m {
			n := name
			if t.Is(tftypes.Object{}) {
				n = k
			}
			m[k] = f.partial(n, e, join(path, k))
		}
		return tftypes.NewValue(t, m)
	}
	return v
}

// value generates a whole value of type t for attribute name.
func (f *filler) value(name string, t tftypes.Type, optional bool, path string) tftypes.Value {
	switch {
	case t.Is(tftypes.String):
		return newStr(f.p.genString(f, name, optional, path))
	case t.Is(tftypes.Number):
		return tftypes.NewValue(tftypes.Number, big.NewFloat(float64(genNumber(f.typeName, name, optional))))
	case t.Is(tftypes.Bool):
		return tftypes.NewValue(tftypes.Bool, genBool(name))
	case t.Is(tftypes.DynamicPseudoType):
		return newStr("")
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}):
		var et tftypes.Type
		if l, ok := t.(tftypes.List); ok {
			et = l.ElementType
		} else {
			et = t.(tftypes.Set).ElementType
		}
		n := f.counts[name]
		out := make([]tftypes.Value, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, f.value(name, et, false, fmt.Sprintf("%s[%d]", path, i)))
		}
		return tftypes.NewValue(t, out)
	case t.Is(tftypes.Map{}):
		return tftypes.NewValue(t, map[string]tftypes.Value{})
	case t.Is(tftypes.Object{}):
		ot := t.(tftypes.Object)
		m := make(map[string]tftypes.Value, len(ot.AttributeTypes))
		for k, at := range ot.AttributeTypes {
			m[k] = f.value(k, at, false, join(path, k))
		}
		return tftypes.NewValue(t, m)
	}
	return tftypes.NewValue(t, nil)
}

func genBool(name string) bool {
	switch name {
	case "enable_dns_support", "enabled", "source_dest_check", "auto_minor_version_upgrade":
		return true
	}
	return false
}

func genNumber(typeName, name string, optional bool) int64 {
	switch name {
	case "port":
		switch {
		case strings.HasPrefix(typeName, "aws_db_") || strings.HasPrefix(typeName, "aws_rds_"):
			return 3306
		case strings.Contains(typeName, "elasticache"):
			return 6379
		case strings.Contains(typeName, "mq_"):
			return 5671
		}
		return 443
	case "version", "latest_version", "default_version", "key_size", "device_index":
		if name == "device_index" {
			return 0
		}
		return 1
	}
	if optional {
		return 0
	}
	return 1
}
