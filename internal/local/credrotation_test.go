package local

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/keystone"
)

// credInterval is the credential rotation schedule of TestCredentialRotationOnSchedule:
// the shortest the env file allows.
const credInterval = time.Minute

// TestCredentialRotationOnSchedule is the credential key schedule on the local HA pair
// (keystone.credential_rotation.interval: 1m): an EC2 credential is created through the
// API, then keystone01's agent rotates the credential key set twice on its own when the
// interval has elapsed, keystone02's agent installs each set and keystone01's next run
// re-encrypts the stored credentials (credential_migrate). Between the two rotations the
// schedule is due but refused twice: while keystone02 has not installed the set, and while
// the migration is pending. After the second rotation the key the credential was first
// encrypted with is gone from both nodes, yet the credential still works on each: its
// secret reads back and an EC2-signed request (POST /v3/ec2tokens) gets a token. In CI the
// interval is made to elapse by ageing the primary key's file (waitDue); with
// CSO_FAULTS=full (make faults) the test waits for it.
func TestCredentialRotationOnSchedule(t *testing.T) {
	requireDaemons(t)
	if testing.Short() {
		t.Skip("a local HA stack across two scheduled credential rotations (about 8 minutes)")
	}
	root := tempDir(t)
	envDir := filepath.Join(root, "envs")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	envPath := filepath.Join(envDir, "env.dev.yaml")
	if err := os.WriteFile(envPath, append(base, fmt.Sprintf("keystone:\n  credential_rotation:\n    interval: %s\n", credInterval)...), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.KeystoneSettings().CredentialRotationInterval; got != credInterval {
		t.Fatalf("credential rotation interval %s, want %s", got, credInterval)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	bin := csoBinary(t)
	// The shared HA pair, brought up from nothing here (the first credential key set; the
	// tests after this one use the pair as it leaves it). The schedule is the agents' alone
	// (`up` renders nothing from it): every agent run below reads this env file.
	ownStack(t)
	o, _, _ := upShared(t, ctx, sharedHAKeystone, false)
	dir := o.Dir
	l, _ := NewLayout(dir)
	ks := inventory.ByRole(o.Hosts(), envfile.RoleKeystone)
	shared := keystone.Paths(l.Paths(ks[0].Name), ks[0].Name)
	run := func(args ...string) (string, int) {
		c := exec.CommandContext(ctx, bin, append(args, "--env-dir", envDir)...)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("cso %s: %v", strings.Join(args, " "), err)
		}
		return string(out), code
	}
	agentRun := func(host string) string {
		t.Helper()
		out, code := run("agent", "--local-dir", dir, "--host", host)
		if code != 0 {
			t.Fatalf("agent %s: exit %d\n%s", host, code, out)
		}
		return out
	}
	sharedSet := func() ([]keystone.KeyInfo, map[string][]byte) {
		t.Helper()
		infos, err := keystone.ReadKeySet(shared, keystone.KindCredential)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string][]byte{}
		for _, k := range infos {
			data, err := os.ReadFile(filepath.Join(shared.SharedCred, k.Name))
			if err != nil {
				t.Fatal(err)
			}
			keys[k.Name] = data
		}
		return infos, keys
	}
	// The schedule is due once the primary key has been the primary for the interval
	// (keystone.RotationDue: the modification time of its file). In full
	// (CSO_FAULTS=full) the test waits for that; in CI it ages the primary's file by the
	// interval instead, which is what the wait would do to it: three waits of up to a
	// minute each saved, the same runs and assertions.
	waitDue := func() {
		infos, _ := sharedSet()
		primary := infos[len(infos)-1]
		wait := time.Until(primary.Since.Add(credInterval))
		if wait <= 0 {
			return
		}
		if fullFaults() {
			time.Sleep(wait + time.Second)
			return
		}
		aged := time.Now().Add(-credInterval - time.Second)
		if err := os.Chtimes(filepath.Join(shared.SharedCred, primary.Name), aged, aged); err != nil {
			t.Fatal(err)
		}
	}

	// An EC2 credential of the admin user on the admin project, through keystone01's API.
	k1 := newKSAPI(t, l, ks[0])
	admin := k1.adminToken(t, l)
	userID := firstID(t, k1.do(t, "GET", "/v3/users?name=admin", admin, nil, 200), "users")
	projectID := firstID(t, k1.do(t, "GET", "/v3/projects?name=admin", admin, nil, 200), "projects")
	created := k1.do(t, "POST", "/v3/users/"+userID+"/credentials/OS-EC2", admin, map[string]any{"tenant_id": projectID}, 201)
	access, secret := field(created, "credential", "access"), field(created, "credential", "secret")
	if access == "" || secret == "" {
		t.Fatalf("EC2 credential: %v", created)
	}
	credID := fmt.Sprintf("%x", sha256.Sum256([]byte(access))) // Keystone's id of an EC2 credential
	// The control: the credential works before any rotation, so a failure after them is
	// the rotations', not the signing's.
	if err := ec2Token(ctx, k1, admin, access, secret); err != nil {
		t.Fatalf("the new EC2 credential before any rotation: %v", err)
	}
	// And a wrong secret is refused: the check can fail.
	if err := ec2Token(ctx, k1, admin, access, secret+"x"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("an EC2 request signed with a wrong secret: %v, want HTTP 401", err)
	}
	mpw, err := l.Secrets().Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		t.Fatal(err)
	}
	db, err := agent.OpenMySQL(l.MySQLServer(o.PortBase), MySQLAdminUser, mpw, "keystone")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyHash := func() string {
		t.Helper()
		var h string
		if err := db.QueryRowContext(ctx, "SELECT key_hash FROM credential WHERE id = ?", credID).Scan(&h); err != nil {
			t.Fatalf("credential %s in the database: %v", credID, err)
		}
		return h
	}
	_, keys := sharedSet()
	firstKey := keystone.PrimaryKeyHash(keys)
	if h := keyHash(); h != firstKey {
		t.Fatalf("the new credential's key_hash %s, want the primary key's %s", h, firstKey)
	}

	// Rotation 1: due, keystone01 rotates on its own.
	waitDue()
	out := agentRun(ks[0].Name)
	want := fmt.Sprintf("scheduled credential rotation (every %s): key 2 is the new primary", credInterval)
	if !strings.Contains(out, want) {
		t.Fatalf("rotation 1: keystone01's run lacks %q\n%s", want, out)
	}
	// Due again, but keystone02 has not installed the set: refused, the set unchanged.
	waitDue()
	out = agentRun(ks[0].Name)
	if !strings.Contains(out, "scheduled credential rotation") || !strings.Contains(out, "postponed: refusing to rotate: keystone02 has not installed the current credential key set") {
		t.Errorf("keystone01's run while keystone02 is behind: want the rotation postponed\n%s", out)
	}
	if infos, _ := sharedSet(); infos[len(infos)-1].Name != "2" {
		t.Fatalf("a rotation happened while keystone02 was behind: primary %s", infos[len(infos)-1].Name)
	}
	agentRun(ks[1].Name)
	// Every node holds the set; the credential is still encrypted with key 1: this run
	// refuses the rotation (migration pending), then migrates.
	out = agentRun(ks[0].Name)
	if !strings.Contains(out, "postponed: refusing to rotate: ") || !strings.Contains(out, "stored credential(s) are not encrypted with the primary credential key yet") {
		t.Errorf("keystone01's run with the migration pending: want the rotation postponed\n%s", out)
	}
	_, keys = sharedSet()
	if h := keyHash(); h != keystone.PrimaryKeyHash(keys) || h == firstKey {
		t.Fatalf("after keystone01's run the credential's key_hash is %s, want the new primary's %s", h, keystone.PrimaryKeyHash(keys))
	}

	// Rotation 2: due (the interval has passed), nothing pending: key 3, key 1 purged.
	waitDue()
	out = agentRun(ks[0].Name)
	want = fmt.Sprintf("scheduled credential rotation (every %s): key 3 is the new primary", credInterval)
	if !strings.Contains(out, want) {
		t.Fatalf("rotation 2: keystone01's run lacks %q\n%s", want, out)
	}
	agentRun(ks[1].Name)
	agentRun(ks[0].Name) // credential_migrate
	infos, keys := sharedSet()
	var names []string
	for _, k := range infos {
		names = append(names, k.Name)
	}
	if strings.Join(names, ",") != "0,2,3" {
		t.Errorf("credential keys after two rotations: %v, want 0,2,3 (key 1 purged)", names)
	}
	if h := keyHash(); h != keystone.PrimaryKeyHash(keys) {
		t.Errorf("after two rotations the credential's key_hash is %s, want the primary's %s", h, keystone.PrimaryKeyHash(keys))
	}
	for _, h := range ks {
		local := keystone.Paths(l.Paths(h.Name), h.Name).CredentialKeys
		if _, err := os.Stat(filepath.Join(local, "1")); err == nil {
			t.Errorf("%s still holds credential key 1", h.Name)
		}
		if _, err := os.Stat(filepath.Join(local, "3")); err != nil {
			t.Errorf("%s lacks credential key 3: %v", h.Name, err)
		}
	}

	// The credential works on both nodes: as the caches hold it now, then with every
	// node's memcached emptied (Keystone decrypts what it reads from the database).
	check := func(when string) {
		for _, h := range ks {
			k := newKSAPI(t, l, h)
			tok := k.adminToken(t, l)
			got := k.do(t, "GET", "/v3/users/"+userID+"/credentials/OS-EC2/"+access, tok, nil, 200)
			if s := field(got, "credential", "secret"); s != secret {
				t.Errorf("%s, %s: the EC2 credential's secret reads %q, want the one created", when, h.Name, s)
			}
			if err := ec2Token(ctx, k, tok, access, secret); err != nil {
				t.Errorf("%s, %s: an EC2-signed request: %v", when, h.Name, err)
			}
		}
	}
	check("after two scheduled rotations")
	for _, h := range ks {
		if err := memcachedFlush(net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Ports[inventory.PortMemcached]))); err != nil {
			t.Fatal(err)
		}
	}
	check("with the caches emptied")
	out, code := run("keys", "status", "--local-dir", dir)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("schedule: every %s, then credential_migrate", credInterval)) || !strings.Contains(out, "next rotation: ") {
		t.Errorf("keys status: exit %d\n%s", code, out)
	}
	t.Logf("keys status after two scheduled credential rotations:\n%s", out)
}

// firstID is the id of the only item of list key in a Keystone answer.
func firstID(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	items, _ := m[key].([]any)
	if len(items) != 1 {
		t.Fatalf("%s: %v, want one", key, m)
	}
	id, _ := items[0].(map[string]any)["id"].(string)
	return id
}

// ec2Token asks Keystone for a token with an EC2 signature (version 2, HMAC-SHA256, as
// keystoneclient's Ec2Signer computes it): Keystone reads the credential, decrypts its
// secret and compares the signature. The caller is an administrator or a service (policy
// identity:ec2tokens_validate, ADMIN_OR_SERVICE), as the EC2/S3 front ends that call it are.
func ec2Token(ctx context.Context, k *ksAPI, adminToken, access, secret string) error {
	params := map[string]string{"Action": "DescribeInstances", "AWSAccessKeyId": access, "SignatureMethod": "HmacSHA256",
		"SignatureVersion": "2", "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z")}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, n := range names {
		pairs[i] = url.QueryEscape(n) + "=" + url.QueryEscape(params[n])
	}
	const verb, host, path = "GET", "localhost", "/"
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(verb + "\n" + host + "\n" + path + "\n" + strings.Join(pairs, "&")))
	body, _ := json.Marshal(map[string]any{"credentials": map[string]any{"access": access, "host": host, "verb": verb, "path": path,
		"params": params, "signature": base64.StdEncoding.EncodeToString(mac.Sum(nil))}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base+"/v3/ec2tokens", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", adminToken)
	resp, err := k.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Subject-Token") == "" {
		return fmt.Errorf("POST /v3/ec2tokens: HTTP %d: %s", resp.StatusCode, data)
	}
	return nil
}
