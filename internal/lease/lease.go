// Package lease is the environment's one mutual-exclusion primitive: a named object in the
// environment's bucket (S3 on AWS, the local target's bucket directory) that only a
// conditional write can take. It serves two holders:
//
//   - the frontend and backend agents, before they restart running application services
//     (a binding's secret or certificate changed): one host at a time (RestartKey);
//   - `cso app deploy`: one rollout at a time (DeployKey), which `--break-lock` ends.
//
// A lease is taken with a create-only write (S3 PutObject If-None-Match: *) when the object
// is absent, or with a compare-and-swap (If-Match: the ETag read) when the object holds a
// released lease or one older than the holder's bound (its holder died). It is released by
// writing the record again, marked released, under If-Match: the object stays and says who
// held it last. Two takers never both win: the store lets exactly one conditional write
// through (docs/decisions/cli.md, "One lease").
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Keys of the environment's leases, under locks/ of the bucket.
const (
	// RestartKey: held by the application host that restarts its running services.
	RestartKey = "locks/app-restart.json"
	// DeployKey: held by the operator's `cso app deploy` for the whole rollout.
	DeployKey = "locks/app-deploy.json"
)

var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("no such lease object")
	// ErrPrecondition: a conditional write lost: the object exists (create-only) or changed
	// since it was read (compare-and-swap).
	ErrPrecondition = errors.New("the lease object changed meanwhile (conditional write refused)")
	// ErrNotHeld: Break found no held lease.
	ErrNotHeld = errors.New("the lock is not held")
)

// Store is where leases live: the environment's bucket.
type Store interface {
	// Get returns the object's content and version (the ETag on S3); ErrNotFound.
	Get(ctx context.Context, key string) (data []byte, version string, err error)
	// PutIf writes data under key when the condition holds: ifVersion "" = only if the key
	// is absent; else only if its current version is ifVersion. ErrPrecondition otherwise.
	PutIf(ctx context.Context, key string, data []byte, ifVersion string) (version string, err error)
	Describe() string
}

// Record is the content of a lease object.
type Record struct {
	// Holder names who holds it: a host name, or the operator as user@machine.
	Holder  string    `json:"holder"`
	Purpose string    `json:"purpose,omitempty"`
	Since   time.Time `json:"since"`
	// Token is random per taking: a holder recognises its own lease by it.
	Token    string    `json:"token"`
	Released time.Time `json:"released,omitzero"`
	// ReleasedBy is set when someone else ended it (--break-lock, or a takeover of a stale
	// lease): who, and why.
	ReleasedBy string `json:"released_by,omitempty"`
}

// Held reports whether r is an unreleased lease.
func (r *Record) Held() bool { return r != nil && r.Released.IsZero() }

// String describes the holder for messages.
func (r *Record) String() string {
	s := fmt.Sprintf("%s since %s", r.Holder, r.Since.UTC().Format(time.RFC3339))
	if r.Purpose != "" {
		s += " (" + r.Purpose + ")"
	}
	return s
}

// Lease is a lease this process holds.
type Lease struct {
	store   Store
	key     string
	rec     Record
	version string
	// TookOver is the stale lease this one replaced, if any.
	TookOver *Record
}

// Record returns what the lease object says.
func (l *Lease) Record() Record { return l.rec }

// Key names the lease object.
func (l *Lease) Key() string { return l.key }

// Read returns the lease object's record (nil when there is none).
func Read(ctx context.Context, s Store, key string) (*Record, string, error) {
	data, ver, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("lease %s/%s: %w", s.Describe(), key, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil || r.Holder == "" {
		// Not a lease (written by hand, truncated): it holds nothing, and the next taker
		// replaces it under If-Match like a released one.
		return &Record{Holder: "(unreadable lease object)", Released: time.Unix(0, 0).UTC()}, ver, nil
	}
	return &r, ver, nil
}

// TryAcquire makes one attempt: the lease for who, or (nil, holder) when another holds it
// and its lease is younger than staleAfter (staleAfter <= 0: never taken over).
func TryAcquire(ctx context.Context, s Store, key, who, purpose string, staleAfter time.Duration, now time.Time) (*Lease, *Record, error) {
	return tryAcquire(ctx, s, key, who, purpose, func(cur *Record) bool {
		return staleAfter > 0 && now.Sub(cur.Since) >= staleAfter
	}, now)
}

// tryAcquire: takeOver says whether a held lease may be replaced.
func tryAcquire(ctx context.Context, s Store, key, who, purpose string, takeOver func(*Record) bool, now time.Time) (*Lease, *Record, error) {
	// A lost race (another taker's write came between our read and write) is retried
	// from the read: the second read sees the winner.
	for range 5 {
		cur, ver, err := Read(ctx, s, key)
		if err != nil {
			return nil, nil, err
		}
		var took *Record
		if cur.Held() {
			if !takeOver(cur) {
				return nil, cur, nil
			}
			took = cur
		}
		rec := Record{Holder: who, Purpose: purpose, Since: now.UTC(), Token: token()}
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		nv, err := s.PutIf(ctx, key, append(data, '\n'), ver)
		if errors.Is(err, ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("take lease %s/%s: %w", s.Describe(), key, err)
		}
		return &Lease{store: s, key: key, rec: rec, version: nv, TookOver: took}, nil, nil
	}
	cur, _, err := Read(ctx, s, key)
	if err != nil {
		return nil, nil, err
	}
	if cur.Held() {
		return nil, cur, nil
	}
	return nil, nil, fmt.Errorf("lease %s/%s: it changed under every one of 5 attempts", s.Describe(), key)
}

// WaitOptions bound Acquire.
type WaitOptions struct {
	// StaleAfter: a lease held longer is taken over (its holder died holding it).
	StaleAfter time.Duration
	// Wait bounds the whole wait; Poll is the interval between attempts.
	Wait, Poll time.Duration
	// Reentrant: a lease held under the same holder name is taken over at once (a host's
	// agent runs one at a time: its own lease is left by its previous run, which failed).
	Reentrant bool
	// Logf reports the wait (who holds the lease); nil: silent.
	Logf func(format string, args ...any)
	Now  func() time.Time
}

// BusyError: the lease stayed held by another for the whole wait.
type BusyError struct {
	Key    string
	Holder Record
	Waited time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("lease %s is held by %s: still held after waiting %s", e.Key, e.Holder.String(), e.Waited)
}

// Acquire takes the lease, waiting (bounded) while another holds it, and taking over a
// lease older than o.StaleAfter.
func Acquire(ctx context.Context, s Store, key, who, purpose string, o WaitOptions) (*Lease, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := o.Now()
	lastHolder := ""
	for {
		now := o.Now()
		l, holder, err := tryAcquire(ctx, s, key, who, purpose, func(cur *Record) bool {
			return o.StaleAfter > 0 && now.Sub(cur.Since) >= o.StaleAfter || o.Reentrant && cur.Holder == who
		}, now)
		if err != nil {
			return nil, err
		}
		if l != nil {
			switch t := l.TookOver; {
			case t != nil && t.Holder == who:
				logf("took back the lease %s from this host's previous run (%s)", key, t.String())
			case t != nil:
				logf("took over the lease %s from %s: older than %s, its holder is taken for dead", key, t.String(), o.StaleAfter)
			}
			return l, nil
		}
		waited := o.Now().Sub(start)
		if waited >= o.Wait {
			return nil, &BusyError{Key: key, Holder: *holder, Waited: waited.Round(time.Second)}
		}
		if h := holder.Token; h != lastHolder {
			lastHolder = h
			logf("waiting for the lease %s, held by %s (at most %s, taken over after %s)", key, holder.String(), o.Wait, o.StaleAfter)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lease %s held by %s: %w", key, holder.String(), ctx.Err())
		case <-time.After(o.Poll):
		}
	}
}

// Release ends the lease: the record, marked released, written under If-Match. A lease
// taken over or broken meanwhile is not touched: that is an error saying by whom.
func (l *Lease) Release(ctx context.Context, now time.Time) error {
	rec := l.rec
	rec.Released = now.UTC()
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	_, err = l.store.PutIf(ctx, l.key, append(data, '\n'), l.version)
	if errors.Is(err, ErrPrecondition) {
		cur, _, rerr := Read(ctx, l.store, l.key)
		if rerr == nil && cur != nil {
			return fmt.Errorf("release lease %s: it is no longer ours (now %s, released by %q)", l.key, cur.String(), cur.ReleasedBy)
		}
		return fmt.Errorf("release lease %s: it is no longer ours", l.key)
	}
	if err != nil {
		return fmt.Errorf("release lease %s/%s: %w", l.store.Describe(), l.key, err)
	}
	return nil
}

// ReleaseHeldBy releases a lease that who holds, left by an earlier run of who (one that
// failed holding it): reports whether there was one. Nothing is written otherwise.
func ReleaseHeldBy(ctx context.Context, s Store, key, who string, now time.Time) (bool, error) {
	cur, ver, err := Read(ctx, s, key)
	if err != nil || !cur.Held() || cur.Holder != who {
		return false, err
	}
	l := &Lease{store: s, key: key, rec: *cur, version: ver}
	if err := l.Release(ctx, now); err != nil {
		return false, err
	}
	return true, nil
}

// Break ends a held lease on behalf of by (the operator): it returns the record as it was
// (who held it, since when). ErrNotHeld when no lease is held: nothing is written.
func Break(ctx context.Context, s Store, key, by string, now time.Time) (*Record, error) {
	for range 5 {
		cur, ver, err := Read(ctx, s, key)
		if err != nil {
			return nil, err
		}
		if !cur.Held() {
			return cur, ErrNotHeld
		}
		rec := *cur
		rec.Released, rec.ReleasedBy = now.UTC(), by+" (--break-lock)"
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, err
		}
		if _, err := s.PutIf(ctx, key, append(data, '\n'), ver); errors.Is(err, ErrPrecondition) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("break lease %s/%s: %w", s.Describe(), key, err)
		}
		return cur, nil
	}
	return nil, fmt.Errorf("break lease %s/%s: it changed under every one of 5 attempts", s.Describe(), key)
}

func token() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
