package testprovider

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// EnvSchemaDir names the directory holding the @cdktf/provider-* packages
// (node_modules/@cdktf). EnvCacheDir overrides where extracted schemas are cached.
const (
	EnvSchemaDir = "CSO_TESTPROVIDER_SCHEMA_DIR"
	EnvCacheDir  = "CSO_TESTPROVIDER_CACHE_DIR"
	// schemaFormat is bumped whenever extraction rules change, invalidating caches.
	schemaFormat = "testprovider-schema-v5"
)

// Versions are the provider versions the cdktf packages were generated from (their
// package.json cdktf.provider.version); the test provider serves them as these versions.
var Versions = map[string]string{"aws": "6.25.0", "tls": "4.1.0", "random": "3.7.2"}

// Package names per provider.
var packageOf = map[string]string{
	"aws":    "provider-aws",
	"tls":    "provider-tls",
	"random": "provider-random",
}

// FindSchemaDir returns the @cdktf package directory: $CSO_TESTPROVIDER_SCHEMA_DIR, else
// .tools/npm/node_modules/@cdktf above the working directory or the executable.
func FindSchemaDir() (string, error) {
	if d := os.Getenv(EnvSchemaDir); d != "" {
		return d, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			c := filepath.Join(d, ".tools", "npm", "node_modules", "@cdktf")
			if fi, err := os.Stat(c); err == nil && fi.IsDir() {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("provider schema packages not found: set %s to node_modules/@cdktf or run scripts/install-deps.sh", EnvSchemaDir)
}

// cacheKey identifies a package by its .jsii's size and mtime and the extraction format.
func cacheKey(pkgDir string) (string, error) {
	fi, err := os.Stat(filepath.Join(pkgDir, ".jsii"))
	if err != nil {
		return "", fmt.Errorf("provider schema package %s: %w (run scripts/install-deps.sh)", pkgDir, err)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", schemaFormat, pkgDir, fi.Size(), fi.ModTime().UnixNano())))
	return hex.EncodeToString(h[:8]), nil
}

func cacheDir() string {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cso-testprovider")
	}
	return filepath.Join(os.TempDir(), "cso-testprovider")
}

// LoadSchema returns the schema of provider name ("aws", "tls", "random"), from the cache
// when the package is unchanged, otherwise by extraction (then cached).
func LoadSchema(name string) (*ProviderSchema, error) {
	pkg, ok := packageOf[name]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q: want aws, tls or random", name)
	}
	root, err := FindSchemaDir()
	if err != nil {
		return nil, err
	}
	pkgDir := filepath.Join(root, pkg)
	key, err := cacheKey(pkgDir)
	if err != nil {
		return nil, err
	}
	cachePath := filepath.Join(cacheDir(), name+"-"+key+".json.gz")
	if ps, err := readCache(cachePath); err == nil {
		return ps, nil
	}
	// Several processes (test binaries, provider instances) may miss the cache at once:
	// one extracts, the others wait for its result instead of parsing in parallel.
	if unlock, err := lockFile(cachePath + ".lock"); err == nil {
		defer unlock()
		if ps, err := readCache(cachePath); err == nil {
			return ps, nil
		}
	}
	ps, err := ExtractSchema(pkgDir)
	if err != nil {
		return nil, err
	}
	if ps.Name != name {
		return nil, fmt.Errorf("package %s describes provider %q, want %q", pkgDir, ps.Name, name)
	}
	if err := writeCache(cachePath, ps); err != nil {
		// A read-only cache only costs speed.
		fmt.Fprintf(os.Stderr, "testprovider: cannot cache schema at %s: %v\n", cachePath, err)
	}
	return ps, nil
}

func readCache(path string) (*ProviderSchema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	ps := &ProviderSchema{}
	if err := json.NewDecoder(zr).Decode(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// writeCache writes atomically: several provider processes may start at once.
func writeCache(path string, ps *ProviderSchema) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw := gzip.NewWriter(tmp)
	if err := json.NewEncoder(zw).Encode(ps); err != nil {
		tmp.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ProviderNameFromExecutable derives aws/tls/random from a plugin file name such as
// terraform-provider-aws_v6.25.0; only when the name says nothing (a binary run under
// another name) does $CSO_TESTPROVIDER_NAME decide.
func ProviderNameFromExecutable(arg0 string) (string, error) {
	base := filepath.Base(arg0)
	if rest, ok := strings.CutPrefix(base, "terraform-provider-"); ok {
		if i := strings.IndexAny(rest, "_."); i >= 0 {
			rest = rest[:i]
		}
		if _, ok := packageOf[rest]; ok {
			return rest, nil
		}
		return "", fmt.Errorf("executable %q names provider %q: this test provider serves aws, tls and random", arg0, rest)
	}
	if n := os.Getenv("CSO_TESTPROVIDER_NAME"); n != "" {
		if _, ok := packageOf[n]; ok {
			return n, nil
		}
		return "", fmt.Errorf("CSO_TESTPROVIDER_NAME=%q: want aws, tls or random", n)
	}
	return "", fmt.Errorf("cannot tell which provider to serve from executable name %q: name it terraform-provider-{aws,tls,random}_vX or set CSO_TESTPROVIDER_NAME", arg0)
}

// lockFile takes an exclusive advisory lock (flock) on path, waiting for other holders.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
