// Package localtest holds test helpers for the local target.
package localtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// AssertNoSecretLeak fails t when a generated secret of the local target appears in a
// file other than its own 0600 secret file and the files in allowed (which must be 0600 or
// 0640), or in the argument list of any process on the machine. Tests of every role use it.
//
// The application's bindings (internal/apppkg: <host>/data/cso-app-bindings/<binding>/<key>)
// are where its services' secrets belong: each file must be 0600 in a 0700 directory, owned
// by one account, and their secrets (the truststore's password among them, which is the
// host's own) are looked for everywhere else too: logs, status documents, every other file
// and every command line.
//
// dir is the local target's directory; its secrets are in dir/secrets.
func AssertNoSecretLeak(t testing.TB, dir string, allowed map[string]bool) {
	t.Helper()
	l := layout{Dir: dir}
	entries, err := os.ReadDir(l.SecretsDir())
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(l.SecretsDir(), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if v := bytes.TrimSpace(b); len(v) >= 16 {
			secrets[e.Name()] = v
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no secrets found to look for")
	}
	bindings := bindingFiles(t, l.Dir)
	for p, v := range bindings {
		if strings.HasSuffix(p, "password") && len(v) >= 16 {
			secrets["binding "+strings.TrimPrefix(p, l.Dir+"/")] = v
		}
	}
	for p := range allowed {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o027 != 0 {
			t.Errorf("%s holds secrets with mode %o (want 0600 or 0640)", p, st.Mode().Perm())
		}
	}
	files := 0
	err = filepath.WalkDir(l.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a daemon may remove a file while we walk
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if _, ok := bindings[p]; filepath.Dir(p) == l.SecretsDir() || allowed[p] || ok {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 64<<20 {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		files++
		for name, v := range secrets {
			if bytes.Contains(data, v) {
				t.Errorf("secret %s appears in %s", name, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Errorf("only %d files scanned: the scan did not see the target", files)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for name, v := range secrets {
			if bytes.Contains(data, v) {
				t.Errorf("secret %s appears in the argument list of pid %s: %s", name, filepath.Base(filepath.Dir(p)),
					strings.ReplaceAll(string(data), "\x00", " ")[:min(len(data), 80)])
			}
		}
	}
}

type layout struct{ Dir string }

func (l layout) SecretsDir() string { return filepath.Join(l.Dir, "secrets") }

// bindingsDirName is apppkg.BindingsRoot's last element (localtest imports no role).
const bindingsDirName = "cso-app-bindings"

// bindingFiles returns every file of the application's bindings directories under dir, with
// its content, and fails t when one is readable by anyone but its owner or when its
// directory is open to others.
func bindingFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	roots, _ := filepath.Glob(filepath.Join(dir, "*", "*", bindingsDirName))
	more, _ := filepath.Glob(filepath.Join(dir, "hosts", "*", "*", bindingsDirName))
	for _, root := range append(roots, more...) {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if info.Mode().Perm()&0o077 != 0 {
					t.Errorf("bindings directory %s has mode %o (want 0700)", p, info.Mode().Perm())
				}
				return nil
			}
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("binding %s has mode %o (want 0600)", p, info.Mode().Perm())
			}
			data, err := os.ReadFile(p)
			if err == nil {
				out[p] = bytes.TrimSpace(data)
			}
			return nil
		})
	}
	return out
}
