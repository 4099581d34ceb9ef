// Package release rolls a new application package across an environment's frontend and
// backend hosts without downtime (`cso app deploy`), and says which version runs where
// (`cso app status`).
//
// The package is published to the bucket's packages/ and recorded in the release record
// (apppkg.ReleaseKey), which every frontend and backend host reads before the env file's
// application.package. The rollout goes one host at a time: the host leaves the load
// balancer, the record gives it (and only it) the new version, it converges and passes its
// health checks, and it rejoins. A host that fails gets the previous version back and the
// rollout stops, the other hosts untouched. One rollout at a time: the deploy lease
// (lease.DeployKey, a conditional write in the bucket) is the lock; a second deploy while it
// is held changes nothing (BusyError, exit 2), and BreakLock ends a lease whose rollout died.
package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/lease"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/userfile"
)

// Store is the environment's bucket as a release uses it: objects are written through
// deploy's publishing (S3 or the local bucket directory) and read as the hosts read them.
type Store struct {
	Objects deploy.ObjectStore
	Bucket  agent.Bucket
	// Lease holds the deploy lock; nil: the lease store of Bucket.
	Lease lease.Store
}

func (s Store) leases() (lease.Store, error) {
	if s.Lease != nil {
		return s.Lease, nil
	}
	return lease.ForBucket(s.Bucket)
}

// Get returns the record (an empty one when no release was ever made).
func (s Store) Get(ctx context.Context) (*apppkg.Release, error) {
	r, err := apppkg.ReadRelease(ctx, s.Bucket)
	if err != nil || r != nil {
		return r, err
	}
	return &apppkg.Release{}, nil
}

// Put replaces the record.
func (s Store) Put(ctx context.Context, r *apppkg.Release) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = deploy.Publish(ctx, s.Objects, []deploy.Artifact{{Key: apppkg.ReleaseKey, Data: append(data, '\n')}})
	return err
}

// Driver is how a rollout acts on one host of the environment (Local, AWS).
type Driver interface {
	// Drain takes h out of the load balancer and waits for its in-flight requests; a host
	// behind none (a backend) has nothing to drain.
	Drain(ctx context.Context, h inventory.Host) error
	// Converge makes h run what the record gives it, and returns once it does (or failed).
	Converge(ctx context.Context, h inventory.Host, want apppkg.PackageRef) error
	// Check runs h's health checks: nil when every one passes.
	Check(ctx context.Context, h inventory.Host) error
	// Restore puts h back into the load balancer and waits until it takes traffic.
	Restore(ctx context.Context, h inventory.Host) error
}

// BusyError: a rollout is unfinished (the deploy lock is held); nothing was changed.
type BusyError struct {
	Holder lease.Record
	Where  string // the lock object
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("a rollout is unfinished: the deploy lock %s is held by %s; wait for it to end (cso app status), or, if that rollout's cso died, run cso app deploy --break-lock; nothing was changed",
		e.Where, e.Holder.String())
}

// FailedError: a host failed; it was given the previous version back.
type FailedError struct {
	Host   string
	Reason error
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%s failed the new version (%v): it was rolled back to the previous version, the rollout stopped, the other hosts are untouched", e.Host, e.Reason)
}

func (e *FailedError) Unwrap() error { return e.Reason }

// Options of one rollout.
type Options struct {
	Store  Store
	Driver Driver
	// Hosts of the environment; the rollout takes its frontend and backend hosts.
	Hosts []inventory.Host
	// By names the operator in the record.
	By string
	// App is the application the environment file configures (its package's manifest
	// name); the release record's current package, when there is one, names it instead.
	// A package of another application is refused (OtherAppError). "": not known.
	App string
	Out io.Writer
	Now func() time.Time
}

// OtherAppError: the package is of another application than the environment runs;
// nothing was changed.
type OtherAppError struct {
	Package, Want, Source string
}

func (e *OtherAppError) Error() string {
	return fmt.Sprintf("the package is application %q, but the environment runs %q (%s): not deploying another application; nothing was changed",
		e.Package, e.Want, e.Source)
}

// OpenPackage reads and verifies a package file the operator names (a regular file,
// bounded, its manifest valid) and returns it with the key it is published under:
// packages/<name>-<version>-<sha12>.tar.gz, so that no release overwrites another (the
// previous one stays for a rollback).
func OpenPackage(file string) (*apppkg.Package, apppkg.PackageRef, error) {
	p, err := apppkg.Open(file)
	if err != nil {
		return nil, apppkg.PackageRef{}, err
	}
	m := p.Manifest
	ref := apppkg.PackageRef{Name: m.Name, Version: m.Version, SHA256: p.SHA256,
		Key: fmt.Sprintf("packages/%s-%s-%s.tar.gz", m.Name, m.Version, p.SHA256[:12])}
	return p, ref, nil
}

// Targets are the hosts a rollout goes through, in order: frontends, then backends.
func Targets(hosts []inventory.Host) []inventory.Host {
	var out []inventory.Host
	for _, r := range []envfile.Role{envfile.RoleFrontend, envfile.RoleBackend} {
		hs := inventory.ByRole(hosts, r)
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].Index < hs[j].Index })
		out = append(out, hs...)
	}
	return out
}

// Deploy publishes the package file, records it and rolls it across the hosts. The record
// is the lock: BusyError when a rollout is unfinished (nothing changed).
func Deploy(ctx context.Context, o Options, file string) (*apppkg.Release, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	_, ref, err := OpenPackage(file)
	if err != nil {
		return nil, err
	}
	if cur, err := o.Store.Get(ctx); err != nil {
		return nil, err
	} else if want, source := expectedApp(cur, o.App); want != "" && want != ref.Name {
		return cur, &OtherAppError{Package: ref.Name, Want: want, Source: source}
	}
	leases, err := o.Store.leases()
	if err != nil {
		return nil, err
	}
	// Never taken over by age: a rollout may rightly take hours (BreakLock is the way out).
	lock, holder, err := lease.TryAcquire(ctx, leases, lease.DeployKey, o.By, "cso app deploy "+ref.String(), 0, o.Now())
	if err != nil {
		return nil, err
	}
	if holder != nil {
		rec, _ := o.Store.Get(ctx)
		return rec, &BusyError{Holder: *holder, Where: leases.Describe() + "/" + lease.DeployKey}
	}
	defer func() {
		// Whatever the outcome, this rollout is over; the rollback ignored an interrupt, so
		// does the release.
		if err := lock.Release(context.WithoutCancel(ctx), o.Now()); err != nil {
			fmt.Fprintf(o.Out, "warning: %v\n", err)
		}
	}()
	return rollOut(ctx, o, file, ref)
}

// rollOut publishes the package file, records the rollout and takes it across the hosts one
// at a time, then records it done; the caller holds the deploy lock.
func rollOut(ctx context.Context, o Options, file string, ref apppkg.PackageRef) (*apppkg.Release, error) {
	rec, err := o.Store.Get(ctx)
	if err != nil {
		return nil, err
	}
	hosts := Targets(o.Hosts)
	if len(hosts) == 0 {
		return rec, errors.New("the environment has no frontend or backend host to deploy to")
	}
	data, err := userfile.Read(file, apppkg.MaxTotalSize)
	if err != nil {
		return rec, err
	}
	sum, err := deploy.Publish(ctx, o.Store.Objects, []deploy.Artifact{{Key: ref.Key, Data: data}})
	if err != nil {
		return rec, err
	}
	fmt.Fprintln(o.Out, sum)
	now := o.Now()
	ro := &apppkg.Rollout{Package: ref, Previous: rec.Current, By: o.By, State: apppkg.RolloutRunning, StartedAt: now, UpdatedAt: now}
	for _, h := range hosts {
		ro.Hosts = append(ro.Hosts, apppkg.HostRollout{Host: h.Name, State: "pending"})
	}
	// Hosts a failed rollout left on its version keep their entries until this one reaches them.
	if rec.Hosts == nil {
		rec.Hosts = map[string]apppkg.PackageRef{}
	}
	rec.Rollout = ro
	if err := o.Store.Put(ctx, rec); err != nil {
		return rec, err
	}
	fmt.Fprintf(o.Out, "release %s: rolling across %d hosts, one at a time\n", ref, len(hosts))
	r := &roller{o: o, rec: rec}
	for i, h := range hosts {
		if err := r.host(ctx, i, h, ref); err != nil {
			return rec, err
		}
	}
	now = o.Now()
	rec.Current, rec.Hosts = &ref, nil
	ro.State, ro.UpdatedAt, ro.FinishedAt = apppkg.RolloutDone, now, now
	if err := o.Store.Put(ctx, rec); err != nil {
		return rec, err
	}
	fmt.Fprintf(o.Out, "release %s: done, every host runs it\n", ref)
	return rec, nil
}

// expectedApp is the application name a new release must have: the record's current
// package's, else the env file's configured package's.
func expectedApp(rec *apppkg.Release, configured string) (name, source string) {
	if rec != nil && rec.Current != nil && rec.Current.Name != "" {
		return rec.Current.Name, "the release record's current version " + rec.Current.String()
	}
	return configured, "the environment file's application.package"
}

// BreakLock ends the deploy lock of a rollout whose cso died (its machine, its session):
// it returns who held the lock and since when, and marks the record's rollout, if it says
// running, interrupted. lease.ErrNotHeld (with the last holder, if any) when no lock is
// held: nothing is changed.
func BreakLock(ctx context.Context, s Store, by string, now time.Time) (*lease.Record, error) {
	leases, err := s.leases()
	if err != nil {
		return nil, err
	}
	was, err := lease.Break(ctx, leases, lease.DeployKey, by, now)
	if err != nil {
		return was, err
	}
	rec, err := s.Get(ctx)
	if err != nil {
		return was, err
	}
	if ro := rec.Rollout; ro != nil && ro.State == apppkg.RolloutRunning {
		ro.State, ro.UpdatedAt, ro.FinishedAt = apppkg.RolloutInterrupted, now, now
		ro.Error = fmt.Sprintf("interrupted: the deploy lock of %s was broken by %s at %s", was.String(), by, now.UTC().Format(time.RFC3339))
		if err := s.Put(ctx, rec); err != nil {
			return was, err
		}
	}
	return was, nil
}

type roller struct {
	o   Options
	rec *apppkg.Release
	// before is the record's own entry for the host being updated (left by an earlier
	// failed rollout), which a rollback restores; nil: the host follows current.
	before *apppkg.PackageRef
}

// mark records host i's state.
func (r *roller) mark(ctx context.Context, i int, state, detail string) error {
	now := r.o.Now()
	hr := &r.rec.Rollout.Hosts[i]
	hr.State, hr.Detail, hr.At = state, detail, now
	r.rec.Rollout.UpdatedAt = now
	line := fmt.Sprintf("%s %s: %s", now.Format(time.RFC3339), hr.Host, state)
	if detail != "" {
		line += ": " + detail
	}
	fmt.Fprintln(r.o.Out, line)
	return r.o.Store.Put(ctx, r.rec)
}

func (r *roller) host(ctx context.Context, i int, h inventory.Host, ref apppkg.PackageRef) error {
	d := r.o.Driver
	if err := r.mark(ctx, i, "draining", ""); err != nil {
		return err
	}
	if err := d.Drain(ctx, h); err != nil {
		// Nothing changed on the host yet: put it back and stop.
		return r.fail(ctx, i, h, fmt.Errorf("drain: %w", err), false)
	}
	var before *apppkg.PackageRef
	if p, ok := r.rec.Hosts[h.Name]; ok {
		before = &p
	}
	r.before = before
	r.rec.Hosts[h.Name] = ref
	if err := r.mark(ctx, i, "updating", ref.String()); err != nil {
		return err
	}
	if err := d.Converge(ctx, h, ref); err != nil {
		return r.fail(ctx, i, h, err, true)
	}
	if err := r.mark(ctx, i, "checking", ""); err != nil {
		return err
	}
	if err := d.Check(ctx, h); err != nil {
		return r.fail(ctx, i, h, fmt.Errorf("health checks: %w", err), true)
	}
	if err := d.Restore(ctx, h); err != nil {
		return r.fail(ctx, i, h, fmt.Errorf("rejoin: %w", err), true)
	}
	return r.mark(ctx, i, "done", ref.String())
}

// fail stops the rollout at host h: when it was given the new version, the record gives
// it the previous one again and it converges back, passes its checks and rejoins.
func (r *roller) fail(ctx context.Context, i int, h inventory.Host, cause error, revert bool) error {
	// The rollback must happen even when the operator interrupted the rollout.
	ctx = context.WithoutCancel(ctx)
	ro := r.rec.Rollout
	ro.State, ro.Error = apppkg.RolloutRolledBack, fmt.Sprintf("%s: %v", h.Name, cause)
	_ = r.mark(ctx, i, "failed", cause.Error())
	var problems []error
	if revert {
		back := r.rec.Current
		if r.before != nil {
			r.rec.Hosts[h.Name], back = *r.before, r.before
		} else {
			delete(r.rec.Hosts, h.Name)
		}
		prev := "the env file's application package"
		want := apppkg.PackageRef{}
		if back != nil {
			prev, want = back.String(), *back
		}
		if err := r.mark(ctx, i, "rolling back", prev); err != nil {
			problems = append(problems, err)
		}
		if err := r.o.Driver.Converge(ctx, h, want); err != nil {
			problems = append(problems, fmt.Errorf("rollback: %w", err))
		} else if err := r.o.Driver.Check(ctx, h); err != nil {
			problems = append(problems, fmt.Errorf("rollback health checks: %w", err))
		}
	}
	if len(problems) == 0 {
		if err := r.o.Driver.Restore(ctx, h); err != nil {
			problems = append(problems, fmt.Errorf("rejoin after rollback: %w", err))
		}
	}
	now := r.o.Now()
	ro.FinishedAt, ro.UpdatedAt = now, now
	state, detail := "rolled-back", "runs the previous version again"
	if len(problems) > 0 {
		state, detail = "failed", errors.Join(problems...).Error()
		ro.Error += "; " + detail
	}
	if err := r.mark(ctx, i, state, detail); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w; and the rollback did not complete: %v", &FailedError{Host: h.Name, Reason: cause}, errors.Join(problems...))
	}
	return &FailedError{Host: h.Name, Reason: cause}
}

// HostVersion is what one host runs, from its status document.
type HostVersion struct {
	Host    string `json:"host"`
	Role    string `json:"role"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	State   string `json:"state,omitempty"` // the host's agent run: done, failed, running
	// Desired is the version the record gives the host ("" without a record).
	Desired string `json:"desired,omitempty"`
}

// Status is `cso app status`.
type Status struct {
	Current *apppkg.PackageRef `json:"current,omitempty"`
	Rollout *apppkg.Rollout    `json:"rollout,omitempty"`
	// Lock is the deploy lock's record (held or last released); absent when never taken.
	Lock  *lease.Record `json:"lock,omitempty"`
	Hosts []HostVersion `json:"hosts"`
}

// ReadStatus gathers the record and what each frontend and backend host's status document
// says it runs.
func ReadStatus(ctx context.Context, s Store, docs status.Store, hosts []inventory.Host) (*Status, error) {
	rec, err := s.Get(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Current: rec.Current, Rollout: rec.Rollout, Hosts: []HostVersion{}}
	if leases, err := s.leases(); err == nil {
		if st.Lock, _, err = lease.Read(ctx, leases, lease.DeployKey); err != nil {
			return nil, err
		}
	}
	for _, h := range Targets(hosts) {
		hv := HostVersion{Host: h.Name, Role: string(h.Role)}
		if p := rec.For(h.Name); p != nil {
			hv.Desired = p.Version + " (" + p.SHA256[:12] + ")"
		}
		doc, err := docs.Get(ctx, h.Name)
		switch {
		case errors.Is(err, status.ErrNotFound):
			hv.State = "no status"
		case err != nil:
			return nil, err
		default:
			hv.State = doc.State
			hv.Name, hv.Version, hv.SHA256 = doc.Facts[apppkg.FactAppName], doc.Facts[apppkg.FactAppVersion], doc.Facts[apppkg.FactAppSHA256]
		}
		st.Hosts = append(st.Hosts, hv)
	}
	return st, nil
}

// WriteText prints the status for a terminal.
func (st *Status) WriteText(w io.Writer) {
	if st.Current != nil {
		fmt.Fprintf(w, "desired version: %s, published as %s\n", st.Current, st.Current.Key)
	} else {
		fmt.Fprintln(w, "desired version: none released (the hosts install the env file's application.package)")
	}
	if l := st.Lock; l.Held() {
		fmt.Fprintf(w, "deploy lock:     held by %s\n", l.String())
	} else {
		fmt.Fprintln(w, "deploy lock:     free")
	}
	if ro := st.Rollout; ro != nil {
		fmt.Fprintf(w, "last rollout:    %s by %s, %s, started %s", ro.Package, ro.By, ro.State, ro.StartedAt.Format(time.RFC3339))
		if !ro.FinishedAt.IsZero() {
			fmt.Fprintf(w, ", ended %s", ro.FinishedAt.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
		if ro.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", ro.Error)
		}
		for _, h := range ro.Hosts {
			fmt.Fprintf(w, "  %-20s %-12s %s\n", h.Host, h.State, h.Detail)
		}
	}
	fmt.Fprintf(w, "\n%-20s %-9s %-24s %-14s %s\n", "HOST", "ROLE", "RUNS", "SHA256", "AGENT RUN")
	for _, h := range st.Hosts {
		runs, sum := "-", "-"
		if h.Version != "" {
			runs = h.Name + " " + h.Version
		}
		if len(h.SHA256) >= 12 {
			sum = h.SHA256[:12]
		}
		fmt.Fprintf(w, "%-20s %-9s %-24s %-14s %s\n", h.Host, h.Role, runs, sum, h.State)
	}
}
