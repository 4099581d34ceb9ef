package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/tfharness"
)

// stateBlock matches the state: mapping of an env file.
var stateBlock = regexp.MustCompile(`(?m)^state:\n(?:[ \t]+.*\n)+`)

// localEnv copies environments/env.<name>.yaml into a temporary env dir with its state
// switched to the local backend, and returns the env dir and the loaded environment.
func localEnv(t *testing.T, name string) (string, *envfile.Env) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "environments", "env."+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := fmt.Sprintf("state:\n  backend: local\n  path: %s\n", filepath.Join(dir, "state", "terraform.tfstate"))
	if !stateBlock.Match(data) {
		t.Fatalf("env.%s.yaml has no state block", name)
	}
	data = stateBlock.ReplaceAll(data, []byte(state))
	path := envfile.PathFor(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, env
}

// harnessEnv puts the harness's Terraform settings into the process environment, where
// the in-process cso (and the Terraform it starts) reads them.
func harnessEnv(t *testing.T, h *tfharness.Harness) {
	t.Helper()
	for _, kv := range h.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("CSO_TERRAFORM", h.TerraformBin())
	t.Setenv("CSO_TF_PLUGIN_DIR", h.PluginDir())
}

func runCSO(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCSOIn(t, "", args...)
}

// runCSOIn runs cso in-process with stdin (the operator's answers).
func runCSOIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(args, strings.NewReader(stdin), &out, &errb)
	t.Logf("cso %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, tail(errb.String(), 40))
	return code, out.String(), errb.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// instancesInState returns the host names whose aws_instance is in the local state file
// (an agent starts once its instance exists).
func instancesInState(path string) map[string]bool {
	out := map[string]bool{}
	for h := range instanceIDs(path) {
		out[h] = true
	}
	return out
}

// stateSerial is the serial of the local state file (0 when there is none).
func stateSerial(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var st struct{ Serial int }
	if json.Unmarshal(data, &st) != nil {
		return 0
	}
	return st.Serial
}

// instanceIDs maps host names to the id of their aws_instance in the local state file.
func instanceIDs(path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var st struct {
		Resources []struct {
			Mode, Type string
			Instances  []struct {
				IndexKey   any `json:"index_key"`
				Attributes struct {
					ID string `json:"id"`
				} `json:"attributes"`
			}
		}
	}
	if json.Unmarshal(data, &st) != nil {
		return nil
	}
	out := map[string]string{}
	for _, r := range st.Resources {
		if r.Mode == "managed" && r.Type == deploy.InstanceType {
			for _, i := range r.Instances {
				if k, ok := i.IndexKey.(string); ok {
					out[k] = i.Attributes.ID
				}
			}
		}
	}
	return out
}

// fakeAgents simulates the agent of every host: once the host's instance is in the state,
// it publishes its setup step by step through the directory store. Hosts in failAt fail
// the named step.
type fakeAgents struct {
	store     status.Dir
	env       *envfile.Env
	statePath string
	failAt    map[string]string
	// afterSerial: an agent starts only once the state is newer than this serial (the
	// apply that creates or replaces its instance has been written).
	afterSerial int
	wg          sync.WaitGroup
}

var agentSteps = []string{"packages", "config", "service", "health"}

func (a *fakeAgents) start(ctx context.Context, t *testing.T, hosts []inventory.Host) {
	for _, h := range hosts {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.run(ctx, h); err != nil && ctx.Err() == nil {
				t.Errorf("fake agent %s: %v", h.Name, err)
			}
		}()
	}
}

func (a *fakeAgents) run(ctx context.Context, h inventory.Host) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, ok := instanceIDs(a.statePath)[h.Name]; ok && stateSerial(a.statePath) > a.afterSerial {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("instance never appeared in the state")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return a.publish(ctx, h, a.failAt[h.Name])
}

// publish writes the documents of one agent run; failStep ("" for none) fails.
func (a *fakeAgents) publish(ctx context.Context, h inventory.Host, failStep string) error {
	now := time.Now().UTC()
	doc := status.Host{Host: h.Name, Role: string(h.Role), Index: h.Index, Env: a.env.Name, State: status.StateRunning,
		StartedAt: now, UpdatedAt: now, AgentRun: fmt.Sprint(now.UnixNano())}
	for _, s := range agentSteps {
		doc.Steps = append(doc.Steps, status.Step{Name: s, State: status.StatePending})
	}
	for i, s := range agentSteps {
		doc.Step, doc.Steps[i].State, doc.Steps[i].StartedAt = s, status.StateRunning, time.Now().UTC()
		if err := a.store.Put(ctx, doc); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		doc.Steps[i].FinishedAt = time.Now().UTC()
		if s == failStep {
			doc.Steps[i].State, doc.Steps[i].Detail = status.StateFailed, "simulated failure"
			doc.State, doc.LastError = status.StateFailed, "step "+s+": simulated failure"
			return a.store.Put(ctx, doc)
		}
		doc.Steps[i].State = status.StateDone
	}
	doc.State, doc.Step, doc.FinishedAt, doc.UpdatedAt = status.StateDone, "", time.Now().UTC(), time.Now().UTC()
	return a.store.Put(ctx, doc)
}

func TestPlanAndDeployDevHA(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	w := h.Workdir(t, stackDir(t))
	envDir, env := localEnv(t, "dev-ha")
	statePath, err := deploy.LocalWorkspaceState(env)
	if err != nil {
		t.Fatal(err)
	}
	bucketDir := t.TempDir()
	statusDir := filepath.Join(bucketDir, "status")
	fakeJumpChecks(t, status.Dir{Path: statusDir}, env.Name, inventory.Hosts(env))
	// The committed env files hold example values; the offline stack accepts them.
	common := []string{"--env", "dev-ha", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--allow-placeholders"}

	// plan: changes, exit 3, with a summary by resource type.
	code, out, _ := runCSO(t, append([]string{"plan", "-o", "json"}, common...)...)
	if code != ExitChanges {
		t.Fatalf("cso plan exit %d, want %d (changes)", code, ExitChanges)
	}
	var plan struct {
		Changes bool
		Plan    deploy.Summary
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	hosts := inventory.Hosts(env)
	if !plan.Changes || plan.Plan.ByType["aws_instance"].Add != len(hosts) || plan.Plan.Destroy != 0 {
		t.Fatalf("plan summary: %+v; want %d aws_instance to add", plan.Plan.Counts, len(hosts))
	}

	// First deploy: rabbitmq-server-2 fails its "service" step.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	agents := &fakeAgents{store: status.Dir{Path: statusDir}, env: env, statePath: statePath,
		failAt: map[string]string{"rabbitmq-server-2": "service"}}
	agents.start(ctx, t, hosts)
	deployArgs := append([]string{"deploy", "--auto-approve", "--bucket-dir", bucketDir, "--poll-interval", "100ms", "--phase-timeout", "3m", "-o", "json"}, common...)
	code, out, stderr := runCSO(t, deployArgs...)
	agents.wg.Wait()
	if code != ExitFailure {
		t.Fatalf("deploy with a failing host: exit %d, want %d", code, ExitFailure)
	}
	if !strings.Contains(stderr, "host rabbitmq-server-2 failed at step service") {
		t.Errorf("the error does not name the host and the step:\n%s", tail(stderr, 10))
	}
	var rep deploy.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	wantStates := []string{deploy.Done, deploy.Done, deploy.Done, deploy.Failed, deploy.Skipped, deploy.Skipped}
	checkPhases(t, rep, wantStates)
	if rep.Phases[0].Name != deploy.Infrastructure || !strings.HasPrefix(rep.Phases[0].Detail, fmt.Sprintf("%d/%d resources", len(plan.Plan.Changes), len(plan.Plan.Changes))) {
		t.Errorf("infrastructure phase: %+v", rep.Phases[0])
	}
	if !strings.Contains(rep.Phases[3].Detail, "rabbitmq-server-2") || rep.Result != deploy.Failed {
		t.Errorf("report: %+v", rep)
	}
	if got := instancesInState(statePath); len(got) != len(hosts) {
		t.Fatalf("state holds %d instances, want %d", len(got), len(hosts))
	}
	checkPublished(t, bucketDir, env, statePath)
	// `cso check --env` describes the AWS environment from the same outputs (printed here:
	// its private addresses are not probed from this machine).
	ec2TargetFile = filepath.Join(t.TempDir(), "absent", target.FileName)
	code, described, _ := runCSO(t, append([]string{"check", "--print-target"}, common[:len(common)-1]...)...) // check reads outputs, no --allow-placeholders
	if published, _ := os.ReadFile(filepath.Join(bucketDir, deploy.TargetKey)); code != ExitOK || described != string(published) {
		t.Errorf("cso check --env dev-ha --print-target: exit %d, and it differs from the published description:\n%s", code, described)
	}
	if !strings.HasPrefix(rep.Phases[1].Detail, "published to "+bucketDir+": updated scripts/env.dev-ha.yaml, scripts/target.json, bin/cso") {
		t.Errorf("publish phase: %+v", rep.Phases[1])
	}

	// The operator fixes the host and reruns its agent; the second deploy has nothing to
	// change in Terraform and completes every phase.
	if err := agents.publish(ctx, hosts[indexOf(hosts, "rabbitmq-server-2")], ""); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCSO(t, deployArgs...)
	if code != ExitOK {
		t.Fatalf("second deploy: exit %d, want 0", code)
	}
	rep = deploy.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	checkPhases(t, rep, []string{deploy.NoChanges, deploy.Done, deploy.Done, deploy.Done, deploy.Done, deploy.Done})
	if !strings.HasSuffix(rep.Phases[1].Detail, ": unchanged scripts/env.dev-ha.yaml, scripts/target.json, bin/cso") {
		t.Errorf("a re-deploy uploaded again: %+v", rep.Phases[1])
	}
	if rep.Result != deploy.Done {
		t.Errorf("result %q", rep.Result)
	}

	// And plan now says: no changes, exit 0.
	if code, _, _ := runCSO(t, append([]string{"plan"}, common...)...); code != ExitOK {
		t.Errorf("plan after deploy: exit %d, want 0 (no changes)", code)
	}
}

func indexOf(hosts []inventory.Host, name string) int {
	for i, h := range hosts {
		if h.Name == name {
			return i
		}
	}
	panic(name)
}

func checkPhases(t *testing.T, rep deploy.Report, want []string) {
	t.Helper()
	if len(rep.Phases) != len(want) {
		t.Fatalf("phases %+v, want states %v", rep.Phases, want)
	}
	for i, p := range rep.Phases {
		if p.State != want[i] {
			t.Errorf("phase %d %s: %s (%s), want %s", i, p.Name, p.State, p.Detail, want[i])
		}
	}
}

var _ = fs.ErrNotExist

// stackDir is the Terraform stack the end-to-end tests deploy: the real terraform/ unless
// CSO_TEST_STACK names another (internal/deploy/testdata/stack is a small stand-in).
func stackDir(t *testing.T) string {
	if d := os.Getenv("CSO_TEST_STACK"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "terraform")
}

func TestReplaceAndDestroy(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	w := h.Workdir(t, stackDir(t))
	envDir, env := localEnv(t, "dev-ha")
	statePath, _ := deploy.LocalWorkspaceState(env)
	bucketDir := t.TempDir()
	statusDir := filepath.Join(bucketDir, "status")
	fakeJumpChecks(t, status.Dir{Path: statusDir}, env.Name, inventory.Hosts(env))
	hosts := inventory.Hosts(env)
	// The committed env files hold example values; the offline stack accepts them.
	common := []string{"--env", "dev-ha", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--allow-placeholders"}
	wait := []string{"--bucket-dir", bucketDir, "--poll-interval", "100ms", "--phase-timeout", "3m"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	agents := &fakeAgents{store: status.Dir{Path: statusDir}, env: env, statePath: statePath}
	agents.start(ctx, t, hosts)
	if code, _, _ := runCSO(t, append(append([]string{"deploy", "--auto-approve"}, wait...), common...)...); code != ExitOK {
		t.Fatalf("deploy: exit %d", code)
	}
	agents.wg.Wait()
	serial := stateSerial(statePath)

	// The operator declines: nothing changes.
	replace := append(append([]string{"replace", "keystone02", "-o", "json"}, wait...), common...)
	code, _, stderr := runCSOIn(t, "n\n", replace...)
	if code != ExitAborted || !strings.Contains(stderr, "Apply these changes to dev-ha? [y/N]") {
		t.Fatalf("declined replace: exit %d", code)
	}
	if stateSerial(statePath) != serial {
		t.Fatal("a declined replace changed the state")
	}
	if code, _, _ := runCSOIn(t, "", "replace", "keystone07", "--auto-approve", "--allow-placeholders", "--env", "dev-ha", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--bucket-dir", bucketDir); code != ExitUsage {
		t.Errorf("replace of an unknown host: exit %d, want 2", code)
	}

	// Confirmed: the instance is replaced, its old status is cleared and the new host's
	// setup and health are waited for.
	agents = &fakeAgents{store: status.Dir{Path: statusDir}, env: env, statePath: statePath, afterSerial: stateSerial(statePath)}
	agents.start(ctx, t, []inventory.Host{hosts[indexOf(hosts, "keystone02")]})
	code, out, _ := runCSOIn(t, "yes\n", replace...)
	agents.wg.Wait()
	if code != ExitOK {
		t.Fatalf("replace: exit %d", code)
	}
	var rep deploy.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// Exactly one resource is replaced (its DNS record, alarms... may be updated in place).
	var replaced []string
	for _, c := range rep.Plan.Changes {
		if c.Action != "update" {
			replaced = append(replaced, c.Action+" "+c.Address)
		}
	}
	if len(replaced) != 1 || !strings.HasPrefix(replaced[0], "replace ") || !strings.HasSuffix(replaced[0], `aws_instance.this["keystone02"]`) {
		t.Errorf("replace plan: %v", replaced)
	}
	checkPhases(t, rep, []string{deploy.Done, deploy.Done, deploy.Skipped, deploy.Done, deploy.Skipped, deploy.Done})
	if want := fmt.Sprintf("%d/%d resources: 1 to add, %d to change, 1 to destroy", len(rep.Plan.Changes), len(rep.Plan.Changes), rep.Plan.Change); rep.Phases[0].Detail != want {
		t.Errorf("infrastructure: %+v", rep.Phases[0])
	}

	// destroy asks for the environment's name; anything else stops it.
	destroy := append([]string{"destroy"}, common...)
	if code, _, _ := runCSOIn(t, "dev\n", destroy...); code != ExitAborted {
		t.Fatalf("destroy with the wrong name: exit %d, want %d", code, ExitAborted)
	}
	if len(instanceIDs(statePath)) != len(hosts) {
		t.Fatal("a declined destroy destroyed something")
	}
	code, out, _ = runCSOIn(t, "dev-ha\n", destroy...)
	if code != ExitOK {
		t.Fatalf("destroy: exit %d", code)
	}
	if !strings.Contains(out, "infrastructure") || len(instanceIDs(statePath)) != 0 {
		t.Errorf("after destroy: %d instances left\n%s", len(instanceIDs(statePath)), out)
	}
}

// A failing apply: Terraform's error is reported with the resource, the later phases are
// skipped, exit 1; the state keeps what was created and the next deploy completes.
func TestDeployApplyFails(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	w := h.Workdir(t, filepath.Join("..", "deploy", "testdata", "stack"))
	envDir, env := localEnv(t, "dev")
	statePath, _ := deploy.LocalWorkspaceState(env)
	bucketDir := t.TempDir()
	statusDir := filepath.Join(bucketDir, "status")
	fakeJumpChecks(t, status.Dir{Path: statusDir}, env.Name, inventory.Hosts(env))
	args := []string{"deploy", "--env", "dev", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--auto-approve", "--allow-placeholders",
		"--bucket-dir", bucketDir, "--poll-interval", "100ms", "--phase-timeout", "2m", "-o", "json"}

	t.Setenv("CSO_TEST_FAIL_APPLY", "1")
	code, out, stderr := runCSO(t, args...)
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "terraform apply failed: terraform_data.slow: local-exec provisioner error") || !strings.Contains(stderr, "simulated AWS error") {
		t.Errorf("the error does not carry Terraform's diagnostic:\n%s", tail(stderr, 5))
	}
	var rep deploy.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	checkPhases(t, rep, []string{deploy.Failed, deploy.Skipped, deploy.Skipped, deploy.Skipped, deploy.Skipped, deploy.Skipped})
	if n := len(instancesInState(statePath)); n != 0 {
		t.Errorf("%d instances created after the failed resource they depend on", n)
	}

	t.Setenv("CSO_TEST_FAIL_APPLY", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	agents := &fakeAgents{store: status.Dir{Path: statusDir}, env: env, statePath: statePath}
	agents.start(ctx, t, inventory.Hosts(env))
	code, _, _ = runCSO(t, args...)
	agents.wg.Wait()
	if code != ExitOK {
		t.Fatalf("deploy after the cause is gone: exit %d", code)
	}
}

// checkPublished asserts what a deploy published to the bucket directory: this executable
// as bin/cso, the env file, and the target description built from the Terraform outputs
// in the state (every host with its private address, the CA, the database, the bucket).
func checkPublished(t *testing.T, bucketDir string, env *envfile.Env, statePath string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{deploy.AgentBinaryKey: exe, deploy.EnvFileKey(env.Name): env.Path} {
		got, err := os.ReadFile(filepath.Join(bucketDir, key))
		if err != nil {
			t.Fatalf("published %s: %v", key, err)
		}
		w, _ := os.ReadFile(want)
		if !bytes.Equal(got, w) {
			t.Errorf("published %s differs from %s", key, want)
		}
	}
	tg, err := target.Load(filepath.Join(bucketDir, deploy.TargetKey))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Outputs map[string]struct{ Value json.RawMessage }
	}
	data, _ := os.ReadFile(statePath)
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	var outHosts map[string]struct {
		PrivateIP string `json:"private_ip"`
	}
	var db struct{ Endpoint string }
	var ca string
	_ = json.Unmarshal(st.Outputs["hosts"].Value, &outHosts)
	_ = json.Unmarshal(st.Outputs["database"].Value, &db)
	_ = json.Unmarshal(st.Outputs["root_ca_certificate_pem"].Value, &ca)
	if tg.Env != env.Name || tg.Kind != target.KindAWS || tg.Region != env.Region || tg.StatusBucket != env.FilesBucket() {
		t.Errorf("target: env %q kind %q region %q bucket %q", tg.Env, tg.Kind, tg.Region, tg.StatusBucket)
	}
	if tg.MySQL == "" || tg.MySQL != db.Endpoint || ca == "" || tg.CAPEM != ca {
		t.Errorf("target: mysql %q (output %q), CA from the outputs: %v", tg.MySQL, db.Endpoint, tg.CAPEM == ca)
	}
	hosts := inventory.Hosts(env)
	if len(tg.Hosts) != len(hosts) {
		t.Fatalf("target has %d hosts, the env file %d", len(tg.Hosts), len(hosts))
	}
	for i, h := range tg.Hosts {
		if h.Name != hosts[i].Name || h.Address == "" || h.Address != outHosts[h.Name].PrivateIP || len(h.Ports) == 0 {
			t.Errorf("target host %d: %s at %q (output %q), ports %v", i, h.Name, h.Address, outHosts[h.Name].PrivateIP, h.Ports)
		}
	}
}

// cso plan --out keeps the plan, shown resource by resource; cso deploy --plan applies
// exactly that plan, and refuses one of another environment, one made before the env file
// changed, and one made before the state changed (Terraform's stale-plan check): exit 2,
// nothing changed.
func TestSavedPlan(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	w := h.Workdir(t, filepath.Join("..", "deploy", "testdata", "stack"))
	envDir, env := localEnv(t, "dev")
	statePath, _ := deploy.LocalWorkspaceState(env)
	bucketDir := t.TempDir()
	common := []string{"--env", "dev", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--allow-placeholders"}
	wait := []string{"--auto-approve", "--bucket-dir", bucketDir, "--poll-interval", "100ms", "--phase-timeout", "2m"}
	plans := t.TempDir()
	first, second := filepath.Join(plans, "first.tfplan"), filepath.Join(plans, "second.tfplan")

	code, out, _ := runCSO(t, append([]string{"plan", "--out", first, "-o", "json"}, common...)...)
	if code != ExitChanges {
		t.Fatalf("plan --out: exit %d, want %d", code, ExitChanges)
	}
	var doc struct {
		Plan     deploy.Summary
		PlanFile string `json:"plan_file"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	if doc.PlanFile != first {
		t.Errorf("plan_file %q, want %q", doc.PlanFile, first)
	}
	var vpc *deploy.Change
	for i, c := range doc.Plan.Changes {
		if c.Address == "aws_vpc.main" {
			vpc = &doc.Plan.Changes[i]
		}
	}
	if vpc == nil || vpc.Action != "create" {
		t.Fatalf("plan JSON lacks the VPC's creation: %+v", doc.Plan.Changes)
	}
	attrs := map[string]string{}
	for _, a := range vpc.Attributes {
		attrs[a.Path] = a.After
	}
	if attrs["cidr_block"] != `"`+env.VPCCIDR+`"` || attrs["id"] != deploy.KnownAfterApply {
		t.Errorf("VPC attributes: %+v", vpc.Attributes)
	}
	if fi, err := os.Stat(first); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	code, out, _ = runCSO(t, append([]string{"plan", "--out", second}, common...)...)
	if code != ExitChanges || !strings.Contains(out, "+   create  aws_vpc.main") || !strings.Contains(out, "cidr_block") ||
		!strings.Contains(out, "cso deploy --env dev --plan "+second) {
		t.Errorf("plan --out text: exit %d\n%s", code, out)
	}

	// Another environment's deploy refuses the plan before Terraform changes anything.
	otherDir, _ := localEnv(t, "dev-ha")
	code, _, stderr := runCSO(t, append([]string{"deploy", "--plan", first, "--env", "dev-ha", "--env-dir", otherDir, "--terraform-dir", w.Dir(), "--allow-placeholders"}, wait...)...)
	if code != ExitUsage || !strings.Contains(stderr, "it was made for the env file "+env.Path) {
		t.Errorf("deploy of another environment's plan: exit %d, want 2 naming the env file", code)
	}

	// The plan is applied as saved, with the phases after apply as usual.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fakeJumpChecks(t, status.Dir{Path: filepath.Join(bucketDir, "status")}, env.Name, inventory.Hosts(env))
	agents := &fakeAgents{store: status.Dir{Path: filepath.Join(bucketDir, "status")}, env: env, statePath: statePath}
	agents.start(ctx, t, inventory.Hosts(env))
	code, out, stderr = runCSO(t, append(append([]string{"deploy", "--plan", first, "-o", "json"}, wait...), common...)...)
	agents.wg.Wait()
	if code != ExitOK {
		t.Fatalf("deploy --plan: exit %d", code)
	}
	if strings.Contains(stderr, "planning dev") || !strings.Contains(stderr, "reading the saved plan "+first) {
		t.Errorf("deploy --plan planned again:\n%s", tail(stderr, 20))
	}
	var rep deploy.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	checkPhases(t, rep, []string{deploy.Done, deploy.Done, deploy.Done, deploy.Done, deploy.Done, deploy.Done})
	if len(rep.Plan.Changes) != len(doc.Plan.Changes) || len(instancesInState(statePath)) != len(inventory.Hosts(env)) {
		t.Errorf("applied %d changes (plan had %d), %d instances", len(rep.Plan.Changes), len(doc.Plan.Changes), len(instancesInState(statePath)))
	}

	// The second plan was made before that apply: Terraform refuses it as stale.
	serial := stateSerial(statePath)
	code, _, stderr = runCSO(t, append(append([]string{"deploy", "--plan", second}, wait...), common...)...)
	if code != ExitUsage || !strings.Contains(stderr, "Saved plan is stale") || !strings.Contains(stderr, "plan again") {
		t.Errorf("stale plan: exit %d, want 2 saying Terraform refused it as stale", code)
	}
	if stateSerial(statePath) != serial {
		t.Error("a stale plan changed the state")
	}

	// A plan made before the env file changed is refused too.
	code, _, _ = runCSO(t, append([]string{"plan", "--out", second}, common...)...)
	if code != ExitOK {
		t.Fatalf("plan after deploy: exit %d, want 0", code)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(env.Path, later, later); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCSO(t, append(append([]string{"deploy", "--plan", second}, wait...), common...)...)
	if code != ExitUsage || !strings.Contains(stderr, env.Path+" changed") {
		t.Errorf("plan older than the env file: exit %d, want 2", code)
	}
}

// fakeJumpChecks stands in for the jump server's agent on its resync timer: until the test
// ends, every 100 ms, it runs the check engine with one "setup status" probe per host,
// judged from the host's document in store, and publishes the report as the jump's agent
// does (publishChecks).
func fakeJumpChecks(t *testing.T, store status.Dir, env string, hosts []inventory.Host) {
	ctx := t.Context()
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var probes []check.Probe
			for _, h := range hosts {
				probes = append(probes, check.Probe{Check: "setup status", Target: h.Name, Host: h.Name, Run: func(ctx context.Context) check.Outcome {
					doc, err := store.Get(ctx, h.Name)
					if err != nil || doc.State != status.StateDone {
						return check.Outcome{Status: check.Fail, Detail: fmt.Sprintf("state %q (%v)", doc.State, err)}
					}
					return check.Outcome{Status: check.OK, Detail: "done"}
				}})
			}
			rep := check.Run(ctx, probes, time.Second)
			if data, err := json.Marshal(rep); err == nil && ctx.Err() == nil {
				_ = store.PutCheck(ctx, status.CheckReport{Host: "jump-server-1", Env: env, Started: rep.Started, Published: time.Now(), Report: data})
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}
