package tfharness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

func TestEnvIsolatesTerraform(t *testing.T) {
	h := New(t)
	t.Setenv("TF_PLUGIN_CACHE_DIR", "/nonexistent/cache")
	t.Setenv("TF_LOG", "TRACE")
	env := strings.Join(h.Env(), "\n") + "\n"
	for _, bad := range []string{"TF_PLUGIN_CACHE_DIR=", "TF_LOG="} {
		if strings.Contains(env, bad) {
			t.Errorf("Env() passes %s through", bad)
		}
	}
	for _, want := range []string{"TF_IN_AUTOMATION=1\n", "CSO_TESTPROVIDER_SCHEMA_DIR=", "TF_CLI_CONFIG_FILE=" + filepath.Join(h.PluginDir(), "terraformrc") + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %s", want)
		}
	}
	for name, ver := range ProviderVersions {
		p := filepath.Join(h.PluginDir(), "registry.terraform.io", "hashicorp", name, ver, "linux_amd64", "terraform-provider-"+name+"_v"+ver)
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("plugin %s missing or not executable: %v", p, err)
		}
	}
	if !strings.HasSuffix(h.TerraformBin(), "terraform") {
		t.Errorf("TerraformBin = %s", h.TerraformBin())
	}
}

func TestWorkdirCopiesStackWithoutLocalState(t *testing.T) {
	h := New(t)
	src := t.TempDir()
	for path, content := range map[string]string{
		"main.tf":                       "terraform {\n  backend \"s3\" {}\n}\n",
		"modules/net/main.tf":           "variable \"x\" {}\n",
		".terraform/providers/junk":     "x",
		"modules/net/.terraform/junk":   "x",
		".terraform.lock.hcl":           "# registry hashes",
		"terraform.tfstate":             "{}",
		"terraform.tfstate.d/dev/state": "{}",
	} {
		p := filepath.Join(src, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := h.Workdir(t, src)
	for _, p := range []string{"main.tf", "modules/net/main.tf", "backend_override.tf"} {
		if _, err := os.Stat(filepath.Join(w.Dir(), p)); err != nil {
			t.Errorf("%s not in work dir: %v", p, err)
		}
	}
	for _, p := range []string{".terraform", "modules/net/.terraform", ".terraform.lock.hcl", "terraform.tfstate"} {
		if _, err := os.Stat(filepath.Join(w.Dir(), p)); err == nil {
			t.Errorf("%s was copied", p)
		}
	}
	if w.TF().WorkingDir() != w.Dir() {
		t.Errorf("TF() works in %s, not %s", w.TF().WorkingDir(), w.Dir())
	}
}

func TestWorkspacesVarsPlanApply(t *testing.T) {
	h := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := h.Workdir(t, "testdata/vars")
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []string{"staging", "dev", "staging"} { // create, create, select
		if err := w.SelectWorkspace(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}
	if cur, err := w.TF().WorkspaceShow(ctx); err != nil || cur != "staging" {
		t.Fatalf("workspace = %q, %v", cur, err)
	}
	varFile := filepath.Join(t.TempDir(), "x.tfvars")
	if err := os.WriteFile(varFile, []byte("length = 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := w.Plan(ctx, "name=cso", varFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.ResourceChanges) != 2 {
		t.Fatalf("plan has %d changes, want 2", len(plan.ResourceChanges))
	}
	st, err := w.Apply(ctx, "name=cso", varFile)
	if err != nil {
		t.Fatal(err)
	}
	bucket, _ := st.Values.Outputs["bucket"].Value.(string)
	if !regexp.MustCompile(`^cso-staging-[a-z0-9]{12}$`).MatchString(bucket) {
		t.Errorf("bucket = %q: want name, workspace and a 12-char lower-case suffix", bucket)
	}
	if arn, _ := st.Values.Outputs["bucket_arn"].Value.(string); arn != "arn:aws:s3:::"+bucket {
		t.Errorf("bucket_arn = %q", arn)
	}
	// State is local to the workspace, the s3 backend was overridden.
	if _, err := os.Stat(filepath.Join(w.Dir(), "terraform.tfstate.d", "staging", "terraform.tfstate")); err != nil {
		t.Errorf("no local state for workspace staging: %v", err)
	}
	// Changing an argument replaces tls/random resources and updates AWS ones in place.
	plan, err = w.Plan(ctx, "name=cso", "length=16")
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, rc := range plan.ResourceChanges {
		actions[rc.Address] = fmt.Sprint(rc.Change.Actions)
	}
	if actions["random_string.suffix"] != "[delete create]" || actions["aws_s3_bucket.logs"] != "[update]" {
		t.Errorf("actions after changing length: %v", actions)
	}
	// Destroy empties the state.
	if err := w.TF().Destroy(ctx, tfexec.Var("name=cso")); err != nil {
		t.Fatal(err)
	}
	if st, err := w.TF().Show(ctx); err != nil || (st.Values != nil && len(st.Values.RootModule.Resources) > 0) {
		t.Errorf("state after destroy: %+v, %v", st, err)
	}

	// A missing required variable is Terraform's error, reported with the work dir.
	if _, err := w.Plan(ctx); err == nil || !strings.Contains(err.Error(), "No value for required variable") || !strings.Contains(err.Error(), w.Dir()) {
		t.Errorf("plan without vars: %v", err)
	}
}
