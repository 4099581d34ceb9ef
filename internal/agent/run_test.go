package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
)

type skipErr struct{}

func (skipErr) Error() string { return "no application package" }
func (skipErr) Skip() string  { return "no application package" }

type stepsRole struct{ steps []Step }

func (stepsRole) Role() envfile.Role               { return envfile.RoleBackend }
func (r stepsRole) Steps(*Runtime) ([]Step, error) { return r.steps, nil }

func TestRunSkipsStepsThatDoNotApply(t *testing.T) {
	var applied int
	role := stepsRole{steps: []Step{
		{Name: "package", Tasks: []Task{FuncTask{TaskName: "pkg",
			CheckFunc: func(context.Context, *Runtime) (Change, error) { return Change{}, skipErr{} },
			ApplyFunc: func(context.Context, *Runtime) error { return nil }}}},
		{Name: "after", Tasks: []Task{countTask{name: "x", needed: true, applied: &applied}}},
	}}
	var out bytes.Buffer
	store := status.Dir{Path: t.TempDir()}
	rt := &Runtime{Env: &envfile.Env{Name: "dev"}, Host: inventory.Host{Name: "backend-server-1", Role: envfile.RoleBackend}, Progress: &out}
	res, err := Run(context.Background(), rt, role, store)
	if err != nil {
		t.Fatalf("a skipped step failed the run: %v", err)
	}
	if len(res.Skipped) != 1 || applied != 1 {
		t.Errorf("skipped %v, later step applied %d times", res.Skipped, applied)
	}
	doc, _ := store.Get(context.Background(), "backend-server-1")
	if doc.State != status.StateDone || doc.Steps[0].State != status.StateSkipped || doc.Steps[0].Detail != "no application package" {
		t.Errorf("published %+v", doc)
	}
	if !strings.Contains(out.String(), "package: skipped: no application package") {
		t.Errorf("progress:\n%s", out.String())
	}
	// The document carries the newest progress lines, exactly as the log has them.
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(doc.Log) == 0 || strings.Join(doc.Log, "\n") != strings.Join(lines[len(lines)-len(doc.Log):], "\n") {
		t.Errorf("status log %q, progress %q", doc.Log, lines)
	}
	if rt.Progress != &out {
		t.Error("Run did not give the runtime its progress writer back")
	}
	// The document says which cso build wrote it (`cso check` compares the hosts').
	if want := buildinfo.Read(); doc.Agent == nil || !buildinfo.Same(*doc.Agent, want) || doc.Agent.Version == "" {
		t.Errorf("published agent version %+v, want %+v", doc.Agent, want)
	}
}

func TestLineTailKeepsTheNewestCompleteLines(t *testing.T) {
	l := &lineTail{max: 3}
	for _, w := range []string{"one\ntw", "o\nthree\n", "four\nfive\nsix", "\n", "partial"} {
		if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatal(n, err)
		}
	}
	if got := strings.Join(l.lines(), "|"); got != "four|five|six" {
		t.Errorf("kept %q", got)
	}
}

// TestVerboseShowsUnchangedTasks: -v adds a line for every task that found nothing to do;
// without it only changes are listed.
func TestVerboseShowsUnchangedTasks(t *testing.T) {
	var applied int
	role := stepsRole{steps: []Step{{Name: "config", Tasks: []Task{
		countTask{name: "file /etc/x.conf", needed: false, applied: &applied},
		countTask{name: "file /etc/y.conf", needed: true, applied: &applied},
	}}}}
	for _, verbose := range []bool{false, true} {
		var out bytes.Buffer
		rt := &Runtime{Env: &envfile.Env{Name: "dev"}, Host: inventory.Host{Name: "backend-server-1", Role: envfile.RoleBackend},
			Progress: &out, Verbose: verbose}
		if _, err := Run(context.Background(), rt, role, nil); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if !strings.Contains(got, "backend-server-1   do file /etc/y.conf\n") {
			t.Errorf("verbose=%v: the change is not listed:\n%s", verbose, got)
		}
		if has := strings.Contains(got, "backend-server-1   unchanged: file /etc/x.conf\n"); has != verbose {
			t.Errorf("verbose=%v: unchanged task listed: %v\n%s", verbose, has, got)
		}
	}
}
