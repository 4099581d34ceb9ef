package testprovider

import (
	"context"
	"math/big"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// minimalValue builds a value for a required attribute of type t.
func minimalValue(t tftypes.Type) tftypes.Value {
	switch {
	case t.Is(tftypes.String):
		return newStr("x")
	case t.Is(tftypes.Number):
		return tftypes.NewValue(t, big.NewFloat(1))
	case t.Is(tftypes.Bool):
		return tftypes.NewValue(t, true)
	case t.Is(tftypes.DynamicPseudoType):
		return newStr("x")
	case t.Is(tftypes.List{}):
		return tftypes.NewValue(t, []tftypes.Value{minimalValue(t.(tftypes.List).ElementType)})
	case t.Is(tftypes.Set{}):
		return tftypes.NewValue(t, []tftypes.Value{minimalValue(t.(tftypes.Set).ElementType)})
	case t.Is(tftypes.Map{}):
		return tftypes.NewValue(t, map[string]tftypes.Value{"k": minimalValue(t.(tftypes.Map).ElementType)})
	case t.Is(tftypes.Object{}):
		m := map[string]tftypes.Value{}
		for k, at := range t.(tftypes.Object).AttributeTypes {
			m[k] = minimalValue(at)
		}
		return tftypes.NewValue(t, m)
	}
	return tftypes.NewValue(t, nil)
}

// minimalConfig sets every required attribute and one element of every required block.
func minimalConfig(b *Block) tftypes.Value {
	m := map[string]tftypes.Value{}
	ot := b.ObjectType()
	for _, a := range b.Attributes {
		if a.Required {
			m[a.Name] = minimalValue(ot.AttributeTypes[a.Name])
		}
	}
	for _, nb := range b.Blocks {
		t := ot.AttributeTypes[nb.Name]
		switch {
		case nb.Nesting == NestSingle:
			m[nb.Name] = tftypes.NewValue(t, nil)
		case nb.MinItems > 0:
			m[nb.Name] = tftypes.NewValue(t, []tftypes.Value{minimalConfig(nb.Block)})
		case nb.Nesting == NestSet:
			m[nb.Name] = tftypes.NewValue(t, []tftypes.Value{})
		default:
			m[nb.Name] = tftypes.NewValue(t, []tftypes.Value{})
		}
	}
	return objectOf(ot, m)
}

// Every resource plans and applies, and every data source reads, with a minimal
// configuration: no internal errors, no unknown values left.
func TestSweepAllTypes(t *testing.T) {
	all := loadAll(t)
	ctx := context.Background()
	for _, name := range []string{"aws", "tls", "random"} {
		s := NewServer(all[name])
		types := sortedKeys(s.schema.Resources)
		for _, typ := range types {
			b := s.schema.Resources[typ]
			cfg := minimalConfig(b)
			null := tftypes.NewValue(b.ObjectType(), nil)
			plan, _ := s.PlanResourceChange(ctx, &tfprotov5.PlanResourceChangeRequest{TypeName: typ,
				PriorState: dyn(t, b, null), ProposedNewState: dyn(t, b, cfg), Config: dyn(t, b, cfg)})
			if internalError(t, typ, plan.Diagnostics) {
				continue
			}
			applied, _ := s.ApplyResourceChange(ctx, &tfprotov5.ApplyResourceChangeRequest{TypeName: typ,
				PriorState: dyn(t, b, null), PlannedState: plan.PlannedState, Config: dyn(t, b, cfg)})
			if internalError(t, typ, applied.Diagnostics) || applied.NewState == nil {
				continue
			}
			v, err := applied.NewState.Unmarshal(b.ObjectType())
			if err != nil || !v.IsFullyKnown() {
				t.Errorf("%s: applied state unknown or unreadable: %v", typ, err)
			}
		}
		for _, typ := range sortedKeys(s.schema.DataSources) {
			b := s.schema.DataSources[typ]
			resp, _ := s.ReadDataSource(ctx, &tfprotov5.ReadDataSourceRequest{TypeName: typ, Config: dyn(t, b, minimalConfig(b))})
			if internalError(t, "data."+typ, resp.Diagnostics) || resp.State == nil {
				continue
			}
			v, err := resp.State.Unmarshal(b.ObjectType())
			if err != nil || !v.IsFullyKnown() {
				t.Errorf("data.%s: state unknown or unreadable: %v", typ, err)
			}
		}
	}
}

// internalError reports panics; errors fixtures raise about nonsense input ("x" is not
// a PEM key) are expected here.
func internalError(t *testing.T, typ string, diags []*tfprotov5.Diagnostic) bool {
	t.Helper()
	var msgs []string
	failed := false
	for _, d := range diags {
		if d.Severity == tfprotov5.DiagnosticSeverityError {
			failed = true
			if strings.Contains(d.Summary, "internal error") {
				msgs = append(msgs, d.Summary+": "+strings.SplitN(d.Detail, "\n", 2)[0])
			}
		}
	}
	sort.Strings(msgs)
	if len(msgs) > 0 {
		t.Errorf("%s: %s", typ, strings.Join(msgs, "; "))
	}
	return failed
}
