// Package deploy drives Terraform for `cso plan`, `cso deploy`, `cso destroy` and
// `cso replace`, and runs the later phases of the LLD's deployment sequence (8.2) by
// reading the status documents that each host's agent publishes. The cobra commands in
// internal/cli only parse flags and print; everything that can be tested lives here.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/target"
)

// FindTerraform returns the terraform executable: flag, then $CSO_TERRAFORM, then PATH.
func FindTerraform(flag string) (string, error) {
	for _, c := range []string{flag, os.Getenv("CSO_TERRAFORM")} {
		if c == "" {
			continue
		}
		p, err := exec.LookPath(c)
		if err != nil {
			return "", fmt.Errorf("terraform executable %q: %w", c, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		return "", errors.New("terraform not found on PATH: install Terraform >= 1.8 (scripts/install-deps.sh) or pass --terraform-bin / set $CSO_TERRAFORM")
	}
	return p, nil
}

// Terraform is one environment's Terraform working directory.
type Terraform struct {
	Env       *envfile.Env
	Dir       string // the root stack (terraform/)
	PluginDir string // optional: install providers only from here (offline)
	tf        *tfexec.Terraform
	stderr    io.Writer
}

// TerraformOptions configures NewTerraform.
type TerraformOptions struct {
	Bin       string // terraform executable (see FindTerraform)
	Dir       string
	PluginDir string
	// Grace is how long Terraform may take to stop after an interrupt (it finishes the
	// operations in flight and writes its state) before it is killed. Default 10 minutes.
	Grace time.Duration
	// Stderr receives Terraform's own stderr (warnings, diagnostics of non-JSON commands).
	Stderr io.Writer
	// Commands, when set, receives one line per Terraform command run, with its arguments
	// (`cso plan|deploy -v`).
	Commands io.Writer
	// AllowPlaceholders accepts an env file that still holds documentation examples
	// (envfile.Env.Placeholders: the example account, example ARNs, a placeholder e-mail).
	// Only the offline tests with the test provider set it: against AWS such a file can
	// only fail half-way or deploy into somebody else's account.
	AllowPlaceholders bool
}

// PlaceholderError refuses an env file that still holds example values.
type PlaceholderError struct {
	Path     string
	Problems envfile.Problems
}

func (e *PlaceholderError) Error() string {
	return fmt.Sprintf("%s still holds example values where Terraform needs real ones:\n%s", e.Path, e.Problems.Error())
}

// NewTerraform prepares to run Terraform on o.Dir for env.
// It refuses (PlaceholderError) an env file with placeholders unless o.AllowPlaceholders.
func NewTerraform(env *envfile.Env, o TerraformOptions) (*Terraform, error) {
	if !o.AllowPlaceholders {
		if ps := env.Placeholders(); len(ps) > 0 {
			return nil, &PlaceholderError{Path: env.Path, Problems: ps}
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir)); err != nil {
		return nil, fmt.Errorf("terraform directory: %w (pass --terraform-dir)", err)
	}
	tf, err := tfexec.NewTerraform(dir, o.Bin)
	if err != nil {
		return nil, err
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Minute
	}
	// Cancelling the context sends Terraform SIGINT (tfexec's cmd.Cancel); it then has
	// Grace to finish in-flight operations, write its state and release the lock.
	if err := tf.SetWaitDelay(o.Grace); err != nil {
		return nil, err
	}
	if o.Stderr != nil {
		tf.SetStderr(o.Stderr)
	}
	if o.Commands != nil {
		// terraform-exec logs "[INFO] running Terraform command: <command line>".
		tf.SetLogger(log.New(o.Commands, "", 0))
	}
	return &Terraform{Env: env, Dir: dir, PluginDir: o.PluginDir, tf: tf, stderr: o.Stderr}, nil
}

// BackendConfig returns the -backend-config values for env's state backend.
func BackendConfig(env *envfile.Env) ([]string, error) {
	switch env.StateBackend() {
	case "s3":
		s := env.State
		return []string{"bucket=" + env.StateBucket(), "key=" + s.Key, "region=" + s.Region, "dynamodb_table=" + s.DynamoDBTable}, nil
	case "local":
		p, err := LocalStatePath(env)
		if err != nil {
			return nil, err
		}
		// Terraform's local backend keeps non-default workspaces under workspace_dir; put
		// them next to the state file so that everything lives where the env file says.
		return []string{"path=" + p, "workspace_dir=" + p + ".d"}, nil
	}
	return nil, fmt.Errorf("state backend %q: expected s3 or local", env.StateBackend())
}

// LocalStatePath is state.path made absolute (relative paths are relative to the env file).
func LocalStatePath(env *envfile.Env) (string, error) {
	p := env.State.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(env.Path), p)
	}
	return filepath.Abs(p)
}

// LocalWorkspaceState is the state file of env's workspace with the local backend.
func LocalWorkspaceState(env *envfile.Env) (string, error) {
	p, err := LocalStatePath(env)
	if err != nil {
		return "", err
	}
	return filepath.Join(p+".d", env.Name, "terraform.tfstate"), nil
}

// Init runs terraform init with env's backend and selects (creating if needed) the
// workspace named like the environment. -reconfigure: the working directory may last have
// been initialised for another environment, and state must never be migrated implicitly.
func (t *Terraform) Init(ctx context.Context) error {
	cfg, err := BackendConfig(t.Env)
	if err != nil {
		return err
	}
	opts := []tfexec.InitOption{tfexec.Reconfigure(true), tfexec.Upgrade(false)}
	for _, c := range cfg {
		opts = append(opts, tfexec.BackendConfig(c))
	}
	if t.PluginDir != "" {
		opts = append(opts, tfexec.PluginDir(t.PluginDir))
	}
	// The working directory remembers the workspace last selected (for another
	// environment, maybe in another backend, where init then fails with "Currently
	// selected workspace does not exist"): start from default, which every backend has,
	// and select this environment's workspace below.
	dataDir := os.Getenv("TF_DATA_DIR")
	if dataDir == "" {
		dataDir = ".terraform"
	}
	if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(t.Dir, dataDir)
	}
	if err := os.Remove(filepath.Join(dataDir, "environment")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := t.tf.Init(ctx, opts...); err != nil {
		return fmt.Errorf("terraform init in %s: %w", t.Dir, err)
	}
	list, current, err := t.tf.WorkspaceList(ctx)
	if err != nil {
		return fmt.Errorf("terraform workspace list: %w", err)
	}
	switch {
	case current == t.Env.Name:
	case slices.Contains(list, t.Env.Name):
		err = t.tf.WorkspaceSelect(ctx, t.Env.Name)
	default:
		err = t.tf.WorkspaceNew(ctx, t.Env.Name)
	}
	if err != nil {
		return fmt.Errorf("terraform workspace %s: %w", t.Env.Name, err)
	}
	return nil
}

// envFileVar is the -var every plan passes: the stack reads the environment from the file.
func (t *Terraform) envFileVar() (string, error) {
	p, err := filepath.Abs(t.Env.Path)
	if err != nil {
		return "", err
	}
	return "env_file=" + p, nil
}

// PlanRequest says what to plan.
type PlanRequest struct {
	Destroy bool
	Replace []string // resource addresses to replace (-replace)
	Out     string   // plan file to write
	// Progress receives the -json stream of the plan (refreshes, diagnostics); may be nil.
	Progress io.Writer
}

// Planned is the result of a plan.
type Planned struct {
	Changes bool
	File    string
	Plan    *tfjson.Plan
	Summary Summary
}

// Plan runs terraform plan -detailed-exitcode -out and reads the plan back as JSON.
func (t *Terraform) Plan(ctx context.Context, req PlanRequest) (*Planned, error) {
	v, err := t.envFileVar()
	if err != nil {
		return nil, err
	}
	opts := []tfexec.PlanOption{tfexec.Var(v), tfexec.Out(req.Out), tfexec.Destroy(req.Destroy)}
	for _, r := range req.Replace {
		opts = append(opts, tfexec.Replace(r))
	}
	var changes bool
	if req.Progress != nil {
		changes, err = t.tf.PlanJSON(ctx, req.Progress, opts...)
		t.tf.SetStdout(nil) // PlanJSON leaves it set for every later command
	} else {
		changes, err = t.tf.Plan(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("terraform plan: %w", err)
	}
	plan, err := t.tf.ShowPlanFile(ctx, req.Out)
	if err != nil {
		return nil, fmt.Errorf("terraform show %s: %w", req.Out, err)
	}
	return &Planned{Changes: changes, File: req.Out, Plan: plan, Summary: Summarize(plan)}, nil
}

// Apply applies a saved plan, streaming Terraform's -json messages to w.
func (t *Terraform) Apply(ctx context.Context, planFile string, w io.Writer) error {
	err := t.tf.ApplyJSON(ctx, w, tfexec.DirOrPlan(planFile))
	t.tf.SetStdout(nil)
	if err != nil {
		return fmt.Errorf("terraform apply: %w", err)
	}
	return nil
}

// State returns the current state (terraform show -json).
func (t *Terraform) State(ctx context.Context) (*tfjson.State, error) {
	st, err := t.tf.Show(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform show: %w", err)
	}
	return st, nil
}

// InstanceAddress finds the resource address of host's EC2 instance in the state: a
// managed aws_instance whose for_each key is the host name, wherever the compute module
// puts it (module.compute.aws_instance.this["keystone01"] at the time of writing).
func (t *Terraform) InstanceAddress(ctx context.Context, host string) (string, error) {
	st, err := t.State(ctx)
	if err != nil {
		return "", err
	}
	if addr := FindInstance(st, host); addr != "" {
		return addr, nil
	}
	return "", fmt.Errorf("%s has no aws_instance in the state of %s: deploy the environment first (cso deploy --env %s)", host, t.Env.Name, t.Env.Name)
}

// InstanceType is the resource type of a host; a variable so that tests with a stack
// without the AWS provider can stand terraform_data in for it.
var InstanceType = "aws_instance"

// FindInstance returns the address of host's instance in st, or "".
func FindInstance(st *tfjson.State, host string) string {
	if st == nil || st.Values == nil {
		return ""
	}
	var walk func(m *tfjson.StateModule) string
	walk = func(m *tfjson.StateModule) string {
		for _, r := range m.Resources {
			if r.Mode == tfjson.ManagedResourceMode && r.Type == InstanceType && r.Index == host {
				return r.Address
			}
		}
		for _, c := range m.ChildModules {
			if a := walk(c); a != "" {
				return a
			}
		}
		return ""
	}
	return walk(st.Values.RootModule)
}

// Outputs returns the root module's outputs (terraform output -json) of an initialised
// working directory.
func (t *Terraform) Outputs(ctx context.Context) (target.Outputs, error) {
	outs, err := t.tf.Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform output: %w", err)
	}
	m := target.Outputs{}
	for k, o := range outs {
		m[k] = o.Value
	}
	return m, nil
}

// Target initialises Terraform and describes the applied environment from its outputs.
func (t *Terraform) Target(ctx context.Context) (*target.Target, error) {
	if err := t.Init(ctx); err != nil {
		return nil, err
	}
	return t.outputsTarget(ctx)
}

func (t *Terraform) outputsTarget(ctx context.Context) (*target.Target, error) {
	outs, err := t.Outputs(ctx)
	if err != nil {
		return nil, err
	}
	return Describe(t.Env, outs)
}

// Describe is the AWS environment env as its Terraform outputs describe it, with the
// health paths of its configured application package (app_health), so that cso check
// reads each application service's bindings on AWS as it does locally.
func Describe(env *envfile.Env, outs target.Outputs) (*target.Target, error) {
	t, err := target.FromOutputs(env, outs)
	if err != nil {
		return nil, err
	}
	t.AppHealth = apppkg.HealthPaths(env)
	return t, nil
}
