package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Thirty parallel bad sign-ins: the throttle reserves each attempt before Keystone is asked,
// so exactly DefaultMaxFailures of them reach Keystone (fewer than its lockout of 5) and the
// rest are refused without asking it.
func TestSignInThrottleIsAtomic(t *testing.T) {
	f := newFixture(t, nil)
	const n = 30
	type attempt struct {
		c    *http.Client
		csrf string
	}
	attempts := make([]attempt, n)
	for i := range attempts {
		c := f.client()
		_, page := get(t, c, f.srv.URL+"/admin/login", nil)
		attempts[i] = attempt{c, csrfOf(t, page)}
	}
	before := f.ks.Attempts()
	codes := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := a.c.PostForm(f.srv.URL+"/admin/login", url.Values{"csrf": {a.csrf}, "username": {"admin"}, "password": {fmt.Sprintf("wrong-%d", i)}})
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, c := range codes {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		count[c]++
	}
	reached := f.ks.Attempts() - before
	if reached != DefaultMaxFailures || count[http.StatusUnauthorized] != DefaultMaxFailures || count[http.StatusTooManyRequests] != n-DefaultMaxFailures {
		t.Errorf("%d parallel bad sign-ins: %d reached Keystone, answers %v; want %d reaching Keystone (401) and %d refused (429)",
			n, reached, count, DefaultMaxFailures, n-DefaultMaxFailures)
	}
	if DefaultMaxFailures >= 5 {
		t.Errorf("DefaultMaxFailures = %d: not below Keystone's lockout_failure_attempts (5)", DefaultMaxFailures)
	}
	// The right password is refused too now, without asking Keystone.
	if _, resp := f.signIn(t, "admin", f.adminPW); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password after the burst: %d, want 429", resp.StatusCode)
	}
	if got := f.ks.Attempts() - before; got != reached {
		t.Errorf("Keystone was asked while throttled (%d attempts, %d before)", got, reached)
	}
}

// The throttle counts per user name and per client address: a user is protected across
// addresses, an address is limited across users; a successful or unjudged attempt gives its
// slot back; the window forgets.
func TestThrottleKeys(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	th := newThrottle(4, 30*time.Minute)
	for i := range 4 {
		if _, ok := th.reserve(now, "user:admin", fmt.Sprintf("addr:10.0.0.%d", i)); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if _, ok := th.reserve(now, "user:admin", "addr:10.0.0.9"); ok {
		t.Error("a fifth attempt for admin from a new address was allowed")
	}
	if _, ok := th.reserve(now, "user:other", "addr:10.0.0.9"); !ok {
		t.Error("another user from a fresh address was refused")
	}
	// One address against many users.
	for i := range 3 {
		if _, ok := th.reserve(now, fmt.Sprintf("user:u%d", i), "addr:10.0.0.9"); !ok {
			t.Fatalf("user u%d refused", i)
		}
	}
	if _, ok := th.reserve(now, "user:u9", "addr:10.0.0.9"); ok {
		t.Error("a fifth attempt from one address (for a new user) was allowed")
	}
	// A released slot is free again.
	r, ok := th.reserve(now, "user:x", "addr:10.0.0.20")
	if !ok {
		t.Fatal("fresh keys refused")
	}
	for range 3 {
		th.reserve(now, "user:x", "addr:10.0.0.21")
	}
	r.release()
	if _, ok := th.reserve(now, "user:x", "addr:10.0.0.22"); !ok {
		t.Error("a released slot was not given back")
	}
	// After the window the user may try again.
	if _, ok := th.reserve(now.Add(30*time.Minute), "user:admin", "addr:10.0.0.9"); !ok {
		t.Error("still refused after the window")
	}
}
