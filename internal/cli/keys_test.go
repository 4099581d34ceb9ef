//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// keysFixture is a local target of environment "t" (two Keystone nodes) with a shared
// fernet set {0,1,2} and credential set {0,1}; keystone01 published the current sets,
// keystone02 the fernet set before the last rotation (keys 0 and 1). It returns the directory and env dir.
func keysFixture(t *testing.T, envYAML string) (dir, envDir string) {
	t.Helper()
	envDir = keysEnvDir(t, envYAML)
	dir = filepath.Join(filepath.Dir(envDir), "local")
	env, err := envfile.Load(filepath.Join(envDir, "env.t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := local.NewLayout(dir)
	os.MkdirAll(dir, 0o755)
	if err := (&target.Target{Env: "t", Kind: target.KindLocal, Hosts: inventory.Hosts(env), StatusDir: l.StatusDir()}).Save(l.TargetFile()); err != nil {
		t.Fatal(err)
	}
	kl := keystone.Paths(l.Paths("keystone01"), "keystone01")
	now := time.Now()
	write := func(d string, names map[string]time.Duration) map[string][]byte {
		os.MkdirAll(d, 0o700)
		keys := map[string][]byte{}
		for n, age := range names {
			keys[n] = []byte("key-" + n + "-" + filepath.Base(d))
			os.WriteFile(filepath.Join(d, n), keys[n], 0o600)
			os.Chtimes(filepath.Join(d, n), now.Add(-age), now.Add(-age))
		}
		return keys
	}
	fernet := write(kl.SharedFernet, map[string]time.Duration{"0": 2 * time.Hour, "1": 30 * time.Hour, "2": 2 * time.Hour})
	cred := write(kl.SharedCred, map[string]time.Duration{"0": 50 * time.Hour, "1": 50 * time.Hour})
	infos, _ := keystone.ReadKeySet(kl, keystone.KindFernet)
	ctx := context.Background()
	for host, f := range map[string]map[string][]byte{"keystone01": fernet, "keystone02": {"0": fernet["2"], "1": fernet["1"]}} {
		doc := status.Host{Host: host, Role: "keystone", Env: "t", State: "done", UpdatedAt: now, Facts: map[string]string{
			status.FactFernetKeys: status.DigestKeys(f).String(), status.FactCredentialKeys: status.DigestKeys(cred).String(),
			status.FactFernetKeyTimes: keystone.KeyTimes(infos),
		}}
		if err := l.Store().Put(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	return dir, envDir
}

// TestKeysStatusLocal: the key sets with their states and ages, which node holds which,
// the schedule from the env file and the next rotation.
func TestKeysStatusLocal(t *testing.T) {
	dir, envDir := keysFixture(t, "keystone:\n  token_expiration: 2h\n  fernet_rotation:\n    interval: 12h\n  credential_rotation:\n    interval: 72h\n")
	code, out, errOut := runCSO(t, "keys", "status", "--local-dir", dir, "--env-dir", envDir, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Env     string         `json:"env"`
		KeySets []keySetStatus `json:"key_sets"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Env != "t" || len(doc.KeySets) != 2 {
		t.Fatalf("document %+v", doc)
	}
	f := doc.KeySets[0]
	if f.Kind != "fernet" || len(f.Keys) != 3 || f.Keys[2].State != keystone.KeyPrimary || f.Keys[1].State != keystone.KeySecondary ||
		f.Keys[2].AgeMS < 7_190_000 || f.Keys[2].AgeMS > 7_300_000 {
		t.Errorf("fernet keys %+v", f.Keys)
	}
	// 2h of tokens over 12h rotations: ceil(1/6)=1, + 2, + 1 spare.
	if f.RotationMS != 12*3600_000 || f.TokenLifetimeMS != 2*3600_000 || f.MaxActiveKeys != 4 {
		t.Errorf("schedule %d/%d/%d", f.RotationMS, f.TokenLifetimeMS, f.MaxActiveKeys)
	}
	if in := time.Until(f.NextRotation); in < 9*time.Hour+50*time.Minute || in > 10*time.Hour {
		t.Errorf("next rotation %s (in %s), want the primary's time + 12h, in 10h", f.NextRotation, in)
	}
	if len(f.Nodes) != 2 || f.Nodes[0].Holds != "current" || f.Nodes[1].Holds != "behind" || strings.Join(f.Nodes[1].Keys, ",") != "0,1" {
		t.Errorf("nodes %+v: want keystone01 current, keystone02 behind with keys 0,1", f.Nodes)
	}
	c := doc.KeySets[1]
	if c.Kind != "credential" || len(c.Keys) != 2 || c.Nodes[0].Holds != "current" || c.Nodes[1].Holds != "current" {
		t.Errorf("credential set %+v", c)
	}
	// The credential schedule: the primary (key 1) is 50h old, so due in 22h; no node has
	// recorded the set it installed (no marker in the fixture): a rotation now is refused.
	if c.RotationMS != 72*3600_000 || c.MaxActiveKeys != keystone.CredentialMaxActiveKeys {
		t.Errorf("credential schedule %d ms, %d keys; want 72h and 3", c.RotationMS, c.MaxActiveKeys)
	}
	if in := time.Until(c.NextRotation); in < 21*time.Hour+50*time.Minute || in > 22*time.Hour {
		t.Errorf("credential next rotation %s (in %s), want the primary's time + 72h, in 22h", c.NextRotation, in)
	}
	if !strings.Contains(c.NextRotationNote, "refused now") || !strings.Contains(c.NextRotationNote, "not installed the current credential key set") {
		t.Errorf("credential next rotation note %q, want the refusal (nodes behind)", c.NextRotationNote)
	}
	code, out, _ = runCSO(t, "keys", "status", "--local-dir", dir, "--env-dir", envDir)
	for _, want := range []string{"fernet key set (shared store", "keystone02  behind", "schedule: every 12h0m0s, tokens live 2h0m0s, max_active_keys 4", "next rotation: ",
		"credential key set (shared store", "schedule: every 72h0m0s, then credential_migrate once every node holds the set; 3 keys"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestKeysBadInput: usage errors exit 2 and change nothing.
func TestKeysBadInput(t *testing.T) {
	dir, envDir := keysFixture(t, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "status"}, "give --env NAME"},
		{[]string{"keys", "status", "--env", "t", "--local-dir", dir}, "not both"},
		{[]string{"keys", "rotate", "tokens", "--local-dir", dir}, `no key set "tokens"`},
		{[]string{"keys", "rotate", "credential", "--force", "--local-dir", dir}, "--force applies to the fernet set only"},
		{[]string{"keys", "status", "--local-dir", filepath.Join(dir, "nothing")}, "cso local up"},
	} {
		code, _, errOut := runCSO(t, append(c.args, "--env-dir", envDir)...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("cso %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}
