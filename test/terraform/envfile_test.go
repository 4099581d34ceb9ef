package terraform_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/tfharness"
)

// TestEnvFileErrors: a wrong environment file or workspace stops the plan with a message
// that says what is wrong; overrides in the file change the plan as documented.
func TestEnvFileErrors(t *testing.T) {
	t.Parallel()
	h := tfharness.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	w := h.Workdir(t, stackDir(t))
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	variant := func(t *testing.T, base string, edit func(string) string) string {
		t.Helper()
		data, err := os.ReadFile(envFilePath(t, base))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".yaml")
		if err := os.WriteFile(p, []byte(edit(string(data))), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("environment file lacks %q: update the test", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	appendYAML := func(extra string) func(string) string {
		return func(s string) string { return s + "\n" + extra + "\n" }
	}

	failures := []struct {
		name      string
		workspace string
		base      string
		edit      func(string) string
		noEnvFile bool
		want      string
	}{
		{name: "default_workspace", workspace: "default", base: "dev", want: "The default workspace is not an environment"},
		{name: "default_workspace_no_file", workspace: "default", noEnvFile: true, want: "The default workspace is not an environment"},
		{name: "even_rabbitmq_with_ha", workspace: "dev-ha", base: "dev-ha", edit: appendYAML("counts:\n  rabbitmq: 2"), want: "counts.rabbitmq must be odd"},
		{name: "too_many_keystones", workspace: "dev-ha", base: "dev-ha", edit: appendYAML("counts:\n  keystone: 6"), want: "counts.keystone and counts.rabbitmq must be between 1 and 5"},
		{name: "ha_without_load_balancer", workspace: "dev", base: "dev", edit: replace("ha: false", "ha: true"), want: "the env file has no load_balancer"},
		{name: "public_vpc_cidr", workspace: "dev", base: "dev", edit: replace("vpc_cidr: 10.0.0.0/24", "vpc_cidr: 8.8.0.0/24"), want: "vpc_cidr must be a private (RFC 1918) network address"},
		{name: "vpc_cidr_too_small", workspace: "dev", base: "dev", edit: replace("vpc_cidr: 10.0.0.0/24", "vpc_cidr: 10.0.0.0/25"), want: "vpc_cidr must be an IPv4 CIDR with a prefix from /16 to /24"},
		{name: "bad_admin_email", workspace: "dev", base: "dev", edit: replace(`admin_email: "admin@company.com"`, `admin_email: "admin"`), want: "admin_email must be an e-mail address"},
		{name: "log_retention_not_accepted", workspace: "dev", base: "dev", edit: appendYAML("logs:\n  retention_days: 10"), want: "log_retention_days must be a retention CloudWatch Logs accepts"},
		{name: "engine_minor_version", workspace: "dev", base: "dev", edit: appendYAML("database:\n  engine_version: \"8.4.7\""), want: "engine_version must be a MySQL major version such as 8.4"},
		{name: "bad_account_id", workspace: "dev", base: "dev", edit: replace(`account_id: "111122223333"`, `account_id: "1111222233334"`), want: "account_id must be the 12-digit AWS account ID"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			if err := w.SelectWorkspace(ctx, f.workspace); err != nil {
				t.Fatal(err)
			}
			var vars []string
			if !f.noEnvFile {
				p := envFilePath(t, f.base)
				if f.edit != nil {
					p = variant(t, f.base, f.edit)
				}
				vars = append(vars, "env_file="+p)
			}
			_, err := w.Plan(ctx, vars...)
			if err == nil {
				t.Fatalf("plan succeeded, want an error saying %q", f.want)
			}
			if msg := strings.Join(strings.Fields(err.Error()), " "); !strings.Contains(msg, f.want) {
				t.Errorf("plan error does not say %q:\n%s", f.want, msg)
			}
		})
	}

	t.Run("count_and_type_overrides", func(t *testing.T) {
		if err := w.SelectWorkspace(ctx, "dev-ha"); err != nil {
			t.Fatal(err)
		}
		// The agent's keystone: settings (durations as strings) are no concern of Terraform's:
		// yamldecode reads them and the plan goes on.
		p := variant(t, "dev-ha", appendYAML("counts:\n  backend: 3\n  rabbitmq: 5\ninstance_types:\n  keystone: t3.large\n"+
			"keystone:\n  token_expiration: 2h\n  fernet_rotation:\n    interval: 12h"))
		plan, err := w.Plan(ctx, "env_file="+p)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]string{}
		attachments := 0
		for _, rc := range plan.ResourceChanges {
			if rc.Type == "aws_instance" {
				after, _ := rc.Change.After.(map[string]any)
				types[rc.Index.(string)], _ = after["instance_type"].(string)
			}
			if rc.Type == "aws_lb_target_group_attachment" {
				attachments++
			}
		}
		for _, h := range []string{"backend-server-3", "rabbitmq-server-4", "rabbitmq-server-5"} {
			if _, ok := types[h]; !ok {
				t.Errorf("no instance %s with counts backend 3, rabbitmq 5 (hosts: %v)", h, keys(types))
			}
		}
		if len(types) != 1+2+3+2+5 {
			t.Errorf("%d instances, want 13", len(types))
		}
		if types["keystone01"] != "t3.large" || types["keystone02"] != "t3.large" || types["backend-server-1"] != devSizing["backend"] {
			t.Errorf("instance types %v: keystones want the override t3.large, others the development table", types)
		}
		// frontend 2 + keystone 2 + jump 1 + 13 services x 3 backends
		if want := 2 + 2 + 1 + 13*3; attachments != want {
			t.Errorf("%d target group attachments, want %d", attachments, want)
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
