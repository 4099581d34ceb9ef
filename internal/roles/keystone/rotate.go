package keystone

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The fernet key set is rotated and distributed in lock step (ARCHITECTURE.md, as
// kolla-ansible and openstack-ansible do): the shared set is rotated in place, every node
// installs it on its next agent run and records which set it holds in
// <shared>/installed/<host>; a new rotation is refused until every node holds the current
// set. Rotating twice without distributing would leave a node without the primary key of
// the tokens the others issue.

// SetHash identifies a key set (names and contents).
func SetHash(keys map[string][]byte) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%x\x00", n, sha256.Sum256(keys[n]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// installedMarker is where a node records the hash of the fernet set it installed.
func installedMarker(l Layout, host string) string {
	return filepath.Join(l.SharedDir, "installed", host+".fernet")
}

// RotateFernet rotates the shared fernet key set of the environment whose Keystone nodes
// are hosts, as keystone-manage fernet_rotate does: the staged key (0) becomes the new
// primary (highest index), a new staged key is created, and the oldest secondary keys are
// removed beyond maxActive. It refuses while a node has not installed the current set.
// Files change one at a time, each step leaving a set that still holds every key in use.
func RotateFernet(l Layout, hosts []string, maxActive int) (string, error) {
	keys, err := readKeys(l.SharedFernet)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("no fernet key set in %s: converge the first Keystone node first", l.SharedFernet)
	}
	if _, ok := keys["0"]; !ok {
		return "", fmt.Errorf("fernet key set in %s has no staged key 0", l.SharedFernet)
	}
	cur := SetHash(keys)
	var behind []string
	for _, h := range hosts {
		m, err := os.ReadFile(installedMarker(l, h))
		if err != nil || strings.TrimSpace(string(m)) != cur {
			behind = append(behind, h)
		}
	}
	if len(behind) > 0 {
		return "", fmt.Errorf("refusing to rotate: %s not installed the current fernet key set yet (run `cso agent` on %s first; rotate only after every node has it)",
			strings.Join(behind, ", ")+map[bool]string{true: " has", false: " have"}[len(behind) == 1], strings.Join(behind, ", "))
	}
	var idx []int
	for n := range keys {
		i, _ := strconv.Atoi(n)
		idx = append(idx, i)
	}
	sort.Ints(idx)
	primary := strconv.Itoa(idx[len(idx)-1] + 1)
	if maxActive < 3 {
		maxActive = 3
	}
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		return "", err
	}
	write := func(name string, data []byte) error {
		tmp, err := os.CreateTemp(l.SharedFernet, ".key.*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if err := tmp.Chmod(0o600); err != nil {
			tmp.Close()
			return err
		}
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), filepath.Join(l.SharedFernet, name))
	}
	// 1. the staged key becomes the primary; 2. a new staged key; 3. purge old secondaries.
	if err := write(primary, keys["0"]); err != nil {
		return "", err
	}
	if err := write("0", []byte(base64.URLEncoding.EncodeToString(newKey))); err != nil {
		return "", err
	}
	total := len(idx) + 1
	for _, i := range idx {
		if total <= maxActive {
			break
		}
		if i == 0 {
			continue
		}
		if err := os.Remove(filepath.Join(l.SharedFernet, strconv.Itoa(i))); err != nil {
			return "", err
		}
		total--
	}
	return primary, nil
}
