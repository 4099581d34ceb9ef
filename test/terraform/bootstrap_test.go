package terraform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/tfharness"
)

// The deploying principals of the bootstrap test: the harness's caller (a user, as the
// offline provider reports it) and an SSO permission set's roles, by pattern.
var statePrincipals = []string{
	"arn:aws:iam::111122223333:user/cso-test",
	"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_CSODeploy_*",
}

func statePrincipalsVar(ps []string) string {
	b, _ := json.Marshal(ps)
	return "state_principals=" + string(b)
}

// TestBootstrap applies terraform/bootstrap (state bucket and lock table, LLD 7.3) with the
// names an environment file gives for its backend.
func TestBootstrap(t *testing.T) {
	t.Parallel()
	h := tfharness.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := h.Workdir(t, filepath.Join(repoRoot(t), "terraform", "bootstrap"))
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := w.Validate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid {
		t.Fatalf("invalid: %+v", v.Diagnostics)
	}
	// Every env file's backend bucket, as cso passes it to terraform init
	// (envfile.StateBucket), is the bucket this stack creates for that file.
	for _, name := range []string{"dev", "dev-ha", "staging", "prod-ha"} {
		env, err := envfile.Load(envFilePath(t, name))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := w.Plan(ctx, "env_file="+env.Path, statePrincipalsVar(statePrincipals))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, rc := range plan.ResourceChanges {
			if rc.Address == "aws_s3_bucket.state" {
				after, _ := rc.Change.After.(map[string]any)
				got, _ = after["bucket"].(string)
			}
		}
		if want := "cso-terraform-state-" + env.AccountID + "-" + env.State.Region; got != env.StateBucket() || got != want {
			t.Errorf("%s: bootstrap plans state bucket %q, cso uses %q, want %q (unique per account and region)", name, got, env.StateBucket(), want)
		}
	}

	env, err := envfile.Load(envFilePath(t, "prod-ha"))
	if err != nil {
		t.Fatal(err)
	}
	// Who may read the state is not optional, and only principals of the env file's account.
	for _, bad := range []struct {
		principals []string
		want       string
	}{
		{[]string{}, "state_principals must name at least one deploying principal"},
		{[]string{"arn:aws:iam::111122223333:group/admins"}, "each entry must be an IAM role or user ARN"},
		{[]string{"arn:aws:iam::999988887777:role/cso-deploy"}, "state_principals must belong to the env file's account 111122223333"},
	} {
		_, err := w.Plan(ctx, "env_file="+env.Path, statePrincipalsVar(bad.principals))
		if err == nil || !strings.Contains(strings.Join(strings.Fields(err.Error()), " "), bad.want) {
			t.Errorf("state_principals %q: plan error %v, want %q", bad.principals, err, bad.want)
		}
	}

	st, err := w.Apply(ctx, "env_file="+env.Path, statePrincipalsVar(statePrincipals))
	if err != nil {
		t.Fatal(err)
	}
	e := indexState(t, st)
	bucket, table := env.StateBucket(), "cso-terraform-locks"
	if b := e.one(t, "", "aws_s3_bucket", "state"); b.str("bucket") != bucket || st.Values.Outputs["state_bucket"].Value != bucket {
		t.Errorf("state bucket %q (output %v), want %q (envfile.StateBucket)", b.str("bucket"), st.Values.Outputs["state_bucket"].Value, bucket)
	}
	if v := e.one(t, "", "aws_s3_bucket_versioning", "state"); firstObj(v.V["versioning_configuration"])["status"] != "Enabled" {
		t.Error("state bucket versioning is not enabled (LLD 7.3)")
	}
	sse := firstObj(firstObj(e.one(t, "", "aws_s3_bucket_server_side_encryption_configuration", "state").V["rule"])["apply_server_side_encryption_by_default"])
	if sse["sse_algorithm"] != "aws:kms" {
		t.Errorf("state bucket encryption %v", sse)
	}
	pab := e.one(t, "", "aws_s3_bucket_public_access_block", "state")
	for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		if !pab.boolean(k) {
			t.Errorf("state bucket public access block %s not set", k)
		}
	}
	tbl := e.one(t, "", "aws_dynamodb_table", "locks")
	attr := firstObj(tbl.V["attribute"])
	if tbl.str("name") != table || tbl.str("hash_key") != "LockID" || attr["name"] != "LockID" || attr["type"] != "S" || tbl.str("billing_mode") != "PAY_PER_REQUEST" {
		t.Errorf("lock table %s hash key %s attribute %v billing %s, want %s with string hash key LockID", tbl.str("name"), tbl.str("hash_key"), attr, tbl.str("billing_mode"), table)
	}
	if pitr := firstObj(tbl.V["point_in_time_recovery"]); pitr["enabled"] != true {
		t.Error("lock table point-in-time recovery off")
	}
	checkStatePolicies(t, e, statePrincipals)
}

// checkStatePolicies: the state (CA key, host keys, passwords) is readable by the deploying
// principals only. The bucket allows them and denies everyone else; the key lets them use
// it, lets the account root administer but not use it, and lets nobody else do anything.
func checkStatePolicies(t *testing.T, e *estate, principals []string) {
	t.Helper()
	bucket := e.one(t, "", "aws_s3_bucket", "state")
	bucketRes := []string{bucket.str("arn"), bucket.str("arn") + "/*"}
	pol := decodePolicy(t, "state bucket policy", e.one(t, "", "aws_s3_bucket_policy", "state").str("policy"))
	var allowed, deniedOthers, tlsOnly bool
	for _, st := range pol.Statement {
		cond, _ := st["Condition"].(map[string]any)
		res := sortedCopy(asList(st["Resource"]))
		if !reflect.DeepEqual(res, sortedCopy(bucketRes)) {
			t.Errorf("state bucket statement %v: resources %v, want the bucket and its objects", st["Sid"], res)
		}
		switch st["Effect"] {
		case "Allow":
			p, _ := st["Principal"].(map[string]any)
			like, _ := cond["ArnLike"].(map[string]any)
			acct, _ := cond["StringEquals"].(map[string]any)
			if p == nil || p["AWS"] != "*" || !reflect.DeepEqual(asList(like["aws:PrincipalArn"]), principals) || acct["aws:PrincipalAccount"] != "111122223333" {
				t.Errorf("state bucket allows %v under %v: want only the state principals %v of the account", st["Principal"], cond, principals)
			}
			if acts := sortedCopy(asList(st["Action"])); !reflect.DeepEqual(acts, []string{"s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"}) {
				t.Errorf("state bucket allows %v: want what the S3 backend needs (list, get, put, delete)", acts)
			}
			allowed = true
		case "Deny":
			if st["Principal"] != "*" || st["Action"] != "s3:*" {
				t.Errorf("state bucket deny %v: principal %v action %v, want everyone and s3:*", st["Sid"], st["Principal"], st["Action"])
			}
			if not, ok := cond["ArnNotLike"].(map[string]any); ok && reflect.DeepEqual(asList(not["aws:PrincipalArn"]), principals) && len(cond) == 1 {
				deniedOthers = true
			} else if b, ok := cond["Bool"].(map[string]any); ok && b["aws:SecureTransport"] == "false" {
				tlsOnly = true
			} else {
				t.Errorf("state bucket deny %v under %v: neither everyone but the state principals nor plain HTTP", st["Sid"], cond)
			}
		}
	}
	if !allowed || !deniedOthers || !tlsOnly {
		t.Errorf("state bucket policy: allow for the state principals %v, deny for everyone else %v, deny of plain HTTP %v: want all three\n%v", allowed, deniedOthers, tlsOnly, pol.Statement)
	}

	key := e.one(t, "", "aws_kms_key", "state")
	var use, root bool
	for _, st := range decodePolicy(t, "state key policy", key.str("policy")).Statement {
		if st["Effect"] != "Allow" {
			t.Errorf("state key statement %v: effect %v", st["Sid"], st["Effect"])
			continue
		}
		p, _ := st["Principal"].(map[string]any)
		acts := asList(st["Action"])
		cond, _ := st["Condition"].(map[string]any)
		like, _ := cond["ArnLike"].(map[string]any)
		acct, _ := cond["StringEquals"].(map[string]any)
		switch {
		case p != nil && p["AWS"] == "arn:aws:iam::111122223333:root":
			// Administration keeps the key manageable; use stays with the state principals.
			for _, a := range acts {
				if a == "kms:*" || strings.HasPrefix(a, "kms:Decrypt") || strings.HasPrefix(a, "kms:Encrypt") ||
					strings.HasPrefix(a, "kms:GenerateDataKey") || strings.HasPrefix(a, "kms:ReEncrypt") || a == "kms:CreateGrant" {
					t.Errorf("state key: the account root may %s: it administers the key, it must not use it", a)
				}
			}
			if !slices.Contains(acts, "kms:Put*") || !slices.Contains(acts, "kms:ScheduleKeyDeletion") {
				t.Errorf("state key: the account root may %v: want the administration (kms:Put*, kms:ScheduleKeyDeletion...) so the key cannot be orphaned", acts)
			}
			root = true
		case p != nil && p["AWS"] == "*" && reflect.DeepEqual(asList(like["aws:PrincipalArn"]), principals) && acct["aws:PrincipalAccount"] == "111122223333":
			if slices.Contains(acts, "kms:Decrypt") {
				use = true
			}
			if slices.Contains(acts, "kms:CreateGrant") && fmt.Sprint(cond["Bool"]) != "map[kms:GrantIsForAWSResource:true]" {
				t.Errorf("state key: the state principals may create grants under %v: want only for AWS resources (the lock table)", cond)
			}
		default:
			t.Errorf("state key allows %v to %v under %v: want only the account root (administration) and the state principals %v", st["Principal"], acts, cond, principals)
		}
	}
	if !use || !root {
		t.Errorf("state key policy: state principals decrypt %v, account root administers %v: want both", use, root)
	}
	if got := e.outputs["state_principals"]; !reflect.DeepEqual(asList(got), principals) {
		t.Errorf("output state_principals %v, want %v", got, principals)
	}
}
