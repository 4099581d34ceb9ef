package keystone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
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
	// And what a kill during a later install leaves: the staging directory with a file.
	if err := os.Mkdir(stagingDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stagingDir(dir), ".2.999.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keyModes(dir); !strings.Contains(got, "interrupted install") {
		t.Errorf("keyModes with a stale staging directory = %q, want it named", got)
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
	if _, err := os.Stat(stagingDir(dir)); !os.IsNotExist(err) {
		t.Errorf("the staging directory %s is still there (%v)", stagingDir(dir), err)
	}
}

// Keystone opens every entry of its key repository on every token operation (as the
// keystone user; keystone/common/fernet_utils.py _get_key_files). While the agent installs
// keys, the repository must show Keystone only keys: before, the agent's temporary files
// (root's, 0600, until their rename) appeared there and Keystone, failing to open one,
// answered 500. A reader doing what Keystone does runs beside 60 installs that rewrite
// every key; it must never meet a name that is not a key nor fail to open one.
func TestInstallKeysShowsKeystoneOnlyKeys(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs keys owned by the keystone user: run as root")
	}
	if _, _, err := agent.LookupIDs(User, Group); err != nil {
		t.Skipf("no %s user on this machine (the keystone role creates it): %v", User, err)
	}
	dir := filepath.Join(t.TempDir(), "fernet-keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	set := func(gen int) map[string][]byte {
		keys := map[string][]byte{}
		for _, n := range []string{"0", "1", "2", "3"} {
			keys[n] = []byte(fmt.Sprintf("key %s of generation %d", n, gen))
		}
		return keys
	}
	if err := installKeys(context.Background(), &agent.Runtime{}, dir, set(0)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var foreign, failed []string
	reads := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				failed = append(failed, err.Error())
				continue
			}
			for _, e := range entries {
				if !keyNameRE.MatchString(e.Name()) {
					foreign = append(foreign, e.Name())
				}
				if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil || len(b) == 0 {
					failed = append(failed, fmt.Sprintf("%s: %v (%d bytes)", e.Name(), err, len(b)))
				}
			}
			reads++
		}
	}()
	for gen := 1; gen <= 60; gen++ {
		if err := installKeys(context.Background(), &agent.Runtime{}, dir, set(gen)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if len(foreign) > 0 || len(failed) > 0 {
		t.Errorf("during 60 installs the repository showed %d entries that are not keys (%v) and %d reads failed (%v)",
			len(foreign), first10(foreign), len(failed), first10(failed))
	}
	if reads < 10 {
		t.Errorf("the reader read the repository only %d times", reads)
	}
	if have, err := readKeys(dir); err != nil || !sameKeys(have, set(60)) {
		t.Errorf("after the installs: %q, %v; want generation 60", have, err)
	}
	if _, err := os.Stat(stagingDir(dir)); !os.IsNotExist(err) {
		t.Errorf("the staging directory %s is left behind (%v)", stagingDir(dir), err)
	}
	t.Logf("%d reads of the repository during 60 installs of 4 keys", reads)
}

func first10(s []string) []string { return s[:min(len(s), 10)] }
