package keystone

import (
	"crypto/rand"
	"crypto/sha1" // Keystone's key_hash: matched, not chosen
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

// Both shared key sets (fernet and credential) are rotated and distributed in lock step
// (docs/decisions/roles.md, as kolla-ansible and openstack-ansible do): the shared set is rotated
// in place, every node installs it on its next agent run and records which set it holds
// in <shared>/installed/<host>.<kind>; a new rotation is refused until every node holds
// the current set. Rotating twice without distributing would leave a node without the
// primary key of the tokens (or credentials) the others encrypt.

// Kinds of shared key set.
const (
	KindFernet     = "fernet"
	KindCredential = "credential"
)

// CredentialMaxActiveKeys is Keystone's fixed size of the credential key repository
// (keystone.credential.providers.fernet.core.MAX_ACTIVE_KEYS; not configurable).
const CredentialMaxActiveKeys = 3

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

// kindMarker is where a node records the hash of the key set of kind it installed.
func kindMarker(l Layout, kind, host string) string {
	return filepath.Join(l.SharedDir, "installed", host+"."+kind)
}

// installedMarker is where a node records the hash of the fernet set it installed.
func installedMarker(l Layout, host string) string { return kindMarker(l, KindFernet, host) }

// credentialMarker is where a node records the hash of the credential set it installed.
func credentialMarker(l Layout, host string) string { return kindMarker(l, KindCredential, host) }

// sharedKeys is the shared repository of kind.
func sharedKeys(l Layout, kind string) string {
	if kind == KindCredential {
		return l.SharedCred
	}
	return l.SharedFernet
}

// behindHosts lists the hosts whose marker of kind does not name the set with hash cur.
func behindHosts(l Layout, kind string, hosts []string, cur string) []string {
	var behind []string
	for _, h := range hosts {
		m, err := os.ReadFile(kindMarker(l, kind, h))
		if err != nil || strings.TrimSpace(string(m)) != cur {
			behind = append(behind, h)
		}
	}
	return behind
}

// primaryIndex is the number of the primary key of a repository: the highest.
func primaryIndex(keys map[string][]byte) int {
	p := -1
	for n := range keys {
		if i, err := strconv.Atoi(n); err == nil && i > p {
			p = i
		}
	}
	return p
}

// PrimaryKeyHash is the key_hash Keystone stores with every credential it encrypts:
// the hex SHA-1 of the primary (highest-numbered) key file's content, as
// keystone.credential.providers.fernet.core.primary_key_hash computes it.
func PrimaryKeyHash(keys map[string][]byte) string {
	sum := sha1.Sum(keys[strconv.Itoa(primaryIndex(keys))])
	return hex.EncodeToString(sum[:])
}

// RotateFernet rotates the shared fernet key set of the environment whose Keystone nodes
// are hosts, as keystone-manage fernet_rotate does: the staged key (0) becomes the new
// primary (highest index), a new staged key is created, and the oldest secondary keys are
// removed beyond maxActive. It refuses while a node has not installed the current set.
// Files change one at a time, each step leaving a set that still holds every key in use.
func RotateFernet(l Layout, hosts []string, maxActive int) (string, error) {
	return rotateKeySet(l, KindFernet, hosts, maxActive, nil, true)
}

// RotateCredential rotates the shared credential key set as keystone-manage
// credential_rotate does (at most CredentialMaxActiveKeys keys). Besides refusing while a
// node has not installed the current set, it refuses, as Keystone does, while a stored
// credential is not encrypted with the current primary key (the credential_migrate of
// the previous rotation is pending): the rotation may purge the key those credentials
// need. The database is the one keystone.conf (l.Conf) names, as for keystone-manage.
// After the rotation, the first node's agent runs credential_migrate once every node has
// installed the new set (credentials.go).
func RotateCredential(l Layout, hosts []string) (string, error) {
	return rotateKeySet(l, KindCredential, hosts, CredentialMaxActiveKeys, migrationDone, true)
}

// PlanRotation says what a rotation of kind (KindFernet, KindCredential) would do, the
// name of the key that would become the primary, or why it would be refused; it changes
// nothing (--dry-run).
func PlanRotation(l Layout, kind string, hosts []string) (string, error) {
	switch kind {
	case KindFernet:
		return rotateKeySet(l, kind, hosts, 0, nil, false)
	case KindCredential:
		return rotateKeySet(l, kind, hosts, CredentialMaxActiveKeys, migrationDone, false)
	}
	return "", fmt.Errorf("no key set of kind %q (want %s or %s)", kind, KindFernet, KindCredential)
}

// countPending counts the stored credentials not encrypted with the key whose hash is
// given, in the database keystone.conf at conf names (a variable for the unit tests).
var countPending = pendingFromConf

// migrationDone refuses a credential rotation while stored credentials are not all
// encrypted with the primary key of keys, as keystone-manage credential_rotate does.
func migrationDone(l Layout, keys map[string][]byte) error {
	n, err := countPending(l.Conf, PrimaryKeyHash(keys))
	if err != nil {
		return fmt.Errorf("refusing to rotate: cannot tell whether every stored credential is encrypted with the primary credential key: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("refusing to rotate: %d stored credential(s) are not encrypted with the primary credential key yet "+
			"(the credential_migrate of the previous rotation is pending; a rotation now could purge the key they need): "+
			"run `cso agent` on every Keystone node, then on the first one, which runs credential_migrate, and rotate after that", n)
	}
	return nil
}

// rotateKeySet rotates the shared set of kind (apply) or only says what it would do.
// ready, when set, may refuse the rotation of the current set for reasons of the kind.
func rotateKeySet(l Layout, kind string, hosts []string, maxActive int, ready func(Layout, map[string][]byte) error, apply bool) (string, error) {
	dir := sharedKeys(l, kind)
	keys, err := readKeys(dir)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("no %s key set in %s: converge the first Keystone node first", kind, dir)
	}
	if _, ok := keys["0"]; !ok {
		return "", fmt.Errorf("%s key set in %s has no staged key 0", kind, dir)
	}
	if behind := behindHosts(l, kind, hosts, SetHash(keys)); len(behind) > 0 {
		verb := " have"
		if len(behind) == 1 {
			verb = " has"
		}
		return "", fmt.Errorf("refusing to rotate: %s not installed the current %s key set yet (run `cso agent` on %s first; rotate only after every node has it)",
			strings.Join(behind, ", ")+verb, kind, strings.Join(behind, ", "))
	}
	if ready != nil {
		if err := ready(l, keys); err != nil {
			return "", err
		}
	}
	var idx []int
	for n := range keys {
		i, _ := strconv.Atoi(n)
		idx = append(idx, i)
	}
	sort.Ints(idx)
	primary := strconv.Itoa(idx[len(idx)-1] + 1)
	if !apply {
		return primary, nil
	}
	if maxActive < 3 {
		maxActive = 3
	}
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		return "", err
	}
	write := func(name string, data []byte) error {
		tmp, err := os.CreateTemp(dir, ".key.*")
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
		return os.Rename(tmp.Name(), filepath.Join(dir, name))
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
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(i))); err != nil {
			return "", err
		}
		total--
	}
	return primary, nil
}
