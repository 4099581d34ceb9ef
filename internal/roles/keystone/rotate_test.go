package keystone

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRotateFernetLockStep(t *testing.T) {
	dir := t.TempDir()
	l := Layout{SharedDir: dir, SharedFernet: filepath.Join(dir, "fernet-keys")}
	os.MkdirAll(l.SharedFernet, 0o700)
	os.WriteFile(filepath.Join(l.SharedFernet, "0"), []byte("staged-a"), 0o600)
	os.WriteFile(filepath.Join(l.SharedFernet, "1"), []byte("primary-a"), 0o600)
	hosts := []string{"keystone01", "keystone02"}
	install := func(hs ...string) {
		keys, _ := readKeys(l.SharedFernet)
		for _, h := range hs {
			os.MkdirAll(filepath.Dir(installedMarker(l, h)), 0o755)
			os.WriteFile(installedMarker(l, h), []byte(SetHash(keys)+"\n"), 0o600)
		}
	}
	names := func() string {
		keys, _ := readKeys(l.SharedFernet)
		var n []string
		for k := range keys {
			n = append(n, k)
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	if _, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4}); err == nil || !strings.Contains(err.Error(), "keystone01, keystone02 have not installed") {
		t.Fatalf("rotation before distribution: %v", err)
	}
	install(hosts...)
	p, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4})
	if err != nil || p.Primary != "2" || len(p.Removed) != 0 || names() != "0,1,2" {
		t.Fatalf("first rotation: primary %q, keys %s, %v", p, names(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(l.SharedFernet, "2")); string(b) != "staged-a" {
		t.Errorf("the staged key did not become the primary: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.SharedFernet, "0")); string(b) == "staged-a" || len(b) != 44 {
		t.Errorf("new staged key %q: want a fresh 32-byte urlsafe base64 key", b)
	}
	install("keystone01")
	if _, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4}); err == nil || !strings.Contains(err.Error(), "keystone02 has not installed") {
		t.Fatalf("second rotation before keystone02 installed: %v", err)
	}
	install("keystone02")
	if _, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4}); err != nil || names() != "0,1,2,3" {
		t.Fatalf("rotation: keys %s, %v", names(), err)
	}
	install(hosts...)
	if _, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4}); err != nil || names() != "0,2,3,4" {
		t.Fatalf("rotation beyond max_active_keys: keys %s (want the oldest secondary 1 purged), %v", names(), err)
	}
}

// TestRotateFernetRefusesToPurgeKeysOfLiveTokens: with tokens living 1h and 4 keys, the
// rotations follow the schedule's pace; a rotation that would remove a key some node signed
// with less than a token lifetime ago is refused with the time it becomes safe, proceeds
// with Force, and the schedule says when it is due.
func TestRotateFernetRefusesToPurgeKeysOfLiveTokens(t *testing.T) {
	dir := t.TempDir()
	l := Layout{SharedDir: dir, SharedFernet: filepath.Join(dir, "fernet-keys")}
	os.MkdirAll(l.SharedFernet, 0o700)
	hosts := []string{"keystone01", "keystone02"}
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	// The set the first node created at t0: staged 0, primary 1.
	for n, c := range map[string]string{"0": "staged-a", "1": "primary-a"} {
		os.WriteFile(filepath.Join(l.SharedFernet, n), []byte(c), 0o600)
		os.Chtimes(filepath.Join(l.SharedFernet, n), t0, t0)
	}
	// install records every node's marker at time at, as the agents do after a rotation.
	install := func(at time.Time) {
		keys, _ := readKeys(l.SharedFernet)
		for _, h := range hosts {
			os.MkdirAll(filepath.Dir(installedMarker(l, h)), 0o755)
			os.WriteFile(installedMarker(l, h), []byte(SetHash(keys)+"\n"), 0o600)
			os.Chtimes(installedMarker(l, h), at, at)
		}
	}
	// rotate rotates at time at; the new key files carry that time, as a rename at that time gives them.
	rotate := func(at time.Time, force bool) (Rotation, error) {
		p, err := RotateFernet(l, hosts, FernetPolicy{MaxActive: 4, TokenLifetime: time.Hour, Now: at, Force: force})
		if err == nil {
			os.Chtimes(filepath.Join(l.SharedFernet, p.Primary), at, at)
			os.Chtimes(filepath.Join(l.SharedFernet, "0"), at, at)
		}
		return p, err
	}
	install(t0.Add(time.Minute))
	interval := time.Hour
	if due, since, err := FernetRotationDue(l, interval, t0.Add(59*time.Minute)); err != nil || due || !since.Equal(t0) {
		t.Fatalf("due %v since %v (%v): want not yet due, primary since %v", due, since, err, t0)
	}
	if due, _, _ := FernetRotationDue(l, interval, t0.Add(interval)); !due {
		t.Fatal("not due after one interval")
	}
	// Three rotations an hour apart (keys 2, 3, 4), each installed by the nodes 2 minutes
	// later: the third removes key 1, which retired by the time key 3 became the primary
	// (t0+2h, when every node held key 2's set), so removing it is safe from t0+3h.
	for i, want := range []string{"2", "3", "4"} {
		at := t0.Add(time.Duration(i+1) * interval)
		if p, err := rotate(at, false); err != nil || p.Primary != want {
			t.Fatalf("rotation %d at %s: primary %q, %v", i+1, at, p, err)
		}
		install(at.Add(2 * time.Minute))
	}
	if names := keyNames(l.SharedFernet); names != "0,2,3,4" {
		t.Fatalf("keys %s after three rotations: want key 1 removed", names)
	}
	// The next rotation removes key 2, which retired by t0+3h (key 4's rotation): tokens it
	// signed live until t0+4h. One second early it is refused, saying when it is safe.
	_, err := rotate(t0.Add(4*time.Hour-time.Second), false)
	var unsafe *UnsafePurgeError
	if !errors.As(err, &unsafe) || unsafe.Key != "2" || !unsafe.SafeAfter.Equal(t0.Add(4*time.Hour)) ||
		!strings.Contains(err.Error(), "Safe after 2026-12-05T04:00:00Z") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("early rotation: %v; want refused, key 2 safe after 04:00:00Z", err)
	}
	if names := keyNames(l.SharedFernet); names != "0,2,3,4" {
		t.Fatalf("a refused rotation changed the set: %s", names)
	}
	if p, err := PlanRotation(l, KindFernet, hosts, FernetPolicy{MaxActive: 4, TokenLifetime: time.Hour, Now: t0.Add(4*time.Hour - time.Second)}); !errors.As(err, &unsafe) {
		t.Fatalf("dry run of the early rotation: %q, %v; want the same refusal", p, err)
	}
	if p, err := rotate(t0.Add(4*time.Hour), false); err != nil || p.Primary != "5" || strings.Join(p.Removed, ",") != "2" || keyNames(l.SharedFernet) != "0,3,4,5" {
		t.Fatalf("rotation on schedule: %q %v, keys %s", p, err, keyNames(l.SharedFernet))
	}
	install(t0.Add(4*time.Hour + 2*time.Minute))
	// Five minutes later: key 3 retired by t0+4h, refused until t0+5h; forced, it proceeds.
	at := t0.Add(4*time.Hour + 5*time.Minute)
	if _, err := rotate(at, false); !errors.As(err, &unsafe) || unsafe.Key != "3" || !unsafe.SafeAfter.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("rotation 5 minutes after the last: %v; want key 3 refused until 05:00:00Z", err)
	}
	if p, err := rotate(at, true); err != nil || p.Primary != "6" || p.Removal(false) != " and key 3 is removed" || keyNames(l.SharedFernet) != "0,4,5,6" {
		t.Fatalf("forced rotation: %q %v, keys %s", p, err, keyNames(l.SharedFernet))
	}
	// Force never skips the lock step: the nodes have not installed key 6's set.
	if _, err := rotate(at, true); err == nil || !strings.Contains(err.Error(), "have not installed") {
		t.Fatalf("forced rotation with nodes behind: %v", err)
	}
	infos, err := ReadKeySet(l, KindFernet)
	if err != nil || len(infos) != 4 || infos[0].State != KeyStaged || infos[3].State != KeyPrimary || infos[3].Name != "6" || infos[1].State != KeySecondary {
		t.Fatalf("key set %+v, %v", infos, err)
	}
	times, err := ParseKeyTimes(KeyTimes(infos))
	if err != nil || !times["6"].Equal(at) || !times["4"].Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("key times %v, %v", times, err)
	}
}

func keyNames(dir string) string {
	keys, _ := readKeys(dir)
	var n []string
	for k := range keys {
		n = append(n, k)
	}
	sort.Slice(n, func(i, j int) bool { a, _ := strconv.Atoi(n[i]); b, _ := strconv.Atoi(n[j]); return a < b })
	return strings.Join(n, ",")
}

func TestNewKeySetIsKeystoneLayout(t *testing.T) {
	keys, err := newKeySet()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["0"] == nil || keys["1"] == nil {
		t.Fatalf("keys %v: want the staged key 0 and the primary key 1", keys)
	}
	for n, k := range keys {
		raw, err := base64.URLEncoding.DecodeString(string(k))
		if err != nil || len(raw) != 32 {
			t.Errorf("key %s is not 32 bytes of URL-safe base64 (Fernet): %v", n, err)
		}
	}
	if string(keys["0"]) == string(keys["1"]) {
		t.Error("staged and primary keys are equal")
	}
}

// TestRotateCredentialRefusalsAndLayout: the credential set rotates in lock step like the
// fernet set (its own markers), refuses while credentials are not all encrypted with the
// current primary key (asking with that key's hash), and keeps Keystone's three keys.
func TestRotateCredentialRefusalsAndLayout(t *testing.T) {
	dir := t.TempDir()
	l := Layout{SharedDir: dir, SharedCred: filepath.Join(dir, "credential-keys"), SharedFernet: filepath.Join(dir, "fernet-keys"),
		Conf: filepath.Join(dir, "keystone.conf")}
	os.MkdirAll(l.SharedCred, 0o700)
	os.WriteFile(filepath.Join(l.SharedCred, "0"), []byte("staged-a"), 0o600)
	os.WriteFile(filepath.Join(l.SharedCred, "1"), []byte("primary-a"), 0o600)
	hosts := []string{"keystone01", "keystone02"}
	mark := func(marker func(Layout, string) string, dir string, hs ...string) {
		keys, _ := readKeys(dir)
		for _, h := range hs {
			os.MkdirAll(filepath.Dir(marker(l, h)), 0o755)
			os.WriteFile(marker(l, h), []byte(SetHash(keys)+"\n"), 0o600)
		}
	}
	names := func() string {
		keys, _ := readKeys(l.SharedCred)
		var n []string
		for k := range keys {
			n = append(n, k)
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	var pending int
	var pendingErr error
	var askedHash, askedConf string
	defer func(f func(string, string) (int, error)) { countPending = f }(countPending)
	countPending = func(conf, hash string) (int, error) {
		askedConf, askedHash = conf, hash
		return pending, pendingErr
	}
	if credentialMarker(l, "keystone01") == installedMarker(l, "keystone01") {
		t.Fatal("the credential and fernet sets share one marker file")
	}

	// Markers of the fernet set say nothing about the credential set.
	os.MkdirAll(l.SharedFernet, 0o700)
	os.WriteFile(filepath.Join(l.SharedFernet, "0"), []byte("f0"), 0o600)
	mark(installedMarker, l.SharedFernet, hosts...)
	if _, err := RotateCredential(l, hosts); err == nil || !strings.Contains(err.Error(), "keystone01, keystone02 have not installed the current credential key set") {
		t.Fatalf("rotation before any node recorded the credential set: %v", err)
	}
	mark(credentialMarker, l.SharedCred, "keystone01")
	if _, err := RotateCredential(l, hosts); err == nil || !strings.Contains(err.Error(), "keystone02 has not installed the current credential key set") {
		t.Fatalf("rotation before keystone02 installed: %v", err)
	}
	mark(credentialMarker, l.SharedCred, "keystone02")

	// A pending migration (or a database that cannot tell) refuses; nothing changes.
	pending = 2
	if _, err := RotateCredential(l, hosts); err == nil || !strings.Contains(err.Error(), "2 stored credential(s) are not encrypted with the primary credential key") {
		t.Fatalf("rotation with a migration pending: %v", err)
	}
	sum := sha1.Sum([]byte("primary-a"))
	if askedHash != hex.EncodeToString(sum[:]) || askedConf != l.Conf {
		t.Errorf("asked the database of %q about key hash %q, want %s and the SHA-1 of the primary key 1", askedConf, askedHash, l.Conf)
	}
	pending, pendingErr = 0, errors.New("connection refused")
	if _, err := RotateCredential(l, hosts); err == nil || !strings.Contains(err.Error(), "cannot tell whether every stored credential is encrypted") {
		t.Fatalf("rotation when the database cannot be read: %v", err)
	}
	pendingErr = nil
	if names() != "0,1" {
		t.Fatalf("a refused rotation changed the set: %s", names())
	}
	if p, err := PlanRotation(l, KindCredential, hosts, FernetPolicy{}); err != nil || p.Primary != "2" || names() != "0,1" {
		t.Fatalf("plan: primary %q, keys %s, %v (want 2, nothing changed)", p, names(), err)
	}

	// credential_rotate's layout: staged key -> primary 2, a fresh staged key.
	p, err := RotateCredential(l, hosts)
	if err != nil || p.Primary != "2" || names() != "0,1,2" {
		t.Fatalf("first rotation: primary %q, keys %s, %v", p, names(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(l.SharedCred, "2")); string(b) != "staged-a" {
		t.Errorf("the staged key did not become the primary: %q", b)
	}
	b, _ := os.ReadFile(filepath.Join(l.SharedCred, "0"))
	if raw, err := base64.URLEncoding.DecodeString(string(b)); err != nil || len(raw) != 32 {
		t.Errorf("new staged key %q: want 32 bytes of URL-safe base64 (%v)", b, err)
	}
	if _, err := RotateCredential(l, hosts); err == nil || !strings.Contains(err.Error(), "keystone01, keystone02 have not installed") {
		t.Fatalf("second rotation before distribution: %v", err)
	}
	mark(credentialMarker, l.SharedCred, hosts...)
	if p, err := RotateCredential(l, hosts); err != nil || p.Removal(true) != " and key 1 would be removed" || names() != "0,2,3" {
		t.Fatalf("rotation beyond Keystone's three credential keys: keys %s (want the old primary 1 purged), %v", names(), err)
	}
}

// TestPrimaryKeyHashIsKeystones: the primary key is the highest number (not the last
// name), hashed as keystone.credential.providers.fernet.core.primary_key_hash does.
func TestPrimaryKeyHashIsKeystones(t *testing.T) {
	keys := map[string][]byte{"0": []byte("a"), "9": []byte("b"), "10": []byte("c")}
	// python3 -c 'import hashlib; print(hashlib.sha1(b"c").hexdigest())'
	if got, want := PrimaryKeyHash(keys), "84a516841ba77a5b4648de2cd0dfcb30ea46dbb4"; got != want {
		t.Errorf("PrimaryKeyHash = %s, want %s (SHA-1 of key 10)", got, want)
	}
}

func TestDBFromConf(t *testing.T) {
	pw := "p+w/o@r%d " + "x" // query-escaped by renderConfig; the parser must undo exactly that
	conf := filepath.Join(t.TempDir(), "keystone.conf")
	os.WriteFile(conf, []byte("[DEFAULT]\nconnection = ignored\n[database]\nconnection = mysql+pymysql://keystone:"+
		url.QueryEscape(pw)+"@127.0.0.1:3307/keystone?charset=utf8mb4&ssl_ca=%2Fx%2Fca.crt&ssl_check_hostname=true\nmax_retries = 10\n[token]\n"), 0o600)
	srv, user, got, name, err := dbFromConf(conf)
	if err != nil || srv.Addr != "127.0.0.1:3307" || srv.CAFile != "/x/ca.crt" || user != "keystone" || got != pw || name != "keystone" {
		t.Fatalf("dbFromConf: server %+v user %s password round-trips %v database %s: %v", srv, user, got == pw, name, err)
	}
	os.WriteFile(conf, []byte("[database]\nconnection = sqlite://\n"), 0o600)
	if _, _, _, _, err := dbFromConf(conf); err == nil || !strings.Contains(err.Error(), conf+": [database] connection") {
		t.Errorf("a connection that is not MySQL: %v", err)
	}
}

// The credential schedule reads its own set: the primary credential key's file time, not
// the fernet set's, and no set is an error naming the credential directory.
func TestRotationDueCredential(t *testing.T) {
	dir := t.TempDir()
	l := Layout{SharedDir: dir, SharedCred: filepath.Join(dir, "credential-keys"), SharedFernet: filepath.Join(dir, "fernet-keys")}
	if _, _, err := RotationDue(l, KindCredential, time.Hour, time.Now()); err == nil || !strings.Contains(err.Error(), l.SharedCred) {
		t.Fatalf("no credential set: %v, want an error naming %s", err, l.SharedCred)
	}
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	os.MkdirAll(l.SharedCred, 0o700)
	os.MkdirAll(l.SharedFernet, 0o700)
	for n, at := range map[string]time.Time{"0": t0.Add(2 * time.Hour), "1": t0.Add(-time.Hour), "2": t0} {
		os.WriteFile(filepath.Join(l.SharedCred, n), []byte("c"+n), 0o600)
		os.Chtimes(filepath.Join(l.SharedCred, n), at, at)
	}
	// A fernet primary written later must not move the credential schedule.
	os.WriteFile(filepath.Join(l.SharedFernet, "1"), []byte("f1"), 0o600)
	os.Chtimes(filepath.Join(l.SharedFernet, "1"), t0.Add(10*time.Hour), t0.Add(10*time.Hour))
	interval := 720 * time.Hour
	if due, since, err := RotationDue(l, KindCredential, interval, t0.Add(interval-time.Second)); err != nil || due || !since.Equal(t0) {
		t.Fatalf("due %v since %v (%v): want not yet due, primary (key 2) since %v", due, since, err, t0)
	}
	if due, _, err := RotationDue(l, KindCredential, interval, t0.Add(interval)); err != nil || !due {
		t.Fatalf("after one interval: due %v (%v), want due", due, err)
	}
}
