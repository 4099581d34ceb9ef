package terraform_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/tfharness"
)

var modules = []string{"networking", "security", "compute", "storage", "database", "dns", "monitoring"}

// TestNoPasswordLiteral: the LLD's literal passwords, or any password assigned a string
// literal, must not exist in the stack or the environment files (docs/decisions/terraform.md).
func TestNoPasswordLiteral(t *testing.T) {
	root := repoRoot(t)
	// The LLD's example passwords, assembled so that the literals appear nowhere in the tree.
	banned := regexp.MustCompile(`(?i)Keystone` + `Pass123|CSO` + `Pass123|Rabbit` + `Pass123|password\s*=\s*"[^"$]`)
	for _, dir := range []string{"terraform", "environments"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == ".terraform" {
					return filepath.SkipDir
				}
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				if banned.MatchString(line) {
					t.Errorf("%s:%d: password literal: %s", p, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

var (
	varRe    = regexp.MustCompile(`(?m)^variable "([^"]+)"`)
	outputRe = regexp.MustCompile(`(?m)^output "([^"]+)"`)
)

// TestModuleConventions: terraform-aws-modules layout, and a README per module that
// lists every input and output.
func TestModuleConventions(t *testing.T) {
	root := repoRoot(t)
	dirs := []string{filepath.Join(root, "terraform"), filepath.Join(root, "terraform", "bootstrap")}
	for _, m := range modules {
		dirs = append(dirs, filepath.Join(root, "terraform", "modules", m))
	}
	for _, d := range dirs {
		rel, _ := filepath.Rel(root, d)
		for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Errorf("%s: missing %s", rel, f)
			}
		}
		versions, _ := os.ReadFile(filepath.Join(d, "versions.tf"))
		if !bytes.Contains(versions, []byte(`required_version = ">= 1.8"`)) || !bytes.Contains(versions, []byte(`version = "~> 6.0"`)) {
			t.Errorf("%s/versions.tf must require Terraform >= 1.8 and hashicorp/aws ~> 6.0", rel)
		}
		readme, _ := os.ReadFile(filepath.Join(d, "README.md"))
		vars, _ := os.ReadFile(filepath.Join(d, "variables.tf"))
		outs, _ := os.ReadFile(filepath.Join(d, "outputs.tf"))
		for _, m := range varRe.FindAllSubmatch(vars, -1) {
			if !bytes.Contains(readme, []byte("`"+string(m[1])+"`")) {
				t.Errorf("%s/README.md does not document input %s", rel, m[1])
			}
		}
		for _, m := range outputRe.FindAllSubmatch(outs, -1) {
			if !bytes.Contains(readme, []byte("`"+string(m[1])+"`")) {
				t.Errorf("%s/README.md does not document output %s", rel, m[1])
			}
		}
	}
}

// TestTerraformFmt: terraform fmt -check -recursive is clean.
func TestTerraformFmt(t *testing.T) {
	h := tfharness.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.TerraformBin(), "fmt", "-check", "-recursive", "-diff", filepath.Join(repoRoot(t), "terraform"))
	cmd.Env = h.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check: %v (run terraform fmt -recursive terraform)\n%s", err, out)
	}
}
