package cli

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
)

// appDir writes a package directory: the fixture's manifest (mutated) and one file.
func appDir(t *testing.T, mutate func(m *apppkg.Manifest)) string {
	t.Helper()
	dir := t.TempDir()
	m := fixture.Manifest()
	fixture.WithBindings(m)
	if mutate != nil {
		mutate(m)
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, apppkg.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lib", "app.jar"), []byte("not really a jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAppPackageThenValidate(t *testing.T) {
	dir := appDir(t, nil)
	out := filepath.Join(t.TempDir(), "app.tar.gz")
	code, stdout, stderr := runBounded(t, "app", "package", dir, "--out", out)
	if code != ExitOK || !strings.Contains(stdout, "built "+out+": cso-fixture 1.0.0-test, 15 services, bindings [keystone mysql rabbitmq]") {
		t.Fatalf("package: exit %d\n%s%s", code, stdout, stderr)
	}
	// Every file is listed with its checksum.
	sums := readEntry(t, out, apppkg.SumsName)
	for _, f := range []string{apppkg.ManifestName, "lib/app.jar"} {
		if !strings.Contains(sums, "  "+f+"\n") {
			t.Errorf("%s does not list %s:\n%s", apppkg.SumsName, f, sums)
		}
	}
	code, stdout, stderr = runBounded(t, "app", "validate", out, "--name", "cso-fixture")
	if code != ExitOK || !strings.HasPrefix(stdout, "valid "+out) {
		t.Errorf("validate: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestAppRefusals: each bad input is exit 2 with the manifest's file and line, and
// nothing is written.
func TestAppRefusals(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *apppkg.Manifest)
		want   string
	}{
		{"unknown binding", func(m *apppkg.Manifest) { m.Bindings = append(m.Bindings, "ldap") },
			`cso-app.yaml:9: bindings[3]: unknown binding "ldap"`},
		{"port of another service", func(m *apppkg.Manifest) { m.Services[0].Port = 8090 },
			`.port: port 8090 is the LLD's port of service customers (backend)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := appDir(t, tc.mutate)
			out := filepath.Join(t.TempDir(), "app.tar.gz")
			code, _, stderr := runBounded(t, "app", "package", dir, "--out", out)
			if code != ExitUsage || !strings.Contains(stderr, filepath.Join(dir, apppkg.ManifestName)) || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %s", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a package was written")
			}
		})
	}
	t.Run("no manifest", func(t *testing.T) {
		code, _, stderr := runBounded(t, "app", "package", t.TempDir())
		if code != ExitUsage || !strings.Contains(stderr, "no cso-app.yaml") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("another application", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "app.tar.gz")
		code, _, stderr := runBounded(t, "app", "package", appDir(t, nil), "--out", out, "--name", "cso-application")
		if code != ExitUsage || !strings.Contains(stderr, `cso-app.yaml:1: name: the package is application "cso-fixture", not "cso-application"`) {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a package was written")
		}
	})
	t.Run("tampered file", func(t *testing.T) {
		dir := appDir(t, nil)
		pkg := filepath.Join(t.TempDir(), "app.tar.gz")
		if code, _, stderr := runBounded(t, "app", "package", dir, "--out", pkg); code != ExitOK {
			t.Fatal(stderr)
		}
		// Same names, one file changed after the build: the list no longer matches.
		files := map[string][]byte{}
		for _, n := range []string{apppkg.ManifestName, "lib/app.jar", apppkg.SumsName} {
			files[n] = []byte(readEntry(t, pkg, n))
		}
		files["lib/app.jar"] = []byte("changed")
		writeRaw(t, pkg, files)
		code, _, stderr := runBounded(t, "app", "validate", pkg)
		if code != ExitUsage || !strings.Contains(stderr, "lib/app.jar: checksum") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("no checksums", func(t *testing.T) {
		pkg := filepath.Join(t.TempDir(), "app.tar.gz")
		m := fixture.Manifest()
		data, _ := yaml.Marshal(m)
		writeRaw(t, pkg, map[string][]byte{apppkg.ManifestName: data})
		code, _, stderr := runBounded(t, "app", "validate", pkg)
		if code != ExitUsage || !strings.Contains(stderr, "no cso-app.sha256") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

func readEntry(t *testing.T, pkg, name string) string {
	t.Helper()
	f, err := os.Open(pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", pkg, name, err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

// writeRaw writes a .tar.gz of files as they are (no checksum list added).
func writeRaw(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(c)
	}
	tw.Close()
	gz.Close()
	f.Close()
}
