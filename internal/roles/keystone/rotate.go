package keystone

import (
	"crypto/rand"
	"crypto/sha1" // Keystone's key_hash: matched, not chosen
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/status"
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

// FernetPolicy is what a fernet rotation must respect: the key count and the token
// lifetime from the env file (envfile.KeystoneSettings), and whether the operator forces a
// rotation that ends unexpired tokens early.
type FernetPolicy struct {
	MaxActive     int
	TokenLifetime time.Duration
	Force         bool
	// Now is the time of the rotation (time.Now when zero; tests set it).
	Now time.Time
}

// RotateFernet rotates the shared fernet key set of the environment whose Keystone nodes
// are hosts, as keystone-manage fernet_rotate does: the staged key (0) becomes the new
// primary (highest index), a new staged key is created, and the oldest secondary keys are
// removed beyond p.MaxActive. It refuses while a node has not installed the current set,
// and, unless p.Force, when a key it would remove may still decrypt an unexpired token
// (UnsafePurgeError says from when the rotation is safe). Files change one at a time, each
// step leaving a set that still holds every key in use.
func RotateFernet(l Layout, hosts []string, p FernetPolicy) (Rotation, error) {
	return rotateKeySet(l, KindFernet, hosts, p.MaxActive, nil, fernetGuard(hosts, p), true)
}

// fernetGuard refuses, unless p.Force, the removal of a key that may still decrypt an
// unexpired token (purgeSafe).
func fernetGuard(hosts []string, p FernetPolicy) func(Layout, map[string][]byte, []int) error {
	return func(l Layout, keys map[string][]byte, purge []int) error {
		if p.Force {
			return nil
		}
		return purgeSafe(l, hosts, keys, purge, p)
	}
}

// UnsafePurgeError refuses a rotation that would remove Key, which may still decrypt
// tokens until SafeAfter.
type UnsafePurgeError struct {
	Key       string
	Retired   time.Time // by then every node had stopped signing with Key
	Lifetime  time.Duration
	SafeAfter time.Time
}

func (e *UnsafePurgeError) Error() string {
	return fmt.Sprintf("refusing to rotate: the rotation would remove fernet key %s, which the nodes signed tokens with until %s; those tokens live %s, so they stay valid until %s. "+
		"Safe after %s (cso keys status shows it); --force rotates now and ends those tokens early",
		e.Key, e.Retired.UTC().Format(time.RFC3339), e.Lifetime, e.SafeAfter.UTC().Format(time.RFC3339), e.SafeAfter.UTC().Format(time.RFC3339))
}

// purgeSafe refuses the removal of a key that may still decrypt an unexpired token. A
// secondary key k stopped signing tokens when the last node installed a set with a newer
// primary; the store does not record that moment, but it bounds it: the rotation that made
// k's second successor the primary was refused until every node held the set of k's
// successor, so k retired by then (the modification time of that key file, written once by
// the rename that made it the primary); when k's successor is the current primary, k
// retired by the time the last node recorded the current set (its marker's modification
// time). A token signed by k is valid until its retirement plus the token lifetime.
func purgeSafe(l Layout, hosts []string, keys map[string][]byte, purge []int, p FernetPolicy) error {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	dir := sharedKeys(l, KindFernet)
	nonzero := secondaryAndPrimary(keys)
	for _, k := range purge {
		retired, err := retiredBy(l, KindFernet, hosts, dir, nonzero, k)
		if err != nil {
			return fmt.Errorf("refusing to rotate: cannot tell when fernet key %d stopped signing tokens: %w", k, err)
		}
		if safe := retired.Add(p.TokenLifetime); now.Before(safe) {
			return &UnsafePurgeError{Key: strconv.Itoa(k), Retired: retired, Lifetime: p.TokenLifetime, SafeAfter: safe}
		}
	}
	return nil
}

// secondaryAndPrimary are the key indexes other than the staged key 0, in ascending order.
func secondaryAndPrimary(keys map[string][]byte) []int {
	var idx []int
	for n := range keys {
		if i, err := strconv.Atoi(n); err == nil && i > 0 {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	return idx
}

// retiredBy is a time by which every node had stopped signing with key k (see purgeSafe).
func retiredBy(l Layout, kind string, hosts []string, dir string, nonzero []int, k int) (time.Time, error) {
	pos := slices.Index(nonzero, k)
	if pos < 0 || pos == len(nonzero)-1 {
		return time.Time{}, fmt.Errorf("key %d is not a secondary key of the set", k)
	}
	if pos+2 < len(nonzero) {
		fi, err := os.Stat(filepath.Join(dir, strconv.Itoa(nonzero[pos+2])))
		if err != nil {
			return time.Time{}, err
		}
		return fi.ModTime(), nil
	}
	var last time.Time
	for _, h := range hosts {
		fi, err := os.Stat(kindMarker(l, kind, h))
		if err != nil {
			return time.Time{}, err
		}
		if fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	if last.IsZero() {
		return time.Time{}, errors.New("no Keystone node has recorded the set it installed")
	}
	return last, nil
}

// FernetRotationDue reports whether the scheduled fernet rotation is due: the primary key
// of the shared fernet set became the primary at least interval before now. since is when
// it did (the modification time of its file).
func FernetRotationDue(l Layout, interval time.Duration, now time.Time) (due bool, since time.Time, err error) {
	return RotationDue(l, KindFernet, interval, now)
}

// RotationDue reports whether the scheduled rotation of the shared set of kind is due:
// its primary key became the primary at least interval before now (rotateKeySet writes the
// primary's file once, when it promotes the staged key). since is when it did.
func RotationDue(l Layout, kind string, interval time.Duration, now time.Time) (due bool, since time.Time, err error) {
	infos, err := ReadKeySet(l, kind)
	if err != nil {
		return false, time.Time{}, err
	}
	for _, k := range infos {
		if k.State == KeyPrimary {
			return !now.Before(k.Since.Add(interval)), k.Since, nil
		}
	}
	return false, time.Time{}, fmt.Errorf("no primary key in %s: converge the first Keystone node first", sharedKeys(l, kind))
}

// Key states in a repository.
const (
	KeyStaged    = "staged"
	KeyPrimary   = "primary"
	KeySecondary = "secondary"
)

// KeyInfo is one key of a shared set: no key material, only its name, state, since when
// its file holds it (for the primary: when it became the primary) and its digest.
type KeyInfo struct {
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Digest string    `json:"-"`
}

// ReadKeySet describes the shared set of kind, in ascending key order.
func ReadKeySet(l Layout, kind string) ([]KeyInfo, error) {
	dir := sharedKeys(l, kind)
	keys, err := readKeys(dir)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no %s key set in %s", kind, dir)
	}
	primary := strconv.Itoa(primaryIndex(keys))
	digests := status.DigestKeys(keys)
	var out []KeyInfo
	for _, n := range digests.Names() {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		st := KeySecondary
		switch n {
		case "0":
			st = KeyStaged
		case primary:
			st = KeyPrimary
		}
		d := digests[n]
		out = append(out, KeyInfo{Name: n, State: st, Since: fi.ModTime().UTC(), Digest: hex.EncodeToString(d[:])})
	}
	return out, nil
}

// KeyTimes encodes the key files' times as "0=<unix>,1=<unix>,..." (a status fact, so that
// `cso keys status` shows the ages of an AWS environment's keys).
func KeyTimes(infos []KeyInfo) string {
	parts := make([]string, 0, len(infos))
	for _, k := range infos {
		parts = append(parts, k.Name+"="+strconv.FormatInt(k.Since.Unix(), 10))
	}
	return strings.Join(parts, ",")
}

// ParseKeyTimes decodes KeyTimes.
func ParseKeyTimes(s string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if s == "" {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		n, v, ok := strings.Cut(p, "=")
		sec, err := strconv.ParseInt(v, 10, 64)
		if _, nerr := strconv.Atoi(n); !ok || err != nil || nerr != nil {
			return nil, fmt.Errorf("key time %q: expected <index>=<unix seconds>", p)
		}
		out[n] = time.Unix(sec, 0).UTC()
	}
	return out, nil
}

// SharedSetHash is the hash (SetHash) of the shared set of kind, which each node's marker
// names once it installed it.
func SharedSetHash(l Layout, kind string) (string, error) {
	keys, err := readKeys(sharedKeys(l, kind))
	if err != nil {
		return "", err
	}
	return SetHash(keys), nil
}

// BehindHosts lists the hosts that have not installed the current shared set of kind.
func BehindHosts(l Layout, kind string, hosts []string) ([]string, error) {
	cur, err := SharedSetHash(l, kind)
	if err != nil {
		return nil, err
	}
	return behindHosts(l, kind, hosts, cur), nil
}

// RotateCredential rotates the shared credential key set as keystone-manage
// credential_rotate does (at most CredentialMaxActiveKeys keys). Besides refusing while a
// node has not installed the current set, it refuses, as Keystone does, while a stored
// credential is not encrypted with the current primary key (the credential_migrate of
// the previous rotation is pending): the rotation may purge the key those credentials
// need. The database is the one keystone.conf (l.Conf) names, as for keystone-manage.
// After the rotation, the first node's agent runs credential_migrate once every node has
// installed the new set (credentials.go).
func RotateCredential(l Layout, hosts []string) (Rotation, error) {
	return rotateKeySet(l, KindCredential, hosts, CredentialMaxActiveKeys, migrationDone, nil, true)
}

// PlanRotation says what a rotation of kind (KindFernet, KindCredential) would do (the key
// that would become the primary, those that would be removed) or why it would be refused;
// it changes nothing (--dry-run). p applies to the fernet set.
func PlanRotation(l Layout, kind string, hosts []string, p FernetPolicy) (Rotation, error) {
	switch kind {
	case KindFernet:
		return rotateKeySet(l, kind, hosts, p.MaxActive, nil, fernetGuard(hosts, p), false)
	case KindCredential:
		return rotateKeySet(l, kind, hosts, CredentialMaxActiveKeys, migrationDone, nil, false)
	}
	return Rotation{}, fmt.Errorf("no key set of kind %q (want %s or %s)", kind, KindFernet, KindCredential)
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

// Rotation is what a rotation makes, or would make, of a key set.
type Rotation struct {
	Primary string   // the key that becomes the primary (the staged key's content)
	Removed []string // the oldest secondary keys removed beyond the key count
}

// Removal says which keys the rotation removes, as a clause to append ("" for none);
// would selects the conditional.
func (r Rotation) Removal(would bool) string {
	if len(r.Removed) == 0 {
		return ""
	}
	verb, noun := "is", "key"
	if len(r.Removed) > 1 {
		verb, noun = "are", "keys"
	}
	if would {
		verb = "would be"
	}
	return fmt.Sprintf(" and %s %s %s removed", noun, strings.Join(r.Removed, ", "), verb)
}

// rotateKeySet rotates the shared set of kind (apply) or only says what it would do.
// ready, when set, may refuse the rotation of the current set for reasons of the kind;
// guard, when set, may refuse the removal of the keys purge (ascending) it would make.
func rotateKeySet(l Layout, kind string, hosts []string, maxActive int, ready func(Layout, map[string][]byte) error,
	guard func(l Layout, keys map[string][]byte, purge []int) error, apply bool) (Rotation, error) {
	dir := sharedKeys(l, kind)
	keys, err := readKeys(dir)
	if err != nil {
		return Rotation{}, err
	}
	if len(keys) == 0 {
		return Rotation{}, fmt.Errorf("no %s key set in %s: converge the first Keystone node first", kind, dir)
	}
	if _, ok := keys["0"]; !ok {
		return Rotation{}, fmt.Errorf("%s key set in %s has no staged key 0", kind, dir)
	}
	if behind := behindHosts(l, kind, hosts, SetHash(keys)); len(behind) > 0 {
		verb := " have"
		if len(behind) == 1 {
			verb = " has"
		}
		return Rotation{}, fmt.Errorf("refusing to rotate: %s not installed the current %s key set yet (run `cso agent` on %s first; rotate only after every node has it)",
			strings.Join(behind, ", ")+verb, kind, strings.Join(behind, ", "))
	}
	if ready != nil {
		if err := ready(l, keys); err != nil {
			return Rotation{}, err
		}
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
	// The oldest secondaries beyond maxActive once the new primary is added.
	var purge []int
	for total, i := len(idx)+1, 0; total > maxActive && i < len(idx); i++ {
		if idx[i] == 0 {
			continue
		}
		purge = append(purge, idx[i])
		total--
	}
	if guard != nil {
		if err := guard(l, keys, purge); err != nil {
			return Rotation{}, err
		}
	}
	plan := Rotation{Primary: primary}
	for _, i := range purge {
		plan.Removed = append(plan.Removed, strconv.Itoa(i))
	}
	if !apply {
		return plan, nil
	}
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		return Rotation{}, err
	}
	write := func(name string, data []byte) error {
		return agent.WriteFileAtomic(filepath.Join(dir, name), data, 0o600)
	}
	// 1. the staged key becomes the primary; 2. a new staged key; 3. purge old secondaries.
	if err := write(primary, keys["0"]); err != nil {
		return Rotation{}, err
	}
	if err := write("0", []byte(base64.URLEncoding.EncodeToString(newKey))); err != nil {
		return Rotation{}, err
	}
	for _, i := range purge {
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(i))); err != nil {
			return Rotation{}, err
		}
	}
	return plan, nil
}
