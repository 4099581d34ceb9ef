package testprovider_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/tfharness"
)

// These tests run real Terraform 1.8.5 against the test provider.

func outputString(t *testing.T, st *tfjson.State, name string) string {
	t.Helper()
	o, ok := st.Values.Outputs[name]
	if !ok {
		t.Fatalf("output %q missing from state", name)
	}
	s, ok := o.Value.(string)
	if !ok {
		t.Fatalf("output %q = %#v, want a string", name, o.Value)
	}
	return s
}

func findResource(t *testing.T, st *tfjson.State, addr string) *tfjson.StateResource {
	t.Helper()
	for _, r := range st.Values.RootModule.Resources {
		if r.Address == addr {
			return r
		}
	}
	t.Fatalf("resource %s not in state", addr)
	return nil
}

func parseCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", s)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTerraformOKStack(t *testing.T) {
	h := tfharness.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	w := h.Workdir(t, "testdata/ok")
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := w.Validate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid {
		t.Fatalf("validate: %+v", v.Diagnostics)
	}
	if err := w.SelectWorkspace(ctx, "dev"); err != nil {
		t.Fatal(err)
	}

	plan, err := w.Plan(ctx, "environment=dev")
	if err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, rc := range plan.ResourceChanges {
		if rc.Change.Actions.Create() {
			creates++
		}
		if rc.Address == "aws_vpc.main" {
			after := rc.Change.After.(map[string]any)
			if after["cidr_block"] != "10.0.0.0/16" {
				t.Errorf("planned cidr_block = %v", after["cidr_block"])
			}
			unknown := rc.Change.AfterUnknown.(map[string]any)
			if unknown["arn"] != true || unknown["id"] != true {
				t.Errorf("arn and id should be known after apply, after_unknown = %v", unknown)
			}
			tagsAll := after["tags_all"].(map[string]any)
			if tagsAll["Project"] != "cso" || tagsAll["Name"] != "cso-dev" {
				t.Errorf("tags_all = %v, want default_tags merged with tags", tagsAll)
			}
		}
	}
	if creates < 15 {
		t.Fatalf("plan creates %d resources, want the whole stack", creates)
	}

	st, err := w.Apply(ctx, "environment=dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := outputString(t, st, "account_id"); got != "111122223333" {
		t.Errorf("account_id = %q", got)
	}
	if got := outputString(t, st, "region"); got != "eu-west-2" {
		t.Errorf("region = %q", got)
	}
	if ip := net.ParseIP(outputString(t, st, "instance_private_ip")); ip == nil || !ip.IsPrivate() {
		t.Errorf("instance_private_ip is not a private IP")
	}
	if arn := outputString(t, st, "db_secret_arn"); !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-2:111122223333:secret:") {
		t.Errorf("db_secret_arn = %q", arn)
	}
	if ep := outputString(t, st, "db_endpoint"); !regexp.MustCompile(`\.rds\.amazonaws\.com:3306$`).MatchString(ep) {
		t.Errorf("db_endpoint = %q", ep)
	}
	vpc := findResource(t, st, "aws_vpc.main")
	if id, _ := vpc.AttributeValues["id"].(string); !regexp.MustCompile(`^vpc-[0-9a-f]{17}$`).MatchString(id) {
		t.Errorf("vpc id = %q", id)
	}
	if arn, _ := vpc.AttributeValues["arn"].(string); !strings.HasPrefix(arn, "arn:aws:ec2:eu-west-2:111122223333:vpc/") {
		t.Errorf("vpc arn = %q", arn)
	}
	inst := findResource(t, st, "aws_instance.app")
	if ami := inst.AttributeValues["ami"]; !strings.HasPrefix(ami.(string), "ami-") {
		t.Errorf("instance ami = %v", ami)
	}
	mo := inst.AttributeValues["metadata_options"].([]any)[0].(map[string]any)
	if mo["http_tokens"] != "required" {
		t.Errorf("metadata_options = %v", mo)
	}

	// The IAM policy document is computed from the statement blocks.
	var doc struct {
		Version   string
		Statement []struct {
			Sid       string
			Effect    string
			Action    any
			Principal map[string]any
		}
	}
	if err := json.Unmarshal([]byte(outputString(t, st, "assume_policy")), &doc); err != nil {
		t.Fatalf("assume_policy: %v", err)
	}
	if len(doc.Statement) != 1 || doc.Statement[0].Action != "sts:AssumeRole" || doc.Statement[0].Effect != "Allow" ||
		doc.Statement[0].Principal["Service"] != "ec2.amazonaws.com" || doc.Version != "2012-10-17" {
		t.Errorf("assume_policy = %+v", doc)
	}

	// Genuine certificates: the server certificate chains to the CA.
	ca := parseCert(t, outputString(t, st, "ca_cert_pem"))
	srv := parseCert(t, outputString(t, st, "server_cert_pem"))
	if !ca.IsCA || ca.Subject.CommonName != "CSO Test CA" {
		t.Errorf("CA certificate: IsCA=%v subject=%v", ca.IsCA, ca.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "keystone.cso.internal", Roots: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate does not verify against the CA: %v", err)
	}

	// A genuinely random password of the requested length and character set.
	pw := outputString(t, st, "rabbit_password")
	if len(pw) != 24 || !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(pw) || len(regexp.MustCompile(`[0-9]`).FindAllString(pw, -1)) < 2 {
		t.Errorf("random_password result %d chars, want 24 alphanumeric with >= 2 digits", len(pw))
	}
	if !st.Values.Outputs["rabbit_password"].Sensitive {
		t.Errorf("rabbit_password output should be sensitive")
	}
	if hx := outputString(t, st, "suffix"); !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(hx) {
		t.Errorf("random_id hex = %q", hx)
	}

	if ami := outputString(t, st, "ami_id"); !regexp.MustCompile(`^ami-[0-9a-f]{17}$`).MatchString(ami) || ami != outputString(t, st, "instance_ami") {
		t.Errorf("aws_ami = %q, want the AL2023 AMI the SSM parameter names", ami)
	}
	if got := outputString(t, st, "elb_account_arn"); got != "arn:aws:iam::652711504416:root" {
		t.Errorf("elb service account = %q", got)
	}
	if got := outputString(t, st, "s3_endpoint_service"); got != "com.amazonaws.eu-west-2.s3" {
		t.Errorf("s3 endpoint service = %q", got)
	}
	if got, _ := json.Marshal(st.Values.Outputs["two_zones"].Value); string(got) != `["eu-west-2a","eu-west-2b"]` {
		t.Errorf("availability zones without eu-west-2c = %s", got)
	}
	if arn := outputString(t, st, "rabbit_secret_arn"); !regexp.MustCompile(`^arn:aws:secretsmanager:eu-west-2:111122223333:secret:cso/rabbitmq/ssp_user-[0-9a-f]{6}$`).MatchString(arn) {
		t.Errorf("secret arn = %q", arn)
	}
	if read, ok := st.Values.Outputs["rabbit_secret_read"].Value.(map[string]any); !ok || read["password"] == "" || !st.Values.Outputs["rabbit_secret_read"].Sensitive {
		t.Errorf("secret read back: %v", st.Values.Outputs["rabbit_secret_read"])
	}

	if got, _ := json.Marshal(st.Values.Outputs["validation_records"].Value); string(got) != `["api.cso.example","portal.cso.example"]` {
		t.Errorf("validation records = %s", got)
	}
	if ns, _ := st.Values.Outputs["name_servers"].Value.([]any); len(ns) != 4 || !strings.Contains(fmt.Sprint(ns[0]), ".awsdns-") {
		t.Errorf("route53 name servers = %v", ns)
	}
	if ids, _ := st.Values.Outputs["subnet_ids"].Value.([]any); len(ids) != 3 {
		t.Errorf("aws_subnets ids = %v", ids)
	}

	// Applying again changes nothing.
	plan2, err := w.Plan(ctx, "environment=dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range plan2.ResourceChanges {
		if !rc.Change.Actions.NoOp() && !rc.Change.Actions.Read() {
			t.Errorf("second plan: %s %v", rc.Address, rc.Change.Actions)
		}
	}
}

func TestTerraformRejectsBrokenConfigs(t *testing.T) {
	h := tfharness.New(t)
	for _, tc := range []struct{ dir, summary, detail string }{
		{"broken-unknown-argument", "Unsupported argument", `"cidr_blok" is not expected here`},
		{"broken-missing-required", "Missing required argument", `"length" is required`},
		{"broken-unknown-block", "Unsupported block type", `Blocks of type "metadata_option" are not expected here`},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			w := h.Workdir(t, "testdata/"+tc.dir)
			if err := w.Init(ctx); err != nil {
				t.Fatal(err)
			}
			v, err := w.Validate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v.Valid {
				t.Fatalf("validate accepted %s", tc.dir)
			}
			found := false
			for _, d := range v.Diagnostics {
				if d.Severity == tfjson.DiagnosticSeverityError && d.Summary == tc.summary && strings.Contains(d.Detail, tc.detail) {
					found = true
				}
			}
			if !found {
				t.Errorf("want error %q mentioning %s, got %+v", tc.summary, tc.detail, v.Diagnostics)
			}
		})
	}
}
