package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTerraform is an executable that records that it ran (and fails), so a test sees
// whether cso got as far as running Terraform.
func fakeTerraform(t *testing.T) (bin, marker string) {
	t.Helper()
	dir := t.TempDir()
	bin, marker = filepath.Join(dir, "terraform"), filepath.Join(dir, "ran")
	script := "#!/bin/sh\necho \"$@\" >> " + marker + "\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, marker
}

// plan, deploy, replace and destroy refuse the committed env files, which hold AWS
// documentation examples, before anything runs; each placeholder is named with its line.
func TestTerraformCommandsRefusePlaceholders(t *testing.T) {
	envDir, _ := localEnv(t, "prod-ha") // its local state block is a line shorter than the committed one's
	want := []string{
		"env.prod-ha.yaml:7:13: account_id: 111122223333 is the AWS documentation example account; put your AWS account ID (12 digits, quoted)",
		"env.prod-ha.yaml:14:14: admin_email: admin@company.com is a placeholder address (company.com); put the mailbox that must receive the CloudWatch alarm e-mails",
		"env.prod-ha.yaml:19:20: load_balancer.certificate_arn: arn:aws:acm:eu-west-2:111122223333:certificate/00000000-0000-0000-0000-000000000001 is an example ARN (AWS documentation account 111122223333); put the ARN of your ACM certificate",
		"env.prod-ha.yaml:21:20: load_balancer.cognito.user_pool_arn: arn:aws:cognito-idp:eu-west-2:111122223333:userpool/eu-west-2_prod00000 is an example ARN (AWS documentation account 111122223333); put the ARN of your Cognito user pool",
		"env.prod-ha.yaml:22:26: load_balancer.cognito.user_pool_client_id: prodclient0000000000000000 is a placeholder app client id",
	}
	for _, args := range [][]string{{"plan"}, {"deploy", "--auto-approve"}, {"replace", "keystone01", "--auto-approve"}, {"destroy", "--auto-approve"}} {
		t.Run(args[0], func(t *testing.T) {
			bin, marker := fakeTerraform(t)
			code, _, stderr := runCSO(t, append(args, "--env", "prod-ha", "--env-dir", envDir, "--terraform-bin", bin, "--terraform-dir", t.TempDir())...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d", code, ExitUsage)
			}
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say\n  %s\n%s", w, stderr)
				}
			}
			if !strings.Contains(stderr, "still holds 5 example value(s): put the real ones before running Terraform") {
				t.Errorf("no summary line:\n%s", stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("terraform ran although the env file was refused")
			}
		})
	}
}

// --allow-placeholders (the offline tests' opt-out) goes on to Terraform; a real-looking
// file needs no opt-out.
func TestTerraformCommandsPlaceholderOptOut(t *testing.T) {
	envDir, _ := localEnv(t, "prod-ha")
	realDir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(envDir, "env.prod-ha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	real := strings.NewReplacer(
		"111122223333", "804917365212",
		"admin@company.com", "platform-ops@cso-ssp.co.uk",
		"00000000-0000-0000-0000-000000000001", "6f1c2b7e-93aa-4c0d-b1f2-7a8e5d4c3b21",
		"eu-west-2_prod00000", "eu-west-2_Qh7Lm2XkT",
		"prodclient0000000000000000", "4p1k9s7e2qj3v8m0c6t5r1b2n",
	).Replace(string(data))
	if err := os.WriteFile(filepath.Join(realDir, "env.prod-ha.yaml"), []byte(real), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"committed file with --allow-placeholders", []string{"--env-dir", envDir, "--allow-placeholders"}},
		{"real-looking file", []string{"--env-dir", realDir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Static credentials: the check before Terraform passes without any network
			// (the fake terraform below contacts nothing).
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			bin, marker := fakeTerraform(t)
			code, _, stderr := runCSO(t, append([]string{"plan", "--env", "prod-ha", "--terraform-bin", bin, "--terraform-dir", t.TempDir()}, c.args...)...)
			if strings.Contains(stderr, "example value") {
				t.Errorf("placeholders reported:\n%s", stderr)
			}
			ran, err := os.ReadFile(marker)
			if err != nil || !strings.Contains(string(ran), "init") {
				t.Fatalf("terraform init did not run (exit %d, recorded %q):\n%s", code, ran, stderr)
			}
		})
	}
}

// env validate reports the committed files' examples as warnings (the files stay valid for
// the suites that use them), and as errors with --strict.
func TestEnvValidatePlaceholders(t *testing.T) {
	dir := filepath.Join("..", "..", "environments")
	code, out, _ := runCSO(t, "env", "validate", "--env", "dev", "--env-dir", dir)
	if code != ExitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	for _, w := range []string{
		"warning: " + filepath.Join(dir, "env.dev.yaml") + ":7:13: account_id: 111122223333 is the AWS documentation example account",
		"env.dev.yaml: valid, with 2 example value(s) that cso plan and cso deploy refuse",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output does not say %q:\n%s", w, out)
		}
	}
	code, out, _ = runCSO(t, "env", "validate", "--strict", "--env", "dev", "--env-dir", dir)
	if code != ExitUsage || !strings.Contains(out, "error: "+filepath.Join(dir, "env.dev.yaml")+":14:14: admin_email: admin@company.com is a placeholder address") {
		t.Errorf("--strict: exit %d, want %d with the placeholders as errors:\n%s", code, ExitUsage, out)
	}
}

// cso check --env reads the outputs of an existing state and changes nothing: placeholders
// do not stop it (a file that holds them has no estate to describe anyway).
func TestCheckEnvIgnoresPlaceholders(t *testing.T) {
	envDir, _ := localEnv(t, "prod-ha")
	saved := ec2TargetFile
	ec2TargetFile = filepath.Join(t.TempDir(), "absent", "target.json")
	defer func() { ec2TargetFile = saved }()
	bin, marker := fakeTerraform(t)
	code, _, stderr := runCSO(t, "check", "--print-target", "--env", "prod-ha", "--env-dir", envDir, "--terraform-bin", bin, "--terraform-dir", t.TempDir())
	if strings.Contains(stderr, "example value") {
		t.Errorf("check refused the placeholders:\n%s", stderr)
	}
	if ran, err := os.ReadFile(marker); err != nil || !strings.Contains(string(ran), "init") {
		t.Errorf("terraform init did not run (exit %d):\n%s", code, stderr)
	}
}
