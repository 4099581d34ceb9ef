package e2e

import (
	"io/fs"
	"path/filepath"
)

// extraSecretFiles lists files outside the secrets directory that roles write on purpose to
// hold a secret: RabbitMQ's Erlang cookie (0400). Role owners add theirs here;
// AssertNoSecretLeak checks that their modes are 0600/0640 or stricter.
func extraSecretFiles(s *Stack) map[string]bool {
	out := map[string]bool{}
	filepath.WalkDir(filepath.Join(s.Dir, "hosts"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == ".erlang.cookie" {
			out[p] = true
		}
		return nil
	})
	return out
}
