package cli

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/tfharness"
)

// buildCSO builds the cso binary for tests that need a real process (signals).
func buildCSO(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cso")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cso")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cso: %v\n%s", err, out)
	}
	return bin
}

// Ctrl-C during apply: cso forwards SIGINT to Terraform, which stops cleanly; the state
// is intact and unlocked, cso exits 4, and a rerun completes. The stack is the small
// stand-in, whose terraform_data.slow takes $CSO_TEST_SLOW_SECONDS to create: a known
// point in the middle of the apply to interrupt at.
func TestInterruptDuringApply(t *testing.T) {
	h := tfharness.New(t)
	harnessEnv(t, h)
	bin := buildCSO(t)
	cases := []struct{ name, stack, marker string }{
		// The stand-in's terraform_data.slow runs for two minutes: a point in the middle
		// of the apply that is always there.
		{"stand-in stack, slow resource", filepath.Join("..", "deploy", "testdata", "stack"), "creating terraform_data.slow"},
		// The real stack: the first resource operation of an apply of some 380 resources.
		{"real stack, first resource", stackDir(t), "] creating "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testInterrupt(t, h, bin, c.stack, c.marker) })
	}
}

func testInterrupt(t *testing.T, h *tfharness.Harness, bin, stack, marker string) {
	w := h.Workdir(t, stack)
	envDir, env := localEnv(t, "dev-ha")
	statePath, err := deploy.LocalWorkspaceState(env)
	if err != nil {
		t.Fatal(err)
	}
	bucketDir := t.TempDir()
	statusDir := filepath.Join(bucketDir, "status")
	args := []string{"deploy", "--env", "dev-ha", "--env-dir", envDir, "--terraform-dir", w.Dir(), "--auto-approve", "--allow-placeholders",
		"--bucket-dir", bucketDir, "--poll-interval", "100ms", "--phase-timeout", "2m"}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CSO_TEST_SLOW_SECONDS=120")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		// Plain progress (stderr is not a terminal): one line per started resource.
		if !sent && strings.Contains(line, marker) {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	err = cmd.Wait()
	t.Logf("interrupted deploy:\n%s", log.String())
	if !sent {
		t.Fatalf("the apply never printed %q", marker)
	}
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != ExitAborted {
		t.Fatalf("interrupted deploy: %v, want exit %d", err, ExitAborted)
	}
	if !strings.Contains(log.String(), "interrupted during infrastructure") {
		t.Errorf("no 'interrupted during infrastructure' message")
	}

	// The state is intact and not locked: terraform state list works and holds what was
	// created before the interrupt, not the instances that come after terraform_data.slow.
	sl := exec.CommandContext(ctx, h.TerraformBin(), "state", "list")
	sl.Dir, sl.Env = w.Dir(), h.Env()
	outb, err := sl.CombinedOutput()
	if err != nil {
		t.Fatalf("terraform state list after the interrupt: %v\n%s", err, outb)
	}
	list := strings.Fields(string(outb))
	if len(list) == 0 || len(instancesInState(statePath)) == len(inventory.Hosts(env)) {
		t.Errorf("state after the interrupt holds %d resources and %d instances: the apply was not interrupted half-way", len(list), len(instancesInState(statePath)))
	}
	if _, err := os.Stat(statePath); err != nil {
		t.Errorf("workspace state file: %v", err)
	}

	// A rerun resumes: Terraform creates the rest, the agents report, every phase is done.
	fakeJumpChecks(t, status.Dir{Path: statusDir}, env.Name, inventory.Hosts(env))
	agents := &fakeAgents{store: status.Dir{Path: statusDir}, env: env, statePath: statePath, afterSerial: stateSerial(statePath)}
	agents.start(ctx, t, inventory.Hosts(env))
	code, _, stderrText := runCSO(t, args...)
	agents.wg.Wait()
	if code != ExitOK {
		t.Fatalf("rerun after interrupt: exit %d\n%s", code, stderrText)
	}
	if got := instancesInState(statePath); len(got) != len(inventory.Hosts(env)) {
		t.Errorf("after rerun the state holds %d instances", len(got))
	}
}
