package lease_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/lease"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// stores runs f against the local directory store and against S3 (moto 5.2.1, which
// implements PutObject's If-None-Match and If-Match).
func stores(t *testing.T, f func(t *testing.T, s lease.Store)) {
	t.Run("dir", func(t *testing.T) { f(t, lease.Dir{Dir: t.TempDir()}) })
	t.Run("s3", func(t *testing.T) {
		m := awstest.Moto(t)
		bucket := "lease-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
		if len(bucket) > 60 {
			bucket = bucket[:60]
		}
		m.Bucket(t, bucket)
		f(t, lease.S3{Client: m.S3(), Bucket: bucket})
	})
}

func TestConditionalWrites(t *testing.T) {
	stores(t, func(t *testing.T, s lease.Store) {
		ctx := context.Background()
		if _, _, err := s.Get(ctx, "locks/x.json"); !errors.Is(err, lease.ErrNotFound) {
			t.Fatalf("get absent: %v", err)
		}
		if _, err := s.PutIf(ctx, "locks/x.json", []byte("a"), "nope"); !errors.Is(err, lease.ErrPrecondition) {
			t.Fatalf("If-Match on an absent object: %v, want ErrPrecondition", err)
		}
		v1, err := s.PutIf(ctx, "locks/x.json", []byte("a"), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutIf(ctx, "locks/x.json", []byte("b"), ""); !errors.Is(err, lease.ErrPrecondition) {
			t.Fatalf("second create-only write: %v, want ErrPrecondition", err)
		}
		v2, err := s.PutIf(ctx, "locks/x.json", []byte("b"), v1)
		if err != nil {
			t.Fatalf("If-Match with the current version: %v", err)
		}
		if _, err := s.PutIf(ctx, "locks/x.json", []byte("c"), v1); !errors.Is(err, lease.ErrPrecondition) {
			t.Fatalf("If-Match with an old version: %v, want ErrPrecondition", err)
		}
		data, v, err := s.Get(ctx, "locks/x.json")
		if err != nil || !bytes.Equal(data, []byte("b")) || v != v2 {
			t.Fatalf("get: %q %q %v; want b %q", data, v, err, v2)
		}
	})
}

func TestLeaseLifecycle(t *testing.T) {
	stores(t, func(t *testing.T, s lease.Store) {
		ctx := context.Background()
		now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		a, held, err := lease.TryAcquire(ctx, s, lease.RestartKey, "frontend-server-1", "restart", 10*time.Minute, now)
		if err != nil || a == nil || held != nil {
			t.Fatalf("first taker: %v %v %v", a, held, err)
		}
		b, held, err := lease.TryAcquire(ctx, s, lease.RestartKey, "frontend-server-2", "restart", 10*time.Minute, now.Add(time.Minute))
		if err != nil || b != nil || held == nil || held.Holder != "frontend-server-1" || !held.Since.Equal(now) {
			t.Fatalf("second taker while held: lease %v, holder %+v, %v", b, held, err)
		}
		if err := a.Release(ctx, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		b, held, err = lease.TryAcquire(ctx, s, lease.RestartKey, "frontend-server-2", "restart", 10*time.Minute, now.Add(3*time.Minute))
		if err != nil || b == nil || b.TookOver != nil {
			t.Fatalf("after the release: %v %+v %v", b, held, err)
		}
		// frontend-server-2 dies holding it: after the bound, another host takes it over,
		// and the dead holder's late release does not undo the new holder's lease.
		c, held, err := lease.TryAcquire(ctx, s, lease.RestartKey, "backend-server-1", "restart", 10*time.Minute, now.Add(14*time.Minute))
		if err != nil || c == nil || c.TookOver == nil || c.TookOver.Holder != "frontend-server-2" {
			t.Fatalf("takeover of a stale lease: %v %+v %v", c, held, err)
		}
		if err := b.Release(ctx, now.Add(15*time.Minute)); err == nil || !strings.Contains(err.Error(), "no longer ours") {
			t.Fatalf("release of a lease taken over: %v", err)
		}
		rec, _, err := lease.Read(ctx, s, lease.RestartKey)
		if err != nil || !rec.Held() || rec.Holder != "backend-server-1" {
			t.Fatalf("after the late release: %+v %v", rec, err)
		}
		// A host whose later run is healthy releases what its failed run kept; another's
		// name releases nothing.
		if ok, err := lease.ReleaseHeldBy(ctx, s, lease.RestartKey, "frontend-server-2", now.Add(16*time.Minute)); ok || err != nil {
			t.Fatalf("release by a host that does not hold it: %v %v", ok, err)
		}
		if ok, err := lease.ReleaseHeldBy(ctx, s, lease.RestartKey, "backend-server-1", now.Add(16*time.Minute)); !ok || err != nil {
			t.Fatalf("release by its holder's later run: %v %v", ok, err)
		}
		if rec, _, _ := lease.Read(ctx, s, lease.RestartKey); rec.Held() {
			t.Fatalf("still held: %+v", rec)
		}
		// Without a bound (the deploy lock) a lease is never taken over, however old.
		d, _, err := lease.TryAcquire(ctx, s, lease.DeployKey, "alice@laptop", "rollout", 0, now)
		if err != nil || d == nil {
			t.Fatal(err)
		}
		if e, held, _ := lease.TryAcquire(ctx, s, lease.DeployKey, "bob@desk", "rollout", 0, now.Add(48*time.Hour)); e != nil || held.Holder != "alice@laptop" {
			t.Fatalf("deploy lock taken over: %v %+v", e, held)
		}
		was, err := lease.Break(ctx, s, lease.DeployKey, "bob@desk", now.Add(49*time.Hour))
		if err != nil || was.Holder != "alice@laptop" || !was.Since.Equal(now) {
			t.Fatalf("break: %+v %v", was, err)
		}
		if _, err := lease.Break(ctx, s, lease.DeployKey, "bob@desk", now.Add(50*time.Hour)); !errors.Is(err, lease.ErrNotHeld) {
			t.Fatalf("break without a held lock: %v, want ErrNotHeld", err)
		}
		if err := d.Release(ctx, now.Add(50*time.Hour)); err == nil {
			t.Fatal("release of a broken lease succeeded")
		}
	})
}

// TestAcquireWaitsAndNamesTheHolder: a waiter logs who holds the lease, gets it when it is
// released, and gives up after its bound with the holder in the error.
func TestAcquireWaitsAndNamesTheHolder(t *testing.T) {
	stores(t, func(t *testing.T, s lease.Store) {
		ctx := context.Background()
		a, err := lease.Acquire(ctx, s, lease.RestartKey, "backend-server-1", "restart", lease.WaitOptions{StaleAfter: time.Hour, Wait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var logs []string
		logf := func(f string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(f, args...))
		}
		_, err = lease.Acquire(ctx, s, lease.RestartKey, "backend-server-2", "restart", lease.WaitOptions{StaleAfter: time.Hour, Wait: 300 * time.Millisecond, Poll: 50 * time.Millisecond, Logf: logf})
		var busy *lease.BusyError
		if !errors.As(err, &busy) || busy.Holder.Holder != "backend-server-1" || !strings.Contains(err.Error(), "held by backend-server-1") {
			t.Fatalf("bounded wait: %v", err)
		}
		if len(logs) != 1 || !strings.Contains(logs[0], "held by backend-server-1") {
			t.Fatalf("wait log: %q", logs)
		}
		// The holder's own next run (its previous one failed holding it) takes it back at once.
		again, err := lease.Acquire(ctx, s, lease.RestartKey, "backend-server-1", "restart", lease.WaitOptions{StaleAfter: time.Hour, Wait: time.Second, Reentrant: true, Logf: logf})
		if err != nil || again.TookOver == nil || again.TookOver.Holder != "backend-server-1" {
			t.Fatalf("reentrant take: %v", err)
		}
		if err := a.Release(ctx, time.Now()); err == nil {
			t.Fatal("the replaced lease's release succeeded")
		}
		a = again
		go func() {
			time.Sleep(200 * time.Millisecond)
			_ = a.Release(ctx, time.Now())
		}()
		b, err := lease.Acquire(ctx, s, lease.RestartKey, "backend-server-2", "restart", lease.WaitOptions{StaleAfter: time.Hour, Wait: 10 * time.Second, Poll: 50 * time.Millisecond})
		if err != nil || b.Record().Holder != "backend-server-2" {
			t.Fatalf("after the holder released: %v", err)
		}
	})
}

// TestDirLeaseIsExclusive: many takers at once on the directory store, each holding the
// lease for a moment: never two at a time.
func TestDirLeaseIsExclusive(t *testing.T) {
	s := lease.Dir{Dir: t.TempDir()}
	ctx := context.Background()
	var mu sync.Mutex
	holders, maxHolders, done := 0, 0, 0
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := lease.Acquire(ctx, s, lease.RestartKey, fmt.Sprintf("host-%d", i), "restart", lease.WaitOptions{StaleAfter: time.Hour, Wait: 30 * time.Second, Poll: 5 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			holders++
			maxHolders = max(maxHolders, holders)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			holders--
			done++
			mu.Unlock()
			if err := l.Release(ctx, time.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if maxHolders != 1 || done != 8 {
		t.Fatalf("max %d holders at once, %d of 8 done", maxHolders, done)
	}
}

// TestForBucket: the agent's bucket gives its lease store: the directory locally, S3 with
// the agent's own client on AWS; no bucket, no store.
func TestForBucket(t *testing.T) {
	dir := t.TempDir()
	if s, err := lease.ForBucket(agent.DirBucket{Dir: dir}); err != nil || s.Describe() != dir {
		t.Errorf("directory bucket: %v %v", s, err)
	}
	m := awstest.Moto(t)
	if s, err := lease.ForBucket(agent.S3Bucket{Client: m.S3(), Name: "b"}); err != nil || s.Describe() != "s3://b" {
		t.Errorf("S3 bucket: %v %v", s, err)
	}
	if _, err := lease.ForBucket(agent.NoBucket{}); err == nil {
		t.Error("no bucket gave a lease store")
	}
}
