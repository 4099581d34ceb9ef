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

// throttle limits failed sign-ins per client address: Keystone has no lockout by default,
// and the form must not become a password-guessing oracle.
type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	max      int
	window   time.Duration
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{failures: map[string][]time.Time{}, max: max, window: window}
}

// allowed reports whether addr may try again at now.
func (t *throttle) allowed(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(addr, now)) < t.max
}

func (t *throttle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures[addr] = append(t.recent(addr, now), now)
	if len(t.failures) > 10000 { // forget the oldest state rather than grow without bound
		for a := range t.failures {
			if len(t.recent(a, now)) == 0 {
				delete(t.failures, a)
			}
		}
	}
}

func (t *throttle) recent(addr string, now time.Time) []time.Time {
	var keep []time.Time
	for _, f := range t.failures[addr] {
		if now.Sub(f) < t.window {
			keep = append(keep, f)
		}
	}
	if len(keep) == 0 {
		delete(t.failures, addr)
	}
	return keep
}
