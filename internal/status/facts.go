package status

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Facts a role publishes in its host's document (Host.Facts).
const (
	// FactFernetKeys is the Keystone node's installed fernet key set as KeyDigests.
	FactFernetKeys = "fernet_keys"
	// FactCredentialKeys is the Keystone node's installed credential key set.
	FactCredentialKeys = "credential_keys"
	// FactFernetKeyTimes and FactCredentialKeyTimes are the shared sets' key file times
	// as the node read them ("0=<unix>,1=<unix>,..."): the keys' ages for `cso keys status`
	// on AWS, where the operator cannot read the shared store.
	FactFernetKeyTimes     = "fernet_key_times"
	FactCredentialKeyTimes = "credential_key_times"
)

// KeyDigests maps a key file name (0, 1, 2 ...) to the SHA-256 of its trimmed content:
// enough to tell whether two nodes hold the same keys, nothing that reveals a key.
type KeyDigests map[string][sha256.Size]byte

// DigestKeys digests key files by name.
func DigestKeys(keys map[string][]byte) KeyDigests {
	d := KeyDigests{}
	for n, k := range keys {
		d[n] = sha256.Sum256(bytes.TrimSpace(k))
	}
	return d
}

// Names returns the key names in numeric order.
func (d KeyDigests) Names() []string {
	ns := make([]string, 0, len(d))
	for n := range d {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool {
		a, _ := strconv.Atoi(ns[i])
		b, _ := strconv.Atoi(ns[j])
		return a < b
	})
	return ns
}

// String encodes d as "0=<hex>,1=<hex>,..." (the form of the fact).
func (d KeyDigests) String() string {
	parts := make([]string, 0, len(d))
	for _, n := range d.Names() {
		h := d[n]
		parts = append(parts, n+"="+hex.EncodeToString(h[:]))
	}
	return strings.Join(parts, ",")
}

// ParseKeyDigests decodes the String form.
func ParseKeyDigests(s string) (KeyDigests, error) {
	d := KeyDigests{}
	if s == "" {
		return d, nil
	}
	for _, p := range strings.Split(s, ",") {
		n, h, ok := strings.Cut(p, "=")
		b, err := hex.DecodeString(h)
		if _, nerr := strconv.Atoi(n); !ok || err != nil || nerr != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("key digest %q: expected <index>=<64 hex digits>", p)
		}
		d[n] = [sha256.Size]byte(b)
	}
	return d, nil
}
