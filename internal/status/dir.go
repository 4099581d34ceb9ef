package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Dir is a Store backed by a directory: one <host>.json file per host, written atomically
// (temporary file and rename). The local target and tests use it.
type Dir struct{ Path string }

var hostRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func checkHost(host string) error {
	if !hostRE.MatchString(host) {
		return fmt.Errorf("status: %q is not a host name (lower-case letters, digits, dashes)", host)
	}
	return nil
}

func (d Dir) file(host string) string { return filepath.Join(d.Path, host+".json") }

// Put implements Store.
func (d Dir) Put(_ context.Context, h Host) error {
	if err := checkHost(h.Host); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Errorf("status: create %s: %w", d.Path, err)
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(d.file(h.Host), append(data, '\n'))
}

// writeAtomic replaces path with data (mode 0644) through a temporary file in the same
// directory and a rename, so a reader sees the old or the new document, never a part.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("status: write %s: %w", tmp.Name(), err)
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

// Get implements Store.
func (d Dir) Get(_ context.Context, host string) (Host, error) {
	if err := checkHost(host); err != nil {
		return Host{}, err
	}
	data, err := os.ReadFile(d.file(host))
	if errors.Is(err, fs.ErrNotExist) {
		return Host{}, ErrNotFound
	}
	if err != nil {
		return Host{}, fmt.Errorf("status: %w", err)
	}
	var h Host
	if err := json.Unmarshal(data, &h); err != nil {
		return Host{}, fmt.Errorf("status: %s is not a status document: %w", d.file(host), err)
	}
	return h, nil
}

// List implements Store.
func (d Dir) List(ctx context.Context) ([]Host, error) {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var out []Host
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		h, err := d.Get(ctx, strings.TrimSuffix(name, ".json"))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// Delete implements Store.
func (d Dir) Delete(_ context.Context, host string) error {
	if err := checkHost(host); err != nil {
		return err
	}
	err := os.Remove(d.file(host))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
