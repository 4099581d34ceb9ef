package terraform_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
	st, err := w.Apply(ctx, "env_file="+envFilePath(t, "prod-ha"))
	if err != nil {
		t.Fatal(err)
	}
	e := indexState(t, st)
	const bucket, table = "cso-terraform-state-eu-west-2", "cso-terraform-locks"
	if b := e.one(t, "", "aws_s3_bucket", "state"); b.str("bucket") != bucket {
		t.Errorf("state bucket %q, want %q (env file state.bucket)", b.str("bucket"), bucket)
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
