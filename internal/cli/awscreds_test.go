package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noAWSCredentials empties the environment the SDK reads: HOME without ~/.aws, no AWS_*
// variables, and no instance-metadata look-up (never any traffic off this machine).
func noAWSCredentials(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// The SDK computes its default file names from HOME once, at start: name them.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
	return home
}

// realLookingEnv writes env.dev.yaml without the committed examples (which plan refuses
// before looking for credentials).
func realLookingEnv(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "environments", "env.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	real := strings.NewReplacer("111122223333", "804917365212", "admin@company.com", "platform-ops@cso-ssp.co.uk").Replace(string(data))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.dev.yaml"), []byte(real), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Without credentials, plan and deploy say where they looked and how to provide them,
// exit 2, and Terraform does not run.
func TestNoAWSCredentials(t *testing.T) {
	noAWSCredentials(t)
	envDir := realLookingEnv(t)
	for _, args := range [][]string{{"plan"}, {"deploy", "--auto-approve"}} {
		bin, marker := fakeTerraform(t)
		code, _, stderr := runCSO(t, append(args, "--env", "dev", "--env-dir", envDir, "--terraform-bin", bin, "--terraform-dir", t.TempDir())...)
		if code != ExitUsage {
			t.Errorf("%s without credentials: exit %d, want 2", args[0], code)
		}
		for _, want := range []string{
			"no usable AWS credentials for environment dev (region eu-west-2)",
			"AWS_ACCESS_KEY_ID (not set)",
			`the profile "default" (AWS_PROFILE not set)`,
			"aws sso login --profile NAME",
			"export AWS_PROFILE=NAME",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: the message lacks %q:\n%s", args[0], want, stderr)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%s: terraform ran without credentials", args[0])
		}
	}
}

// An SSO profile without a login session: the message says to run aws sso login for it.
// (The SDK reads its token cache first: no cached token, no network.)
func TestSSOProfileWithoutSession(t *testing.T) {
	home := noAWSCredentials(t)
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "[profile ops]\nsso_start_url = https://d-0000000000.awsapps.com/start\nsso_region = eu-west-2\nsso_account_id = 804917365212\nsso_role_name = Deployer\nregion = eu-west-2\n"
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "ops")
	err := checkAWSCredentials(context.Background(), "dev", "eu-west-2")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), "run `aws sso login --profile ops`") ||
		!strings.Contains(err.Error(), `the profile "ops" (AWS_PROFILE set)`) {
		t.Errorf("SSO profile without session: %v", err)
	}

	// With credentials in the environment the check passes (static keys: no network).
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
	if err := checkAWSCredentials(context.Background(), "dev", "eu-west-2"); err != nil {
		t.Errorf("with keys in the environment: %v", err)
	}
}

// A --plan that is not there, or an --out that cannot be written, is a bad flag: exit 2
// before Terraform runs.
func TestPlanFileFlags(t *testing.T) {
	envDir, _ := localEnv(t, "dev")
	bin, marker := fakeTerraform(t)
	common := []string{"--env", "dev", "--env-dir", envDir, "--terraform-bin", bin, "--terraform-dir", t.TempDir(), "--allow-placeholders"}
	missing := filepath.Join(t.TempDir(), "absent.tfplan")
	code, _, stderr := runCSO(t, append([]string{"deploy", "--auto-approve", "--bucket-dir", t.TempDir(), "--plan", missing}, common...)...)
	if code != ExitUsage || !strings.Contains(stderr, "--plan "+missing+": not a plan file") {
		t.Errorf("deploy --plan of a missing file: exit %d", code)
	}
	code, _, stderr = runCSO(t, append([]string{"plan", "--out", filepath.Join(t.TempDir(), "no", "such", "dir", "p.tfplan")}, common...)...)
	if code != ExitUsage || !strings.Contains(stderr, "--out: plan file:") {
		t.Errorf("plan --out into a missing directory: exit %d", code)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("terraform ran")
	}
}
