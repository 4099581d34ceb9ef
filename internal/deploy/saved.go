package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PlanFileError refuses a saved plan (cso deploy --plan): not a plan, made for another
// environment, made before the env file last changed, or refused by Terraform as stale.
// Nothing was applied.
type PlanFileError struct{ File, Reason string }

func (e *PlanFileError) Error() string {
	return fmt.Sprintf("saved plan %s: %s", e.File, e.Reason)
}

// CreatePlanFile makes (or truncates) path with mode 0600 before Terraform writes the
// plan into it: a plan holds every value of the configuration, secrets included, and
// Terraform itself creates plan files 0644 (0666 less the umask).
func CreatePlanFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(abs, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("plan file: %w", err)
	}
	f.Close()
	return abs, os.Chmod(abs, 0o600) // an existing file keeps its mode otherwise
}

// SavedPlan reads a plan file written by `cso plan --out` (after Init) and checks that it
// belongs to this environment: its env_file variable is this environment's env file, and
// that file has not changed since the plan was made (the plan holds the values the file
// had then, and the file is published to the hosts after the apply). Terraform checks the
// rest when it applies: a plan made before the state changed is refused as stale.
func (t *Terraform) SavedPlan(ctx context.Context, file string) (*Planned, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, &PlanFileError{File: file, Reason: err.Error()}
	}
	plan, err := t.tf.ShowPlanFile(ctx, abs)
	if err != nil {
		return nil, &PlanFileError{File: file, Reason: "not a plan Terraform can read (" + firstLine(strings.TrimSpace(err.Error())) + "); make one with cso plan --env " + t.Env.Name + " --out FILE"}
	}
	want, err := t.envFileVar()
	if err != nil {
		return nil, err
	}
	want = strings.TrimPrefix(want, "env_file=")
	var got string
	if v := plan.Variables["env_file"]; v != nil {
		got, _ = v.Value.(string)
	}
	if got != want {
		return nil, &PlanFileError{File: file, Reason: fmt.Sprintf("it was made for the env file %s, not %s (environment %s): plan this environment (cso plan --env %s --out FILE)", orNone(got), want, t.Env.Name, t.Env.Name)}
	}
	if made, err := time.Parse(time.RFC3339, plan.Timestamp); err == nil {
		if fi, err := os.Stat(want); err == nil && fi.ModTime().After(made.Add(time.Second)) {
			return nil, &PlanFileError{File: file, Reason: fmt.Sprintf("%s changed (%s) after the plan was made (%s): plan again (cso plan --env %s --out FILE)",
				want, fi.ModTime().UTC().Format(time.RFC3339), made.UTC().Format(time.RFC3339), t.Env.Name)}
		}
	}
	return &Planned{Changes: len(Summarize(plan).Changes) > 0, File: abs, Plan: plan, Summary: Summarize(plan)}, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// staleSummaries are the diagnostics with which Terraform refuses a saved plan
// (internal/backend/local/backend_local.go, Terraform 1.8).
var staleSummaries = []string{"Saved plan is stale", "Saved plan does not match the given state"}

// stalePlan returns a PlanFileError when Terraform refused the saved plan (in its -json
// diagnostics or its error), else nil.
func stalePlan(file string, diags []Diagnostic, err error) error {
	for _, s := range staleSummaries {
		found := err != nil && strings.Contains(err.Error(), s)
		for _, d := range diags {
			found = found || d.Summary == s
		}
		if found {
			return &PlanFileError{File: file, Reason: "Terraform refused it (" + s + "): the state changed after the plan was made; nothing was changed: plan again (cso plan --out FILE) and review the new plan"}
		}
	}
	return nil
}
