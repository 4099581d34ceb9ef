package terraform_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/tfharness"
)

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
		plan, err := w.Plan(ctx, "env_file="+env.Path)
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
	st, err := w.Apply(ctx, "env_file="+env.Path)
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
}
