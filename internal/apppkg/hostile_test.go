package apppkg_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
)

// parseFast parses a manifest and fails the test when refusing takes more than a second.
func parseFast(t *testing.T, data []byte) error {
	t.Helper()
	start := time.Now()
	_, err := apppkg.ParseManifest("p.tar.gz", data)
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
	return err
}

// A 322-byte cso-app.yaml of nine levels of nine aliases: decoding it exhausted the
// process's memory before the pre-pass existed.
func TestManifestAliasBombIsRefused(t *testing.T) {
	data, err := os.ReadFile("testdata/hostile/cso-app.yaml")
	if err != nil || len(data) != 322 {
		t.Fatalf("attack file: %d bytes, %v", len(data), err)
	}
	err = parseFast(t, data)
	want := "p.tar.gz: cso-app.yaml:3:3: YAML anchor &a: anchors and aliases are not accepted (this file needs none, and nested aliases can expand a few hundred bytes into gigabytes); write the value out"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// Inside a package, Open refuses it the same way.
	pkg := filepath.Join(t.TempDir(), "bomb.tar.gz")
	if err := fixture.WritePackage(pkg, map[string][]byte{apppkg.ManifestName: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := apppkg.Open(pkg); err == nil || !strings.Contains(err.Error(), "cso-app.yaml:3:3: YAML anchor &a") {
		t.Errorf("Open: %v", err)
	}
}

func TestManifestAliasIsRefusedWithItsLine(t *testing.T) {
	err := parseFast(t, []byte("version: 1.0\nrequires: [java]\nservices:\n  - name: a\n    env: *e\n"))
	if err == nil || !strings.Contains(err.Error(), "p.tar.gz: cso-app.yaml:5:10: YAML alias *e: anchors and aliases are not accepted") {
		t.Errorf("%v", err)
	}
}

func TestManifestDeepNestingIsRefused(t *testing.T) {
	for name, data := range map[string]string{
		"flow":  "services: " + strings.Repeat("[", 30000),
		"block": "services:\n" + strings.Repeat("- ", 30000) + "x\n",
	} {
		err := parseFast(t, []byte(data))
		if err == nil || !strings.Contains(err.Error(), "p.tar.gz: cso-app.yaml:") || !strings.HasSuffix(err.Error(), ": nested more than 16 levels deep; this file needs a few levels at most") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestManifestSizeIsBounded(t *testing.T) {
	manifest, _ := yaml.Marshal(validManifest())
	big := append(append([]byte{}, manifest...), strings.Repeat("# padding\n", apppkg.MaxManifestSize/10)...)
	err := parseFast(t, big)
	if err == nil || err.Error() != "p.tar.gz: cso-app.yaml is larger than 64 KiB: a manifest lists a few dozen services" {
		t.Errorf("%v", err)
	}
	// A manifest over the limit inside a package is refused, not truncated.
	pkg := filepath.Join(t.TempDir(), "big.tar.gz")
	if err := fixture.WritePackage(pkg, map[string][]byte{apppkg.ManifestName: big}); err != nil {
		t.Fatal(err)
	}
	if _, err := apppkg.Open(pkg); err == nil || !strings.Contains(err.Error(), "cso-app.yaml is larger than 64 KiB") {
		t.Errorf("Open: %v", err)
	}
	if len(manifest)*4 > apppkg.MaxManifestSize {
		t.Errorf("the fixture manifest (%d bytes) leaves too little headroom under the limit", len(manifest))
	}
}

func TestManifestByteOrderMarkIsAccepted(t *testing.T) {
	manifest, _ := yaml.Marshal(validManifest())
	if _, err := apppkg.ParseManifest("p", append([]byte("\xEF\xBB\xBF"), manifest...)); err != nil {
		t.Errorf("manifest with a BOM: %v", err)
	}
}

func TestManifestMessagesEscapeControlAndBidi(t *testing.T) {
	m := validManifest()
	m.Services[0].Name = "evil\u202e\x1b[2J"
	m.Version = "1\u2066"
	data, _ := yaml.Marshal(m)
	_, err := apppkg.ParseManifest("p\x1b.tar.gz", data)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\u202e\u2066") {
		t.Errorf("raw control or bidi character in %q", msg)
	}
	for _, w := range []string{`p\x1b.tar.gz: invalid application package manifest`, `evil\u202e\x1b[2J`, `"1\u2066"`} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
	_, err = apppkg.ParseManifest("p", []byte("version: 1\n\"sur\u202eprise\": true\n"))
	if err == nil || strings.Contains(err.Error(), "\u202e") || !strings.Contains(err.Error(), `sur\u202eprise`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestOpenRefusesFIFOAndDirectoryAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "app.tar.gz")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "named pipe (FIFO)", dir: "directory"} {
		done := make(chan error, 1)
		go func() { _, err := apppkg.Open(path); done <- err }()
		select {
		case err := <-done:
			want := "open application package: " + path + " is a " + kind + ", not a regular file"
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %v\nwant %s", err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%s) blocked", path)
		}
	}
}

func FuzzManifest(f *testing.F) {
	manifest, _ := yaml.Marshal(validManifest())
	f.Add(manifest)
	f.Add([]byte("version: 1\nservices: []\n"))
	f.Add([]byte("services: [[[[\n"))
	f.Add([]byte("\xEF\xBB\xBFversion: \"\\e\u202e\"\n"))
	f.Add([]byte("a: &x [*x]\n"))
	if b, err := os.ReadFile("testdata/hostile/cso-app.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := apppkg.ParseManifest("p.tar.gz", data)
		if err == nil {
			if m == nil || m.Validate("p.tar.gz") != nil {
				t.Fatalf("accepted manifest does not validate: %+v", m)
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "p.tar.gz: ") {
			t.Fatalf("error does not name the package: %q", msg)
		}
		if strings.ContainsAny(msg, "\x1b\r\u202e\u2066") {
			t.Fatalf("raw control or bidi character in %q", msg)
		}
	})
}
