package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/keystone"
)

// crToken is a project-scoped admin token of node with the ids of its user and project.
func crToken(ctx context.Context, t *testing.T, k keystoneNode, password string) (token, userID, projectID string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}}}}})
	code, b, hdr := crCall(ctx, t, k, http.MethodPost, "/v3/auth/tokens", "", body)
	var v struct {
		Token struct {
			User    struct{ ID string } `json:"user"`
			Project struct{ ID string } `json:"project"`
		} `json:"token"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &v) != nil || hdr.Get("X-Subject-Token") == "" {
		t.Fatalf("admin token from %s: %d %s", k.h.Name, code, b)
	}
	return hdr.Get("X-Subject-Token"), v.Token.User.ID, v.Token.Project.ID
}

func crCall(ctx context.Context, t *testing.T, k keystoneNode, method, path, token string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := k.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, k.h.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, resp.Header
}

// crBlob is the blob of credential id as node decrypts it (GET /v3/credentials/{id}).
func crBlob(ctx context.Context, t *testing.T, k keystoneNode, token, id string) string {
	t.Helper()
	code, b, _ := crCall(ctx, t, k, http.MethodGet, "/v3/credentials/"+id, token, nil)
	var v struct {
		Credential struct{ Blob string } `json:"credential"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &v) != nil {
		t.Errorf("GET /v3/credentials/%s on %s: %d %s", id, k.h.Name, code, b)
	}
	return v.Credential.Blob
}

// TestCredentialKeyRotation rotates the shared credential key set with
// `cso agent --rotate-credential` on keystone01 and follows Keystone's procedure in a
// cluster: the re-encryption (credential_migrate) waits until keystone02 installed the new
// set, a second rotation is refused until the migration is done, and afterwards the stored
// credential carries the new primary key's hash and decrypts to the original blob on both
// nodes. The stack ends converged (every node converged again even when the test fails).
func TestCredentialKeyRotation(t *testing.T) {
	s := requireStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ks := keystoneNodes(t, s)
	k1, k2 := ks[0], ks[1]
	lay, err := local.NewLayout(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	kl1 := keystone.Paths(lay.Paths(k1.h.Name), k1.h.Name)
	agentRun := func(host string, extra ...string) (string, int) {
		t.Helper()
		out, errOut, code, err := s.Run(ctx, append([]string{"agent", "--local-dir", s.Dir, "--host", host}, extra...)...)
		if err != nil {
			t.Fatalf("cso agent on %s: %v", host, err)
		}
		return out + errOut, code
	}
	converge := func(host string) {
		t.Helper()
		if out, code := agentRun(host); code != 0 {
			t.Fatalf("cso agent on %s: exit %d\n%s", host, code, out)
		}
	}
	// Start from a converged Keystone pair (another test may have left a rotation
	// undistributed), and leave it converged whatever happens here.
	for _, k := range []keystoneNode{k2, k1} {
		if _, code := agentRun(k.h.Name, "--dry-run"); code != 0 {
			converge(k.h.Name)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, k := range []keystoneNode{k2, k1} {
				out, errOut, code, err := s.Run(context.Background(), "agent", "--local-dir", s.Dir, "--host", k.h.Name)
				if err != nil || code != 0 {
					t.Logf("restoring %s: exit %d %v\n%s%s", k.h.Name, code, err, out, errOut)
				}
			}
		}
	})

	pw, err := os.ReadFile(filepath.Join(s.Target.SecretsDir, agent.SecretKeystoneAdmin))
	if err != nil {
		t.Fatal(err)
	}
	tok1, userID, projectID := crToken(ctx, t, k1, strings.TrimSpace(string(pw)))
	tok2, _, _ := crToken(ctx, t, k2, strings.TrimSpace(string(pw)))
	access, secret := make([]byte, 16), make([]byte, 16)
	rand.Read(access)
	rand.Read(secret)
	blob := fmt.Sprintf(`{"access": "%x", "secret": "%x"}`, access, secret)
	body, _ := json.Marshal(map[string]any{"credential": map[string]any{
		"type": "ec2", "user_id": userID, "project_id": projectID, "blob": blob}})
	code, b, _ := crCall(ctx, t, k1, http.MethodPost, "/v3/credentials", tok1, body)
	var created struct {
		Credential struct{ ID string } `json:"credential"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.Credential.ID == "" {
		t.Fatalf("POST /v3/credentials on %s: %d %s", k1.h.Name, code, b)
	}
	id := created.Credential.ID
	t.Cleanup(func() {
		if code, b, _ := crCall(context.Background(), t, k1, http.MethodDelete, "/v3/credentials/"+id, tok1, nil); code != http.StatusNoContent {
			t.Logf("DELETE /v3/credentials/%s: %d %s", id, code, b)
		}
	})

	dbPW, err := os.ReadFile(filepath.Join(s.Target.SecretsDir, agent.SecretKeystoneDB))
	if err != nil {
		t.Fatal(err)
	}
	db, err := agent.OpenMySQL(agent.MySQLServer{Addr: s.Target.MySQL, CAFile: s.Target.CACert}, "keystone", strings.TrimSpace(string(dbPW)), "keystone")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyHash := func() string {
		t.Helper()
		var h string
		if err := db.QueryRowContext(ctx, "SELECT key_hash FROM credential WHERE id = ?", id).Scan(&h); err != nil {
			t.Fatalf("key_hash of credential %s: %v", id, err)
		}
		return h
	}
	primaryHash := func() string {
		t.Helper()
		keys := map[string][]byte{}
		entries, err := os.ReadDir(kl1.CredentialKeys)
		if err != nil {
			t.Fatal(err)
		}
		top := -1
		for _, e := range entries {
			var i int
			if _, err := fmt.Sscanf(e.Name(), "%d", &i); err == nil && i > top {
				top = i
			}
			keys[e.Name()], _ = os.ReadFile(filepath.Join(kl1.CredentialKeys, e.Name()))
		}
		// Keystone's primary_key_hash: SHA-1 of the highest-numbered key.
		sum := sha1.Sum(keys[fmt.Sprint(top)])
		return hex.EncodeToString(sum[:])
	}
	before := keyHash()
	if before != primaryHash() {
		t.Fatalf("the new credential's key_hash %s is not the SHA-1 of keystone01's primary credential key (%s)", before, primaryHash())
	}

	// Rotate: keystone01 installs the new set at once; the migration waits for keystone02.
	out, code := agentRun(k1.h.Name, "--rotate-credential")
	if code != 0 || !strings.Contains(out, "rotated the shared credential key set") ||
		!strings.Contains(out, "waiting for "+k2.h.Name+" to install the current credential key set") {
		t.Fatalf("rotate on %s: exit %d, want the rotation and the migration deferred for %s\n%s", k1.h.Name, code, k2.h.Name, out)
	}
	if h := keyHash(); h != before {
		t.Errorf("credential re-encrypted (key_hash %s) before %s installed the new key set", h, k2.h.Name)
	}
	if got := crBlob(ctx, t, k2, tok2, id); got != blob {
		t.Errorf("%s (old key set) decrypts the credential to %q, want %q", k2.h.Name, got, blob)
	}
	out, code = agentRun(k1.h.Name, "--rotate-credential")
	if code == 0 || !strings.Contains(out, "refusing to rotate: "+k2.h.Name+" has not installed the current credential key set") {
		t.Errorf("second rotation before %s installed the set: exit %d\n%s", k2.h.Name, code, out)
	}

	// keystone02 installs the set; the migration is still pending, so a rotation (which
	// would purge the key the credential is encrypted with) is refused.
	converge(k2.h.Name)
	out, code = agentRun(k1.h.Name, "--rotate-credential")
	if code == 0 || !strings.Contains(out, "refusing to rotate: 1 stored credential(s) are not encrypted with the primary credential key") {
		t.Errorf("rotation before the migration: exit %d\n%s", code, out)
	}
	if h := keyHash(); h != before {
		t.Errorf("the refused rotation re-encrypted the credential (key_hash %s)", h)
	}

	// keystone01's next run migrates.
	out, code = agentRun(k1.h.Name)
	if code != 0 || !strings.Contains(out, "credential_migrate") {
		t.Fatalf("migration run on %s: exit %d\n%s", k1.h.Name, code, out)
	}
	after := keyHash()
	if after == before || after != primaryHash() {
		t.Errorf("after the migration key_hash is %s (before %s), want the new primary's %s", after, before, primaryHash())
	}
	for _, n := range []struct {
		k   keystoneNode
		tok string
	}{{k1, tok1}, {k2, tok2}} {
		if got := crBlob(ctx, t, n.k, n.tok, id); got != blob {
			t.Errorf("%s decrypts the re-encrypted credential to %q, want %q", n.k.h.Name, got, blob)
		}
	}
	for _, k := range []keystoneNode{k1, k2} {
		if out, code := agentRun(k.h.Name, "--dry-run"); code != 0 {
			t.Errorf("%s not converged after the rotation: exit %d\n%s", k.h.Name, code, out)
		}
	}
}
