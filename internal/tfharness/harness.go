// Package tfharness runs real Terraform (1.8.5) offline in tests, against the test
// provider (internal/testprovider) that serves the real schemas of hashicorp/aws,
// hashicorp/tls and hashicorp/random.
//
//	h := tfharness.New(t)
//	w := h.Workdir(t, "../../terraform")
//	if err := w.Init(ctx); err != nil { t.Fatal(err) }
//	plan, err := w.Plan(ctx, "environment=dev")
package tfharness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/testprovider"
)

// TerraformVersion is the pinned Terraform the project tests with.
const TerraformVersion = "1.8.5"

// Provider versions served, matching the cdktf packages the schemas come from. Stacks
// must accept them in required_providers (aws ~> 6.25, tls ~> 4.1, random ~> 3.7).
var ProviderVersions = testprovider.Versions

// Harness is a Terraform binary plus a plugin directory holding the test provider.
type Harness struct {
	terraform string
	pluginDir string // registry.terraform.io/... lives below it
	cliConfig string
	schemaDir string
	cacheDir  string
}

type setup struct {
	h   *Harness
	err error
	// skip is true when the failure is a missing tool (skippable outside CI).
	skip bool
}

var (
	setupOnce sync.Once
	setupRes  setup
)

// New returns the process-wide harness, building the provider on first use. When
// Terraform 1.8.5 or the schema packages are missing the test is skipped (failed when
// CI=true) with a message naming scripts/install-deps.sh.
func New(t testing.TB) *Harness {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Terraform: not part of -short (make unit)")
	}
	setupOnce.Do(func() { setupRes = doSetup() })
	if setupRes.err != nil {
		if setupRes.skip && os.Getenv("CI") != "true" {
			t.Skipf("tfharness: %v (run scripts/install-deps.sh)", setupRes.err)
		}
		t.Fatalf("tfharness: %v", setupRes.err)
	}
	return setupRes.h
}

func skipErr(format string, a ...any) setup {
	return setup{err: fmt.Errorf(format, a...), skip: true}
}

func doSetup() setup {
	tf, err := findTerraform()
	if err != nil {
		return setup{err: err, skip: true}
	}
	root, err := moduleRoot()
	if err != nil {
		return setup{err: err}
	}
	schemaDir := os.Getenv(testprovider.EnvSchemaDir)
	if schemaDir == "" {
		schemaDir = filepath.Join(root, ".tools", "npm", "node_modules", "@cdktf")
	}
	for name, pkg := range map[string]string{"aws": "provider-aws", "tls": "provider-tls", "random": "provider-random"} {
		if _, err := os.Stat(filepath.Join(schemaDir, pkg, ".jsii")); err != nil {
			return skipErr("schema package for %s missing in %s", name, schemaDir)
		}
	}
	cacheDir, err := harnessCacheDir()
	if err != nil {
		return setup{err: err}
	}
	bin, err := buildProvider(root, cacheDir)
	if err != nil {
		return setup{err: err}
	}
	h := &Harness{terraform: tf, schemaDir: schemaDir, cacheDir: cacheDir}
	if err := h.layoutPlugins(bin); err != nil {
		return setup{err: err}
	}
	pruneCache(cacheDir, bin, h.pluginDir)
	// Extract and cache the schemas once, before Terraform starts provider processes
	// (several at a time) that would otherwise each parse the 130 MB .jsii.
	for _, name := range []string{"aws", "tls", "random"} {
		cmd := exec.Command(bin, "-describe", name)
		cmd.Env = h.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			return setup{err: fmt.Errorf("test provider cannot load the %s schema: %v: %s", name, err, out)}
		}
	}
	return setup{h: h}
}

// findTerraform returns $CSO_TERRAFORM or $(go env GOPATH)/bin/terraform, checked to be
// the pinned version.
func findTerraform() (string, error) {
	tf := os.Getenv("CSO_TERRAFORM")
	if tf == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOPATH: %v", err)
		}
		gopath := strings.TrimSpace(strings.Split(strings.TrimSpace(string(out)), string(os.PathListSeparator))[0])
		tf = filepath.Join(gopath, "bin", "terraform")
	}
	if _, err := os.Stat(tf); err != nil {
		return "", fmt.Errorf("terraform %s not found at %s", TerraformVersion, tf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tf, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %v", tf, err)
	}
	first := strings.SplitN(string(out), "\n", 2)[0]
	if !strings.HasPrefix(first, "Terraform v"+TerraformVersion) {
		return "", fmt.Errorf("%s is %q, want Terraform v%s", tf, first, TerraformVersion)
	}
	return tf, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the platform Go module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

func harnessCacheDir() (string, error) {
	base := os.Getenv(testprovider.EnvCacheDir)
	if base == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		base = filepath.Join(d, "cso-testprovider")
	}
	return base, os.MkdirAll(base, 0o755)
}

// buildProvider builds cmd/terraform-provider-csotest and stores it under its content
// hash, so concurrent test processes (go test ./...) share one binary safely.
func buildProvider(root, cacheDir string) (string, error) {
	tmp, err := os.CreateTemp(cacheDir, "build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), "./cmd/terraform-provider-csotest")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test provider: %v\n%s", err, out)
	}
	sum, err := fileHash(tmp.Name())
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cacheDir, "terraform-provider-csotest-"+sum)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	return bin, os.Rename(tmp.Name(), bin)
}

// pruneCache removes provider builds, plugin dirs and extracted schemas of earlier
// versions. Only entries untouched for a day go: another test process may still use a
// recent one, and a schema still in use is rewritten when it goes.
func pruneCache(cacheDir string, keep ...string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-24 * time.Hour)
	for _, e := range entries {
		n := e.Name()
		generated := strings.HasPrefix(n, "terraform-provider-csotest-") || strings.HasPrefix(n, "plugins-") ||
			strings.HasPrefix(n, "build-") || strings.HasSuffix(n, ".json.gz") || strings.HasSuffix(n, ".json.gz.lock")
		if !generated {
			continue
		}
		p := filepath.Join(cacheDir, n)
		kept := false
		for _, k := range keep {
			kept = kept || k == p
		}
		if info, err := e.Info(); err == nil && !kept && info.ModTime().Before(cutoff) {
			os.RemoveAll(p)
		}
	}
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// layoutPlugins builds <cache>/plugins-<hash>/registry.terraform.io/hashicorp/<name>/
// <version>/<os_arch>/terraform-provider-<name>_v<version> (hard links to one binary)
// and a CLI config that installs providers only from there.
func (h *Harness) layoutPlugins(bin string) error {
	dir := filepath.Join(h.cacheDir, "plugins-"+strings.TrimPrefix(filepath.Base(bin), "terraform-provider-csotest-"))
	platform := runtime.GOOS + "_" + runtime.GOARCH
	for name, ver := range ProviderVersions {
		d := filepath.Join(dir, "registry.terraform.io", "hashicorp", name, ver, platform)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		dst := filepath.Join(d, "terraform-provider-"+name+"_v"+ver)
		if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() {
			continue
		}
		tmp := dst + fmt.Sprintf(".tmp%d", os.Getpid())
		if err := os.Link(bin, tmp); err != nil {
			if err := copyFile(bin, tmp, 0o755); err != nil {
				return err
			}
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
	}
	h.pluginDir = dir
	h.cliConfig = filepath.Join(dir, "terraformrc")
	cfg := fmt.Sprintf(`# Written by internal/tfharness: providers come only from the test provider mirror.
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
`, dir)
	tmp := h.cliConfig + fmt.Sprintf(".tmp%d", os.Getpid())
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, h.cliConfig)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TerraformBin is the path of the pinned Terraform binary.
func (h *Harness) TerraformBin() string { return h.terraform }

// PluginDir is the directory to pass to terraform init -plugin-dir.
func (h *Harness) PluginDir() string { return h.pluginDir }

// Env is the environment for running terraform: the process environment without
// variables that would change Terraform's behaviour (TF_* settings, plugin cache, logs),
// plus the schema location, TF_IN_AUTOMATION and a CLI config that installs providers
// only from PluginDir.
func (h *Harness) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k := kv[:strings.IndexByte(kv+"=", '=')]
		if strings.HasPrefix(k, "TF_") || k == testprovider.EnvSchemaDir || k == "CHECKPOINT_DISABLE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		testprovider.EnvSchemaDir+"="+h.schemaDir,
		testprovider.EnvCacheDir+"="+h.cacheDir,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"TF_CLI_CONFIG_FILE="+h.cliConfig,
	)
}

// Workdir is a private copy of a Terraform configuration.
type Workdir struct {
	t   testing.TB
	h   *Harness
	dir string
	tf  *tfexec.Terraform
}

// backendOverride switches whatever backend the stack declares to local state in the
// work directory.
const backendOverride = `# Written by internal/tfharness: tests keep state locally.
terraform {
  backend "local" {}
}
`

// Workdir copies srcDir (recursively, without .terraform, lock files and local state)
// into a fresh temporary directory and writes backend_override.tf there. Module sources
// must stay inside srcDir.
func (h *Harness) Workdir(t testing.TB, srcDir string) *Workdir {
	t.Helper()
	dir := t.TempDir()
	if err := copyTree(srcDir, dir); err != nil {
		t.Fatalf("tfharness: copy %s: %v", srcDir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "backend_override.tf"), []byte(backendOverride), 0o644); err != nil {
		t.Fatalf("tfharness: %v", err)
	}
	tf, err := tfexec.NewTerraform(dir, h.terraform)
	if err != nil {
		t.Fatalf("tfharness: %v", err)
	}
	envMap := map[string]string{}
	for _, kv := range h.Env() {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	if err := tf.SetEnv(tfexec.CleanEnv(envMap)); err != nil {
		t.Fatalf("tfharness: %v", err)
	}
	return &Workdir{t: t, h: h, dir: dir, tf: tf}
}

func copyTree(src, dst string) error {
	src = filepath.Clean(src)
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".terraform" && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if name == ".terraform.lock.hcl" || name == "backend_override.tf" || strings.HasPrefix(name, "terraform.tfstate") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel), info.Mode().Perm())
	})
}

// Dir is the work directory.
func (w *Workdir) Dir() string { return w.dir }

// TF is the terraform-exec handle, configured with the harness environment.
func (w *Workdir) TF() *tfexec.Terraform { return w.tf }

// Init runs terraform init with -plugin-dir and the local backend.
func (w *Workdir) Init(ctx context.Context) error {
	return w.wrap("init", w.tf.Init(ctx, tfexec.PluginDir(w.h.pluginDir), tfexec.Backend(true), tfexec.Upgrade(false)))
}

// Validate runs terraform validate -json. Invalid configurations are reported in the
// output (Valid false, Diagnostics), not as an error.
func (w *Workdir) Validate(ctx context.Context) (*tfjson.ValidateOutput, error) {
	out, err := w.tf.Validate(ctx)
	return out, w.wrap("validate", err)
}

// SelectWorkspace selects workspace name, creating it when missing.
func (w *Workdir) SelectWorkspace(ctx context.Context, name string) error {
	list, _, err := w.tf.WorkspaceList(ctx)
	if err != nil {
		return w.wrap("workspace list", err)
	}
	for _, ws := range list {
		if ws == name {
			return w.wrap("workspace select", w.tf.WorkspaceSelect(ctx, name))
		}
	}
	return w.wrap("workspace new", w.tf.WorkspaceNew(ctx, name))
}

// varOptions turns "name=value" into -var and "*.tfvars"/"*.tfvars.json" into -var-file.
func varOptions(vars []string) (plan []tfexec.PlanOption, apply []tfexec.ApplyOption) {
	for _, v := range vars {
		if !strings.Contains(v, "=") && (strings.HasSuffix(v, ".tfvars") || strings.HasSuffix(v, ".tfvars.json")) {
			plan = append(plan, tfexec.VarFile(v))
			apply = append(apply, tfexec.VarFile(v))
			continue
		}
		plan = append(plan, tfexec.Var(v))
		apply = append(apply, tfexec.Var(v))
	}
	return plan, apply
}

// Plan runs terraform plan -out and returns terraform show -json of the plan. vars are
// "name=value" assignments or paths of .tfvars files.
func (w *Workdir) Plan(ctx context.Context, vars ...string) (*tfjson.Plan, error) {
	planFile := filepath.Join(w.dir, "tfplan")
	opts, _ := varOptions(vars)
	opts = append(opts, tfexec.Out(planFile))
	if _, err := w.tf.Plan(ctx, opts...); err != nil {
		return nil, w.wrap("plan", err)
	}
	p, err := w.tf.ShowPlanFile(ctx, planFile)
	return p, w.wrap("show plan", err)
}

// Apply runs terraform apply -auto-approve and returns terraform show -json of the state.
func (w *Workdir) Apply(ctx context.Context, vars ...string) (*tfjson.State, error) {
	_, opts := varOptions(vars)
	if err := w.tf.Apply(ctx, opts...); err != nil {
		return nil, w.wrap("apply", err)
	}
	s, err := w.tf.Show(ctx)
	return s, w.wrap("show state", err)
}

// wrap adds the command and the work directory to an error; tfexec errors already
// carry Terraform's stderr.
func (w *Workdir) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("terraform %s in %s: %w", what, w.dir, err)
}
