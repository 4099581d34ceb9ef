package apppkg

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/cso-ssp/platform/internal/userfile"
)

// Limits of a package: generous for an application, small enough that a corrupt or
// hostile archive cannot fill a host's disk.
const (
	MaxFileSize  = 1 << 30 // 1 GiB per file
	MaxTotalSize = 4 << 30 // 4 GiB unpacked
	MaxEntries   = 100000
)

// Package is an opened, verified application package.
type Package struct {
	Path     string
	SHA256   string // of the archive file
	Manifest *Manifest
	// HasSums: the package carries its checksum list (SumsName), which Open verified.
	HasSums bool
}

// ID names this exact package: its version and the start of its checksum.
func (p *Package) ID() string { return p.Manifest.Version + "-" + p.SHA256[:12] }

// Open reads the package at path (a regular file: a FIFO or a directory is refused at
// once), checks every entry (regular files and directories only, relative paths inside the
// archive) and validates its manifest.
func Open(path string) (*Package, error) {
	f, err := userfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open application package: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	var manifest, sums []byte
	got := map[string]string{} // every file's SHA-256, for the checksum list
	err = walk(io.TeeReader(f, h), path, func(hdr *tar.Header, name string, r io.Reader) error {
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		fh := sha256.New()
		switch name {
		case ManifestName:
			// One byte over the limit is enough for ParseManifest to refuse it.
			data, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
			manifest = data
			fh.Write(data)
			if err != nil {
				return err
			}
		case SumsName:
			data, err := io.ReadAll(io.LimitReader(r, 64<<20))
			sums = data
			return err
		default:
			if _, err := io.Copy(fh, r); err != nil {
				return fmt.Errorf("%s: entry %q: %w", path, name, err)
			}
		}
		got[name] = hex.EncodeToString(fh.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Hash what walk did not read (tar padding at the end).
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if manifest == nil {
		return nil, fmt.Errorf("%s: not an application package: no %s at the root of the archive", path, ManifestName)
	}
	m, err := ParseManifest(path, manifest)
	if err != nil {
		return nil, err
	}
	if sums != nil {
		listed, err := parseSums(sums)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := checkSums(path, listed, got); err != nil {
			return nil, err
		}
	}
	return &Package{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Manifest: m, HasSums: sums != nil}, nil
}

// walk reads a .tar.gz and calls fn for every entry with its cleaned relative name,
// refusing anything that could escape the destination or is not a file or directory.
func walk(r io.Reader, file string, fn func(hdr *tar.Header, name string, r io.Reader) error) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%s: not a gzip-compressed tar file: %w", file, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: corrupt archive: %w", file, err)
		}
		if n >= MaxEntries {
			return fmt.Errorf("%s: more than %d entries", file, MaxEntries)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return fmt.Errorf("%s: entry %q: %w", file, hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		default:
			return fmt.Errorf("%s: entry %q: only regular files and directories are allowed (type %q)", file, hdr.Name, hdr.Typeflag)
		}
		if hdr.Size > MaxFileSize {
			return fmt.Errorf("%s: entry %q: %d bytes, more than the limit of %d", file, hdr.Name, hdr.Size, MaxFileSize)
		}
		if total += hdr.Size; total > MaxTotalSize {
			return fmt.Errorf("%s: more than %d bytes unpacked", file, MaxTotalSize)
		}
		if name == "" {
			continue
		}
		if err := fn(hdr, name, tr); err != nil {
			return err
		}
	}
}

func entryName(n string) (string, error) {
	n = strings.TrimPrefix(n, "./")
	if n == "" || n == "." {
		return "", nil
	}
	if path.IsAbs(n) || strings.Contains(n, `\`) {
		return "", errors.New("absolute path")
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errors.New("path leaves the package")
	}
	return c, nil
}

// Unpack writes the package's files into dir, which must not exist yet: it unpacks into
// a temporary directory next to it and renames it into place, so dir is either complete
// or absent. Files keep the archive's executable bits; nothing is writable by others.
func (p *Package) Unpack(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// Leftovers of an interrupted unpack of this package go first.
	if stale, _ := filepath.Glob(filepath.Join(parent, "."+filepath.Base(dir)+".*.tmp")); len(stale) > 0 {
		for _, s := range stale {
			_ = os.RemoveAll(s)
		}
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	err = walk(io.TeeReader(f, h), p.Path, func(hdr *tar.Header, name string, r io.Reader) error {
		target := filepath.Join(tmp, filepath.FromSlash(name))
		if hdr.Typeflag == tar.TypeDir {
			return os.MkdirAll(target, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if hdr.Mode&0o111 != 0 {
			mode = 0o755
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, io.LimitReader(r, MaxFileSize)); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return err
	}
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	// The file must not have changed since Open verified it.
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("%s changed while it was being installed (checksum %s, was %s): run the agent again", p.Path, got[:12], p.SHA256[:12])
	}
	if err := os.WriteFile(filepath.Join(tmp, ".cso-package-sha256"), []byte(p.SHA256+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// Installed reports whether dir holds this package, complete (its checksum marker).
func (p *Package) Installed(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ".cso-package-sha256"))
	return err == nil && strings.TrimSpace(string(data)) == p.SHA256
}
