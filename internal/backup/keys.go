package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// KeySetNames are the Keystone key repositories in the shared store.
var KeySetNames = []string{"fernet-keys", "credential-keys"}

var keyFileRE = regexp.MustCompile(`^[0-9]+$`)

// KeySets is the Keystone key sets artefact: repository name to key file name to key.
type KeySets map[string]map[string]string

// ReadKeySets reads the fernet and credential key sets of the shared store dir (the
// EFS /opt/keystone-keys on AWS, <local>/shared/ssl-certs/keystone locally). Both must
// hold keys: a backup without them could not decrypt the credentials it restores.
func ReadKeySets(dir string) ([]byte, error) {
	sets := KeySets{}
	for _, name := range KeySetNames {
		entries, err := os.ReadDir(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("keystone key sets: %w", err)
		}
		set := map[string]string{}
		for _, e := range entries {
			if !e.Type().IsRegular() || !keyFileRE.MatchString(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name, e.Name()))
			if err != nil {
				return nil, err
			}
			set[e.Name()] = string(b)
		}
		if len(set) == 0 {
			return nil, fmt.Errorf("keystone key sets: %s holds no keys", filepath.Join(dir, name))
		}
		sets[name] = set
	}
	return json.MarshalIndent(sets, "", "  ")
}

// ParseKeySets decodes and checks the artefact ReadKeySets wrote.
func ParseKeySets(data []byte) (KeySets, error) {
	var sets KeySets
	if err := json.Unmarshal(data, &sets); err != nil {
		return nil, fmt.Errorf("%s: %w", ArtKeystoneKeys, err)
	}
	for _, name := range KeySetNames {
		if len(sets[name]) == 0 {
			return nil, fmt.Errorf("%s: no %s", ArtKeystoneKeys, name)
		}
		for k := range sets[name] {
			if !keyFileRE.MatchString(k) {
				return nil, fmt.Errorf("%s: %s: key name %q is not a number", ArtKeystoneKeys, name, k)
			}
		}
	}
	return sets, nil
}

// WriteKeySets replaces the key sets of the shared store dir, each set written aside and
// renamed into place (as the Keystone role publishes them), so no node ever reads half a
// set. The Keystone role's agents then install them on every node.
func WriteKeySets(dir string, sets KeySets) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range KeySetNames {
		tmp, err := os.MkdirTemp(dir, "."+name+".restore.*")
		if err != nil {
			return err
		}
		for k, v := range sets[name] {
			if err := os.WriteFile(filepath.Join(tmp, k), []byte(v), 0o600); err != nil {
				os.RemoveAll(tmp)
				return err
			}
		}
		final := filepath.Join(dir, name)
		old := final + ".replaced"
		os.RemoveAll(old)
		if err := os.Rename(final, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(tmp)
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("install restored %s: %w", name, err)
		}
		os.RemoveAll(old)
	}
	return nil
}
