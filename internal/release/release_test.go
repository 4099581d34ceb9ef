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
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
	"github.com/cso-ssp/platform/internal/status"
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

	// An unfinished rollout holds the deploy lock (its cso died): another deploy names the
	// holder and changes nothing, whatever the record says.
	dead, _, err := lease.TryAcquire(context.Background(), lease.Dir{Dir: dir}, lease.DeployKey, "alice@laptop", "cso app deploy 3.1.0", 0, time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	if err != nil || dead == nil {
		t.Fatal(err)
	}
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
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "unfinished") || !strings.Contains(err.Error(), "held by alice@laptop since 2026-12-05T09:00:00Z") ||
		!strings.Contains(err.Error(), "--break-lock") {
		t.Fatalf("deploy during an unfinished rollout: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "packages", "release.json"))
	pkgs2, _ := filepath.Glob(filepath.Join(dir, "packages", "*"))
	if string(before) != string(after) || len(pkgs) != len(pkgs2) || len(j.steps) != 0 {
		t.Errorf("a refused deploy changed something: record changed %v, packages %d -> %d, steps %v", string(before) != string(after), len(pkgs), len(pkgs2), j.steps)
	}

	// cso app status shows who holds it, so that the operator can judge before breaking it.
	st, err := ReadStatus(context.Background(), store, status.Dir{Path: t.TempDir()}, hosts)
	if err != nil || !st.Lock.Held() || st.Lock.Holder != "alice@laptop" {
		t.Fatalf("status: lock %+v, %v", st, err)
	}
	var text strings.Builder
	st.WriteText(&text)
	if !strings.Contains(text.String(), "deploy lock:     held by alice@laptop since 2026-12-05T09:00:00Z (cso app deploy 3.1.0)") {
		t.Errorf("status text:\n%s", text.String())
	}

	// --break-lock: says who held it since when, marks that rollout interrupted; then a
	// deploy goes through, and releases the lock at its end.
	now := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)
	was, err := BreakLock(context.Background(), store, "bob@desk", now)
	if err != nil || was.Holder != "alice@laptop" || !was.Since.Equal(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("break-lock: %+v %v", was, err)
	}
	rec, _ = store.Get(context.Background())
	if rec.Rollout.State != apppkg.RolloutInterrupted || !strings.Contains(rec.Rollout.Error, "broken by bob@desk") {
		t.Errorf("the broken rollout in the record: %s %q", rec.Rollout.State, rec.Rollout.Error)
	}
	if _, err := BreakLock(context.Background(), store, "bob@desk", now); !errors.Is(err, lease.ErrNotHeld) {
		t.Errorf("break-lock without a held lock: %v, want ErrNotHeld", err)
	}
	if rec, err = Deploy(context.Background(), o, v4); err != nil || rec.Current.Version != "4.0.0" {
		t.Fatalf("deploy after the break: %v", err)
	}
	if l, _, err := lease.Read(context.Background(), lease.Dir{Dir: dir}, lease.DeployKey); err != nil || l.Held() || l.Holder != "tester" {
		t.Errorf("the deploy lock after a finished rollout: %+v %v (want released, last held by tester)", l, err)
	}
}

// TestTwoDeploysAtOnceOneWins: two deploys started together: exactly one takes the lock
// (the conditional write), the other exits busy without touching anything.
func TestTwoDeploysAtOnceOneWins(t *testing.T) {
	dir := t.TempDir()
	store := Store{Objects: deploy.DirStore{Dir: dir}, Bucket: agent.DirBucket{Dir: dir}}
	env := &envfile.Env{Name: "rel", DomainSuffix: "cso.test"}
	hosts := inventory.Local(env, inventory.LocalOptions{AppHosts: 2})
	v2 := fixture.Build(t, t.TempDir(), func(m *apppkg.Manifest) { m.Version = "2.0.0" })
	gate := make(chan struct{})
	errs := make(chan error, 2)
	for _, who := range []string{"alice", "bob"} {
		go func() {
			<-gate
			_, err := Deploy(context.Background(), Options{Store: store, Driver: &slowJournal{journal: journal{store: store}}, Hosts: hosts, By: who}, v2)
			errs <- err
		}()
	}
	close(gate)
	var busy, ok int
	for range 2 {
		err := <-errs
		var be *BusyError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &be):
			busy++
		default:
			t.Errorf("deploy: %v", err)
		}
	}
	if ok != 1 || busy != 1 {
		t.Errorf("%d deploys went through and %d were refused, want 1 and 1", ok, busy)
	}
}

// slowJournal holds each host a moment, so that the two deploys overlap.
type slowJournal struct{ journal }

func (j *slowJournal) Drain(ctx context.Context, h inventory.Host) error {
	time.Sleep(100 * time.Millisecond)
	return j.journal.Drain(ctx, h)
}

// TestDeployRefusesAnotherApplication: the expected application name comes from what the
// environment runs (the record's current package), else from the env file's configured
// package; a package of another application is refused, nothing published or locked.
func TestDeployRefusesAnotherApplication(t *testing.T) {
	dir := t.TempDir()
	store := Store{Objects: deploy.DirStore{Dir: dir}, Bucket: agent.DirBucket{Dir: dir}}
	env := &envfile.Env{Name: "rel", DomainSuffix: "cso.test"}
	hosts := inventory.Local(env, inventory.LocalOptions{})
	other := fixture.Build(t, t.TempDir(), func(m *apppkg.Manifest) { m.Name = "another-app" })
	v1 := fixture.Build(t, t.TempDir())

	// No record yet: the env file's configured package names the application.
	_, err := Deploy(context.Background(), Options{Store: store, Driver: &journal{store: store}, Hosts: hosts, By: "t", App: "cso-fixture"}, other)
	var oe *OtherAppError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `"another-app", but the environment runs "cso-fixture" (the environment file's application.package)`) {
		t.Fatalf("another application without a record: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused deploy wrote %v", entries)
	}
	// After a release, the record's current package names it (the env file's says nothing).
	if _, err := Deploy(context.Background(), Options{Store: store, Driver: &journal{store: store}, Hosts: hosts, By: "t"}, v1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "packages", "release.json"))
	_, err = Deploy(context.Background(), Options{Store: store, Driver: &journal{store: store}, Hosts: hosts, By: "t"}, other)
	if !errors.As(err, &oe) || oe.Want != "cso-fixture" || !strings.Contains(err.Error(), "release record's current version cso-fixture") {
		t.Fatalf("another application after a release: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "packages", "release.json"))
	if string(before) != string(after) {
		t.Error("the refused deploy changed the record")
	}
}
