package testprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// objectValue builds a value of block b's type from a few attributes; the rest are null.
func objectValue(b *Block, attrs map[string]tftypes.Value) tftypes.Value {
	return objectOf(b.ObjectType(), attrs)
}

func dyn(t *testing.T, b *Block, v tftypes.Value) *tfprotov5.DynamicValue {
	t.Helper()
	dv, err := tfprotov5.NewDynamicValue(b.ObjectType(), v)
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

func numV(n int64) tftypes.Value { return tftypes.NewValue(tftypes.Number, big.NewFloat(float64(n))) }
func boolV(b bool) tftypes.Value { return tftypes.NewValue(tftypes.Bool, b) }

func checkDiags(t *testing.T, diags []*tfprotov5.Diagnostic) {
	t.Helper()
	for _, d := range diags {
		if d.Severity == tfprotov5.DiagnosticSeverityError {
			t.Fatalf("%s: %s", d.Summary, d.Detail)
		}
	}
}

// planApply runs a create through the server and returns the new state's attributes.
func planApply(t *testing.T, s *Server, typeName string, cfg map[string]tftypes.Value) map[string]tftypes.Value {
	t.Helper()
	ctx := context.Background()
	b := s.schema.Resources[typeName]
	config := objectValue(b, cfg)
	null := tftypes.NewValue(b.ObjectType(), nil)
	plan, err := s.PlanResourceChange(ctx, &tfprotov5.PlanResourceChangeRequest{TypeName: typeName,
		PriorState: dyn(t, b, null), ProposedNewState: dyn(t, b, config), Config: dyn(t, b, config)})
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, plan.Diagnostics)
	applied, err := s.ApplyResourceChange(ctx, &tfprotov5.ApplyResourceChangeRequest{TypeName: typeName,
		PriorState: dyn(t, b, null), PlannedState: plan.PlannedState, Config: dyn(t, b, config)})
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, applied.Diagnostics)
	v, err := applied.NewState.Unmarshal(b.ObjectType())
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsFullyKnown() {
		t.Fatalf("applied state of %s has unknown values", typeName)
	}
	return objMap(v)
}

func TestRandomPasswordHonoursClasses(t *testing.T) {
	s := NewServer(loadAll(t)["random"])
	for _, tc := range []struct {
		cfg  map[string]tftypes.Value
		re   string
		size int
	}{
		{map[string]tftypes.Value{"length": numV(40), "special": boolV(false)}, `^[A-Za-z0-9]{40}$`, 40},
		{map[string]tftypes.Value{"length": numV(16), "upper": boolV(false), "numeric": boolV(false), "special": boolV(false)}, `^[a-z]{16}$`, 16},
		{map[string]tftypes.Value{"length": numV(12), "override_special": newStr("_%"), "min_special": numV(3)}, `^[A-Za-z0-9_%]{12}$`, 12},
	} {
		m := planApply(t, s, "random_password", tc.cfg)
		res, _ := str(m["result"])
		if !regexp.MustCompile(tc.re).MatchString(res) {
			t.Errorf("result of %d chars does not match %s", len(res), tc.re)
		}
		if min := intOr(tc.cfg["min_special"], 0); min > 0 && strings.Count(res, "_")+strings.Count(res, "%") < int(min) {
			t.Errorf("fewer than %d special characters", min)
		}
		if h, _ := str(m["bcrypt_hash"]); !strings.HasPrefix(h, "$2a$") {
			t.Errorf("bcrypt_hash = %q", h)
		}
	}
	// Two passwords from the same configuration differ: genuinely random.
	a, _ := str(planApply(t, s, "random_password", map[string]tftypes.Value{"length": numV(32)})["result"])
	b, _ := str(planApply(t, s, "random_password", map[string]tftypes.Value{"length": numV(32)})["result"])
	if a == b {
		t.Error("two random passwords are equal")
	}
}

func TestApplyGeneratesDeterministicAWSValues(t *testing.T) {
	s := NewServer(loadAll(t)["aws"])
	cfg := map[string]tftypes.Value{"cidr_block": newStr("10.1.0.0/16")}
	a := planApply(t, s, "aws_vpc", cfg)
	b := planApply(t, s, "aws_vpc", cfg)
	id, _ := str(a["id"])
	if !regexp.MustCompile(`^vpc-0[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("vpc id = %q", id)
	}
	if id2, _ := str(b["id"]); id2 != id {
		t.Errorf("same configuration gave ids %s and %s", id, id2)
	}
	if arn, _ := str(a["arn"]); arn != "arn:aws:ec2:eu-west-2:111122223333:vpc/"+arn[strings.LastIndex(arn, "/")+1:] {
		t.Errorf("arn = %q", arn)
	}
	if !a["ipv6_cidr_block"].IsNull() {
		t.Errorf("ipv6_cidr_block should stay null when not configured")
	}

	db := planApply(t, s, "aws_db_instance", map[string]tftypes.Value{"instance_class": newStr("db.t3.micro"),
		"engine": newStr("mysql"), "manage_master_user_password": boolV(true)})
	secrets := elems(db["master_user_secret"])
	if len(secrets) != 1 {
		t.Fatalf("master_user_secret has %d elements, want 1", len(secrets))
	}
	if arn, _ := str(objMap(secrets[0])["secret_arn"]); !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-2:111122223333:secret:") {
		t.Errorf("secret_arn = %q", arn)
	}
	if port := intOr(db["port"], 0); port != 3306 {
		t.Errorf("port = %d", port)
	}
}

func TestIAMPolicyDocument(t *testing.T) {
	s := NewServer(loadAll(t)["aws"])
	b := s.schema.DataSources["aws_iam_policy_document"]
	stmtBlock := b.NestedBlock("statement")
	stmtT := stmtBlock.Block.ObjectType()
	principalsT := stmtBlock.Block.NestedBlock("principals").Block.ObjectType()
	condT := stmtBlock.Block.NestedBlock("condition").Block.ObjectType()
	strSet := func(ss ...string) tftypes.Value { return strListValue(tftypes.Set{ElementType: tftypes.String}, ss) }
	stmt := objectOf(stmtT, map[string]tftypes.Value{
		"sid":       newStr("ReadSecrets"),
		"actions":   strSet("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
		"resources": strSet("arn:aws:secretsmanager:eu-west-2:111122223333:secret:cso/*"),
		"principals": tftypes.NewValue(tftypes.Set{ElementType: principalsT}, []tftypes.Value{objectOf(principalsT, map[string]tftypes.Value{
			"type": newStr("AWS"), "identifiers": strSet("arn:aws:iam::111122223333:root")})}),
		"condition": tftypes.NewValue(tftypes.Set{ElementType: condT}, []tftypes.Value{objectOf(condT, map[string]tftypes.Value{
			"test": newStr("StringEquals"), "variable": newStr("aws:PrincipalTag/Role"),
			"values": strListValue(tftypes.List{ElementType: tftypes.String}, []string{"keystone"})})}),
	})
	cfg := objectValue(b, map[string]tftypes.Value{"statement": tftypes.NewValue(tftypes.List{ElementType: stmtT}, []tftypes.Value{stmt})})
	resp, err := s.ReadDataSource(context.Background(), &tfprotov5.ReadDataSourceRequest{TypeName: "aws_iam_policy_document", Config: dyn(t, b, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, resp.Diagnostics)
	v, _ := resp.State.Unmarshal(b.ObjectType())
	js, _ := str(objMap(v)["json"])
	var doc map[string]any
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	want := `{"Statement":[{"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Condition":{"StringEquals":{"aws:PrincipalTag/Role":"keystone"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Resource":"arn:aws:secretsmanager:eu-west-2:111122223333:secret:cso/*","Sid":"ReadSecrets"}],"Version":"2012-10-17"}`
	if got, _ := json.Marshal(doc); string(got) != want {
		t.Errorf("policy\n got %s\nwant %s", got, want)
	}
}

func TestUpgradeResourceStatePassesJSONThrough(t *testing.T) {
	s := NewServer(loadAll(t)["random"])
	raw := []byte(`{"id":"none","length":12,"result":"abc","no_longer_in_schema":true}`)
	resp, err := s.UpgradeResourceState(context.Background(), &tfprotov5.UpgradeResourceStateRequest{TypeName: "random_password",
		Version: 3, RawState: &tfprotov5.RawState{JSON: raw}})
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, resp.Diagnostics)
	v, _ := resp.UpgradedState.Unmarshal(s.schema.Resources["random_password"].ObjectType())
	if r, _ := str(objMap(v)["result"]); r != "abc" {
		t.Errorf("result = %q after upgrade", r)
	}
}

// Terraform calls the provider from up to 10 goroutines at once.
func TestConcurrentRPCs(t *testing.T) {
	s := NewServer(loadAll(t)["aws"])
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			_, _ = s.ConfigureProvider(ctx, &tfprotov5.ConfigureProviderRequest{Config: dyn(t, s.schema.Provider,
				objectValue(s.schema.Provider, map[string]tftypes.Value{"region": newStr("eu-west-2")}))})
			for _, typ := range []string{"aws_vpc", "aws_instance", "aws_lb", "aws_security_group"} {
				m := planApplyQuiet(s, typ, map[string]tftypes.Value{"tags": newStrMap(map[string]string{"n": fmt.Sprint(i)})})
				if m == nil {
					t.Errorf("%s failed", typ)
				}
			}
		}(i)
	}
	wg.Wait()
}

func planApplyQuiet(s *Server, typeName string, cfg map[string]tftypes.Value) map[string]tftypes.Value {
	ctx := context.Background()
	b := s.schema.Resources[typeName]
	typ := b.ObjectType()
	config := objectValue(b, cfg)
	mk := func(v tftypes.Value) *tfprotov5.DynamicValue { dv, _ := tfprotov5.NewDynamicValue(typ, v); return &dv }
	null := tftypes.NewValue(typ, nil)
	plan, _ := s.PlanResourceChange(ctx, &tfprotov5.PlanResourceChangeRequest{TypeName: typeName, PriorState: mk(null), ProposedNewState: mk(config), Config: mk(config)})
	if plan.PlannedState == nil {
		return nil
	}
	applied, _ := s.ApplyResourceChange(ctx, &tfprotov5.ApplyResourceChangeRequest{TypeName: typeName, PriorState: mk(null), PlannedState: plan.PlannedState, Config: mk(config)})
	if applied.NewState == nil {
		return nil
	}
	v, err := applied.NewState.Unmarshal(typ)
	if err != nil {
		return nil
	}
	return objMap(v)
}
