package apppkg

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/userfile"
)

// SumsName is the package's checksum list: one "<sha256>  <path>" line per file of the
// package (the manifest included, itself excepted), in path order, as sha256sum writes it.
const SumsName = "cso-app.sha256"

// ErrNoSums is the problem of a package without SumsName (built by hand, not by
// cso app package).
var ErrNoSums = errors.New("no " + SumsName + ": the package carries no checksums (build it with cso app package)")

// Sums renders the checksum list of files (path -> content).
func Sums(files map[string][]byte) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		if n != SumsName {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return b.Bytes()
}

// parseSums reads a checksum list: path -> hex sum.
func parseSums(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 || name == "" {
			return nil, fmt.Errorf("%s:%d: expected \"<sha256>  <path>\"", SumsName, n)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a SHA-256 in hex", SumsName, n, sum)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", SumsName, n, userfile.Escape(name))
		}
		out[name] = sum
	}
	return out, sc.Err()
}

// checkSums compares the files' sums (path -> hex) with the list's: every file listed,
// with its sum, and nothing listed that is not there.
func checkSums(file string, listed, got map[string]string) error {
	var problems []string
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		want, ok := listed[n]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is not listed in %s", userfile.Escape(n), SumsName))
		case want != got[n]:
			problems = append(problems, fmt.Sprintf("%s: checksum %s, %s says %s (the file changed after the package was built)", userfile.Escape(n), got[n][:12], SumsName, want[:12]))
		}
	}
	for n := range listed {
		if _, ok := got[n]; !ok {
			problems = append(problems, fmt.Sprintf("%s lists %s, which the package lacks", SumsName, userfile.Escape(n)))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s: checksums do not match:\n  %s", userfile.Escape(file), strings.Join(problems, "\n  "))
	}
	return nil
}

// WriteArchive writes a package holding files (path -> content) and their checksum list,
// in path order, with fixed times: the same files make the same package.
func WriteArchive(path string, files map[string][]byte) error {
	all := make(map[string][]byte, len(files)+1)
	for n, c := range files {
		all[n] = c
	}
	all[SumsName] = Sums(files)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range names {
		mode := int64(0o644)
		if strings.HasPrefix(n, "bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(all[n])), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(all[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// Into place at once: a reader never sees half a package.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// BuildFromDir builds a package from dir (its cso-app.yaml at the root) into out ("" =
// <name>-<version>.tar.gz in the current directory) and returns the opened, verified
// package. The manifest is validated first (every problem with the manifest's file and
// line); only regular files and directories are taken, within the package limits; a
// symbolic link, a socket or a file named SumsName is refused. Nothing is written when
// anything is wrong, nor for a manifest of another application than wantName ("": any).
func BuildFromDir(dir, out, wantName string) (*Package, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("package directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: cso app package takes the directory holding %s", userfile.Escape(dir), ManifestName)
	}
	manifestPath := filepath.Join(dir, ManifestName)
	data, err := userfile.Read(manifestPath, MaxManifestSize+1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: a package directory holds its manifest at its root (docs/application-packages.md)", userfile.Escape(dir), ManifestName)
	}
	if err != nil {
		return nil, err
	}
	m, err := parseManifestAt(dir, manifestPath, data)
	if err != nil {
		return nil, err
	}
	if err := m.NameProblem(dir, manifestPath, wantName); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == "." {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: %s is not a regular file (%s): a package holds files and directories only", userfile.Escape(dir), userfile.Escape(rel), d.Type())
		}
		if rel == SumsName {
			return fmt.Errorf("%s: %s is the name of the checksum list cso app package writes; remove it", userfile.Escape(dir), SumsName)
		}
		if len(files) >= MaxEntries {
			return fmt.Errorf("%s: more than %d files", userfile.Escape(dir), MaxEntries)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > MaxFileSize {
			return fmt.Errorf("%s: %s: %d bytes, more than the limit of %d", userfile.Escape(dir), userfile.Escape(rel), info.Size(), MaxFileSize)
		}
		if total += info.Size(); total > MaxTotalSize {
			return fmt.Errorf("%s: more than %d bytes", userfile.Escape(dir), MaxTotalSize)
		}
		c, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[rel] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = m.Name + "-" + m.Version + ".tar.gz"
	}
	if abs, err := filepath.Abs(out); err == nil {
		if absDir, err := filepath.Abs(dir); err == nil && strings.HasPrefix(abs, absDir+string(filepath.Separator)) {
			return nil, fmt.Errorf("-o %s is inside the package directory %s: the package would hold itself next time", userfile.Escape(out), userfile.Escape(dir))
		}
	}
	if err := WriteArchive(out, files); err != nil {
		return nil, err
	}
	return Open(out)
}

// parseManifestAt parses a manifest read from manifestPath (a package directory's).
func parseManifestAt(file, manifestPath string, data []byte) (*Manifest, error) {
	m, err := ParseManifest(file, data)
	var ps *Problems
	if errors.As(err, &ps) {
		ps.Manifest = manifestPath
	}
	return m, err
}
