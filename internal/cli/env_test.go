package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/subnets"
	"github.com/cso-ssp/platform/internal/tfharness"
)

var realEnvs = []string{"dev", "dev-ha", "staging", "prod-ha"}

func TestEnvValidateRealFiles(t *testing.T) {
	code, out, _ := runCSO(t, "env", "validate", "--env-dir", filepath.Join("..", "..", "environments"))
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, e := range realEnvs {
		if !strings.Contains(out, "env."+e+".yaml: valid") {
			t.Errorf("env.%s.yaml not reported valid:\n%s", e, out)
		}
	}
}

func TestEnvValidateBroken(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(filepath.Join("..", "..", "environments", "env.dev.yaml"))
	bad := strings.Replace(string(good), "vpc_cidr: 10.0.0.0/24", "vpc_cidr: 10.0.0.0/28", 1)
	bad = strings.Replace(bad, "  - 172.16.0.0/12", "  - 10.1.0.0/16", 1)
	os.WriteFile(filepath.Join(dir, "env.dev.yaml"), good, 0o644)
	os.WriteFile(filepath.Join(dir, "env.bad.yaml"), []byte(bad), 0o644)
	lineOf := func(s string) int {
		for i, l := range strings.Split(bad, "\n") {
			if strings.HasPrefix(l, s) {
				return i + 1
			}
		}
		t.Fatalf("no line %q", s)
		return 0
	}

	code, out, _ := runCSO(t, "env", "validate", "--env-dir", dir)
	if code != ExitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	badFile := filepath.Join(dir, "env.bad.yaml")
	for _, want := range []string{
		fmt.Sprintf("%s:%d:11: vpc_cidr: /28 is too small", badFile, lineOf("vpc_cidr:")),
		fmt.Sprintf("%s:%d:5: jump_server_access_cidrs[1]: 10.1.0.0/16 overlaps jump_server_access_cidrs[0] (10.0.0.0/8)", badFile, lineOf("  - 10.1.0.0/16")),
		filepath.Join(dir, "env.dev.yaml") + ": valid",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCSO(t, "env", "validate", "-o", "json", badFile)
	if code != ExitUsage {
		t.Fatalf("json: exit %d", code)
	}
	var res struct {
		Valid bool
		Files []validateResult
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Valid || len(res.Files) != 1 || len(res.Files[0].Problems) != 2 || res.Files[0].Problems[0].Field != "vpc_cidr" || res.Files[0].Problems[0].Line != lineOf("vpc_cidr:") {
		t.Errorf("json result: %+v", res)
	}
	if code, _, _ := runCSO(t, "env", "validate", "--env", "nope", "--env-dir", dir); code != ExitUsage {
		t.Errorf("missing env: exit %d", code)
	}
}

func TestEnvShow(t *testing.T) {
	envDir := filepath.Join("..", "..", "environments")
	code, out, _ := runCSO(t, "env", "show", "--env", "dev-ha", "--env-dir", envDir)
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"public   eu-west-2a  10.2.0.0/18", "private  eu-west-2c  10.2.192.0/18",
		"keystone01         keystone  t2.medium      eu-west-2a  keystone01.dev-ha.cso.ss         identity.dev-ha.cso.ss  keystone:5000",
		"rabbitmq-server-3", "backend-server-2", "Multi-AZ: yes", "internal ALB dev-ha-backend-alb",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("env show lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCSO(t, "env", "show", "--env", "dev", "--env-dir", envDir, "-o", "json")
	if code != ExitOK {
		t.Fatalf("json: exit %d", code)
	}
	var v EnvView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.HA || len(v.Hosts) != 5 || len(v.Subnets) != 4 || v.Subnets[3].CIDR != "10.0.0.192/26" || len(v.HAAdds) != 0 || v.Database.MultiAZ {
		t.Errorf("dev view: %+v", v)
	}
}

// The subnets cso env show prints are the subnets Terraform plans, for every env file.
func TestSubnetsMatchTerraformPlan(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	w := h.Workdir(t, stackDir(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, name := range realEnvs {
		t.Run(name, func(t *testing.T) {
			_, env := localEnv(t, name)
			tf, err := deploy.NewTerraform(env, deploy.TerraformOptions{Bin: h.TerraformBin(), Dir: w.Dir(), PluginDir: h.PluginDir(),
				AllowPlaceholders: true}) // the committed files' example values, offline
			if err != nil {
				t.Fatal(err)
			}
			if err := tf.Init(ctx); err != nil {
				t.Fatal(err)
			}
			planned, err := tf.Plan(ctx, deploy.PlanRequest{Out: filepath.Join(t.TempDir(), "plan")})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rc := range planned.Plan.ResourceChanges {
				if rc.Type != "aws_subnet" || rc.Mode != tfjson.ManagedResourceMode {
					continue
				}
				after, _ := rc.Change.After.(map[string]any)
				tier := "?"
				for _, t := range []string{subnets.Public, subnets.Private} {
					if strings.Contains(rc.Address, t) {
						tier = t
					}
				}
				got = append(got, fmt.Sprintf("%s %v %v", tier, after["availability_zone"], after["cidr_block"]))
			}
			plan, err := subnets.Plan(env.VPCCIDR, env.AvailabilityZones)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range plan {
				want = append(want, fmt.Sprintf("%s %s %s", s.Tier, s.AZ, s.CIDR))
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Terraform plans subnets\n%s\ncso env show says\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
