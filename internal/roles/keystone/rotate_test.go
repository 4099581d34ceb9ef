package keystone

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
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
	if _, err := RotateFernet(l, hosts, 4); err == nil || !strings.Contains(err.Error(), "keystone01, keystone02 have not installed") {
		t.Fatalf("rotation before distribution: %v", err)
	}
	install(hosts...)
	p, err := RotateFernet(l, hosts, 4)
	if err != nil || p != "2" || names() != "0,1,2" {
		t.Fatalf("first rotation: primary %q, keys %s, %v", p, names(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(l.SharedFernet, "2")); string(b) != "staged-a" {
		t.Errorf("the staged key did not become the primary: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.SharedFernet, "0")); string(b) == "staged-a" || len(b) != 44 {
		t.Errorf("new staged key %q: want a fresh 32-byte urlsafe base64 key", b)
	}
	install("keystone01")
	if _, err := RotateFernet(l, hosts, 4); err == nil || !strings.Contains(err.Error(), "keystone02 has not installed") {
		t.Fatalf("second rotation before keystone02 installed: %v", err)
	}
	install("keystone02")
	if _, err := RotateFernet(l, hosts, 4); err != nil || names() != "0,1,2,3" {
		t.Fatalf("rotation: keys %s, %v", names(), err)
	}
	install(hosts...)
	if _, err := RotateFernet(l, hosts, 4); err != nil || names() != "0,2,3,4" {
		t.Fatalf("rotation beyond max_active_keys: keys %s (want the oldest secondary 1 purged), %v", names(), err)
	}
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
