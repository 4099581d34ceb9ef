package checktest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keystone is a test double of a Keystone node's token API (POST, GET and DELETE
// /v3/auth/tokens, /v3, /healthcheck) over TLS, for unit tests that must not need the real
// stack. Nodes of one KeystoneCluster accept each other's tokens while they share a key set,
// as fernet nodes do, and share revocations.
type Keystone struct {
	Server  *httptest.Server
	cluster *KeystoneCluster
	mu      sync.Mutex
	keySet  string
	// Validations counts GET /v3/auth/tokens requests.
	Validations int
	issued      []string
	attempts    int
	delay       time.Duration
}

// SetDelay makes the node answer every token request (issue, validation, revocation) after
// d, as a busy node does.
func (k *Keystone) SetDelay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delay = d
}

// Attempts returns how many password authentications (POST /v3/auth/tokens) reached the
// node, accepted or not.
func (k *Keystone) Attempts() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.attempts
}

// Issued returns the tokens this node issued, oldest first.
func (k *Keystone) Issued() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.issued...)
}

// ValidationCount returns how many validations the node answered.
func (k *Keystone) ValidationCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.Validations
}

// KeystoneCluster is the shared state of fake Keystone nodes.
type KeystoneCluster struct {
	mu      sync.Mutex
	users   map[string]KeystoneUser
	revoked map[string]bool
}

// KeystoneUser is a user of the fake: password and roles on the project it scopes to.
type KeystoneUser struct {
	Password string
	Roles    []string
}

// NewKeystoneCluster makes the shared state with the given users.
func NewKeystoneCluster(users map[string]KeystoneUser) *KeystoneCluster {
	return &KeystoneCluster{users: users, revoked: map[string]bool{}}
}

// NewKeystone starts a node serving cert.
func (kc *KeystoneCluster) NewKeystone(t testing.TB, cert tls.Certificate) *Keystone {
	k := &Keystone{cluster: kc, keySet: "keys-1"}
	k.Server = httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	k.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	k.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // TCP probes close without a handshake
	k.Server.StartTLS()
	t.Cleanup(k.Server.Close)
	return k
}

// SetKeySet changes the node's key set (a node whose keys differ rejects others' tokens).
func (k *Keystone) SetKeySet(s string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keySet = s
}

func (k *Keystone) currentKeySet() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keySet
}

// token format: <keyset>.<user>.<random>
func (k *Keystone) valid(tok string) (user string, ok bool) {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 || parts[0] != k.currentKeySet() {
		return "", false
	}
	k.cluster.mu.Lock()
	defer k.cluster.mu.Unlock()
	if k.cluster.revoked[tok] {
		return "", false
	}
	return parts[1], true
}

func keystoneError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (k *Keystone) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	delay := k.delay
	k.mu.Unlock()
	if delay > 0 && r.URL.Path == "/v3/auth/tokens" {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case r.URL.Path == "/v3" || r.URL.Path == "/api/idm/v3":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":{"id":"v3.14","status":"stable"}}`))
	case r.URL.Path == "/healthcheck":
		_, _ = w.Write([]byte("OK"))
	case r.URL.Path == "/v3/auth/tokens" && r.Method == http.MethodPost:
		var body struct {
			Auth struct {
				Identity struct {
					Password struct {
						User struct {
							Name     string `json:"name"`
							Password string `json:"password"`
						} `json:"user"`
					} `json:"password"`
				} `json:"identity"`
			} `json:"auth"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			keystoneError(w, 400, "bad request")
			return
		}
		u := body.Auth.Identity.Password.User
		k.mu.Lock()
		k.attempts++
		k.mu.Unlock()
		k.cluster.mu.Lock()
		known, found := k.cluster.users[u.Name]
		k.cluster.mu.Unlock()
		if !found || known.Password != u.Password {
			keystoneError(w, 401, "The request you have made requires authentication.")
			return
		}
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		tok := k.currentKeySet() + "." + u.Name + "." + hex.EncodeToString(b)
		k.mu.Lock()
		k.issued = append(k.issued, tok)
		k.mu.Unlock()
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(tokenBody(u.Name, known.Roles))
	case r.URL.Path == "/v3/auth/tokens" && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		k.mu.Lock()
		if r.Method == http.MethodGet {
			k.Validations++
		}
		k.mu.Unlock()
		if _, ok := k.valid(r.Header.Get("X-Auth-Token")); !ok {
			keystoneError(w, 401, "The request you have made requires authentication.")
			return
		}
		subject := r.Header.Get("X-Subject-Token")
		user, ok := k.valid(subject)
		if !ok {
			keystoneError(w, 404, "Could not recognize Fernet token")
			return
		}
		if r.Method == http.MethodDelete {
			k.cluster.mu.Lock()
			k.cluster.revoked[subject] = true
			k.cluster.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		k.cluster.mu.Lock()
		roles := k.cluster.users[user].Roles
		k.cluster.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tokenBody(user, roles))
	default:
		keystoneError(w, 404, "not found")
	}
}

// AdminProjectID is the id of project admin in the double's tokens.
const AdminProjectID = "5c0ad3b1e2f64a7d9c8e0f1a2b3c4d5e"

func tokenBody(user string, roles []string) map[string]any {
	rs := make([]map[string]string, len(roles))
	for i, r := range roles {
		rs[i] = map[string]string{"name": r}
	}
	return map[string]any{"token": map[string]any{
		"user":       map[string]any{"name": user, "domain": map[string]string{"name": "Default"}},
		"project":    map[string]any{"id": AdminProjectID, "name": "admin", "domain": map[string]string{"name": "Default"}},
		"roles":      rs,
		"expires_at": "2099-01-01T00:00:00.000000Z",
	}}
}
