package keystone

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
)

// After a rotation the new primary (highest index) holds the material of the old staged key
// 0: it must be on disk before key 0 is overwritten, or the node refuses, for that moment,
// the tokens the rotating node has just signed.
func TestKeyInstallOrderPrimaryFirstStagedLast(t *testing.T) {
	keys := map[string][]byte{"0": nil, "1": nil, "2": nil, "9": nil, "10": nil}
	for range 20 { // map order is random: the order must not be
		if got, want := keyInstallOrder(keys), []string{"10", "9", "2", "1", "0"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("install order %v, want %v", got, want)
		}
	}
}

// A rotation as a receiving node sees it: key 0 replaced, a new primary, the oldest purged;
// and a temporary file left by an agent killed between create and rename, which the next
// run must remove (before, keyModes reported it on every run and nothing removed it).
func TestInstallKeysRotatesAndRemovesInterruptedWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs keys owned by the keystone user: run as root")
	}
	if _, _, err := agent.LookupIDs(User, Group); err != nil {
		t.Skipf("no %s user on this machine (the keystone role creates it): %v", User, err)
	}
	dir := t.TempDir()
	for name, v := range map[string]string{"0": "staged", "1": "oldest", "2": "primary"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stale := filepath.Join(dir, ".1.12345.tmp")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keyModes(dir); !strings.Contains(got, "interrupted write") {
		t.Errorf("keyModes with a stale temporary file = %q, want it named", got)
	}
	rotated := map[string][]byte{"0": []byte("new staged"), "2": []byte("primary"), "3": []byte("staged")}
	if err := installKeys(context.Background(), &agent.Runtime{}, dir, rotated); err != nil {
		t.Fatal(err)
	}
	have, err := readKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKeys(have, rotated) {
		t.Errorf("after install: %q, want %q", have, rotated)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the interrupted write %s is still there (%v)", stale, err)
	}
	if got := keyModes(dir); got != "" {
		t.Errorf("keyModes after install = %q, want nothing to fix", got)
	}
}
