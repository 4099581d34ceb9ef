package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// journal is a driver that records what the rollout asks of each host, what the record
// gives the host at that moment (as the host's own agent would read it), and fails the
// hosts named in failOn at Check while they are given the new version.
type journal struct {
	store  Store
	failOn string
	steps  []string
}

func (j *journal) Drain(_ context.Context, h inventory.Host) error {
	j.steps = append(j.steps, "drain "+h.Name)
	return nil
}

func (j *journal) Converge(ctx context.Context, h inventory.Host, want apppkg.PackageRef) error {
	rec, err := j.store.Get(ctx)
	if err != nil {
		return err
	}
	got := "env file"
	if p := rec.For(h.Name); p != nil {
		got = p.Version
	}
	if want.Version != "" && got != want.Version || want.Version == "" && got != "env file" {
		return fmt.Errorf("the record gives %s %q, the rollout wants %q", h.Name, got, want.Version)
	}
	j.steps = append(j.steps, "converge "+h.Name+" "+got)
	return nil
}

func (j *journal) Check(ctx context.Context, h inventory.Host) error {
	rec, _ := j.store.Get(ctx)
	if h.Name == j.failOn && rec.For(h.Name) != nil && strings.HasSuffix(rec.For(h.Name).Version, "broken") {
		j.steps = append(j.steps, "check "+h.Name+" fails")
		return errors.New("http /health: HTTP 503")
	}
	j.steps = append(j.steps, "check "+h.Name)
	return nil
}

func (j *journal) Restore(_ context.Context, h inventory.Host) error {
	j.steps = append(j.steps, "restore "+h.Name)
	return nil
}

func TestDeployOneHostAtATimeRollbackAndLock(t *testing.T) {
	dir := t.TempDir()
	store := Store{Objects: deploy.DirStore{Dir: dir}, Bucket: agent.DirBucket{Dir: dir}}
	env := &envfile.Env{Name: "rel", DomainSuffix: "cso.test"}
	hosts := inventory.Local(env, inventory.LocalOptions{HA: true, AppHosts: 2})
	v2 := fixture.Build(t, t.TempDir(), func(m *apppkg.Manifest) { m.Version = "2.0.0" })
	broken := fixture.Build(t, t.TempDir(), func(m *apppkg.Manifest) { m.Version = "3.0.0-broken" })
	j := &journal{store: store, failOn: "frontend-server-2"}
	o := Options{Store: store, Driver: j, Hosts: hosts, By: "tester"}
	rec, err := Deploy(context.Background(), o, v2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for _, h := range []string{"frontend-server-1", "frontend-server-2", "backend-server-1", "backend-server-2"} {
		want = append(want, "drain "+h, "converge "+h+" 2.0.0", "check "+h, "restore "+h)
	}
	if !slices.Equal(j.steps, want) {
		t.Errorf("rollout steps:\n%s\nwant\n%s", strings.Join(j.steps, "\n"), strings.Join(want, "\n"))
	}
	if rec.Current == nil || rec.Current.Version != "2.0.0" || rec.Hosts != nil || rec.Rollout.State != apppkg.RolloutDone {
		t.Errorf("record after the rollout: %+v", rec)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rec.Current.Key))); err != nil {
		t.Errorf("the package is not published: %v", err)
	}

	// The broken version passes frontend-server-1's checks (the journal fails the second
	// host only), fails frontend-server-2's: that host goes back to 2.0.0, the backends are
	// never touched, and frontend-server-1 keeps what it got.
	j.steps = nil
	rec, err = Deploy(context.Background(), o, broken)
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Host != "frontend-server-2" {
		t.Fatalf("deploy of the broken version: %v", err)
	}
	want = []string{"drain frontend-server-1", "converge frontend-server-1 3.0.0-broken", "check frontend-server-1", "restore frontend-server-1",
		"drain frontend-server-2", "converge frontend-server-2 3.0.0-broken", "check frontend-server-2 fails",
		"converge frontend-server-2 2.0.0", "check frontend-server-2", "restore frontend-server-2"}
	if !slices.Equal(j.steps, want) {
		t.Errorf("failed rollout steps:\n%s\nwant\n%s", strings.Join(j.steps, "\n"), strings.Join(want, "\n"))
	}
	if rec.Current.Version != "2.0.0" || rec.Rollout.State != apppkg.RolloutRolledBack {
		t.Errorf("record after the failed rollout: current %v, state %s", rec.Current, rec.Rollout.State)
	}
	if p, ok := rec.Hosts["frontend-server-1"]; !ok || p.Version != "3.0.0-broken" {
		t.Errorf("frontend-server-1, done before the failure, must keep its version: %v", rec.Hosts)
	}
	if _, ok := rec.Hosts["frontend-server-2"]; ok {
		t.Errorf("the failed host must follow current again: %v", rec.Hosts)
	}
	states := map[string]string{}
	for _, h := range rec.Rollout.Hosts {
		states[h.Host] = h.State
	}
	if states["frontend-server-2"] != "rolled-back" || states["backend-server-1"] != "pending" || states["frontend-server-1"] != "done" {
		t.Errorf("host states: %v", states)
	}

	// An unfinished rollout is a lock: nothing is published, the record is unchanged.
	rec.Rollout.State = apppkg.RolloutRunning
	if err := store.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "packages", "release.json"))
	pkgs, _ := filepath.Glob(filepath.Join(dir, "packages", "*"))
	j.steps = nil
	v4 := fixture.Build(t, t.TempDir(), func(m *apppkg.Manifest) { m.Version = "4.0.0" })
	_, err = Deploy(context.Background(), o, v4)
	var be *BusyError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "unfinished") {
		t.Fatalf("deploy during an unfinished rollout: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "packages", "release.json"))
	pkgs2, _ := filepath.Glob(filepath.Join(dir, "packages", "*"))
	if string(before) != string(after) || len(pkgs) != len(pkgs2) || len(j.steps) != 0 {
		t.Errorf("a refused deploy changed something: record changed %v, packages %d -> %d, steps %v", string(before) != string(after), len(pkgs), len(pkgs2), j.steps)
	}
}
