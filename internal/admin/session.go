package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is the server side of a signed-in operator: bound to their Keystone token.
type session struct {
	ID        string
	User      string
	Token     string
	CSRF      string
	Expires   time.Time // the token's expiry or the session lifetime, whichever is first
	Validated time.Time // last time Keystone said the token is valid
}

type sessionStore struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore() *sessionStore { return &sessionStore{m: map[string]*session{}} }

func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the platform cannot be trusted then
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessionStore) create(user, token string, expires, now time.Time) *session {
	ss := &session{ID: randomID(), User: user, Token: token, CSRF: randomID(), Expires: expires, Validated: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Drop expired sessions while here, so the map does not grow.
	for id, o := range s.m {
		if now.After(o.Expires) {
			delete(s.m, id)
		}
	}
	s.m[ss.ID] = ss
	return ss
}

// get returns a copy of the session id, or nil.
func (s *sessionStore) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	c := *ss
	return &c
}

func (s *sessionStore) touch(id string, validated time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.m[id]; ss != nil {
		ss.Validated = validated
	}
}

func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// throttle bounds sign-in attempts per key (a user name, a client address) within a window.
// An attempt is reserved before Keystone is asked, under one lock for all of its keys, so
// parallel attempts cannot all pass the check before any failure is recorded; a reservation
// stays as a failure unless the sign-in succeeds or Keystone could not be asked. With max
// below Keystone's lockout_failure_attempts, the form can never make Keystone lock an
// account (docs/decisions/check-admin.md).
type throttle struct {
	mu       sync.Mutex
	attempts map[string][]time.Time
	max      int
	window   time.Duration
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{attempts: map[string][]time.Time{}, max: max, window: window}
}

// reservation is one reserved attempt: release gives it back (the attempt did not fail).
type reservation struct {
	t    *throttle
	keys []string
	at   time.Time
}

// reserve records an attempt at now for every key, unless one of them already holds max
// attempts in the window: then nothing is recorded and ok is false.
func (t *throttle) reserve(now time.Time, keys ...string) (r reservation, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if len(t.recent(k, now)) >= t.max {
			return reservation{}, false
		}
	}
	for _, k := range keys {
		t.attempts[k] = append(t.recent(k, now), now)
	}
	if len(t.attempts) > 10000 { // forget expired state rather than grow without bound
		for k := range t.attempts {
			t.recent(k, now)
		}
	}
	return reservation{t: t, keys: keys, at: now}, true
}

// release removes the reserved attempt from every key.
func (r reservation) release() {
	if r.t == nil {
		return
	}
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	for _, k := range r.keys {
		list := r.t.attempts[k]
		for i, at := range list {
			if at.Equal(r.at) {
				r.t.attempts[k] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(r.t.attempts[k]) == 0 {
			delete(r.t.attempts, k)
		}
	}
}

// recent returns key's attempts in the window and drops the older ones.
func (t *throttle) recent(key string, now time.Time) []time.Time {
	var keep []time.Time
	for _, at := range t.attempts[key] {
		if now.Sub(at) < t.window {
			keep = append(keep, at)
		}
	}
	if len(keep) == 0 {
		delete(t.attempts, key)
	} else {
		t.attempts[key] = keep
	}
	return keep
}
