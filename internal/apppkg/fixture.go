package apppkg

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// The fixture application: a package built from the project's own test sources
// (testdata/fixture/CsoFixture.java, a small com.sun.net.httpserver program compiled with
// javac at test time) with every frontend and backend service of the LLD. Each service
// serves its health path and says who it is on every other path.

var fixtureJar struct {
	once sync.Once
	data []byte
	err  error
}

// FixtureHealthPath is the health path of service name in the fixture package: /health for
// the UIs, /api/<name>/health for backend services (so a test proves the role uses the
// manifest's path, not a constant).
func FixtureHealthPath(role envfile.Role, name string) string {
	if role == envfile.RoleFrontend {
		return "/health"
	}
	return "/api/" + name + "/health"
}

// FixtureManifest is the manifest of the fixture package.
func FixtureManifest() *Manifest {
	m := &Manifest{Name: "cso-fixture", Version: "1.0.0-test", Requires: []string{RuntimeJava}}
	add := func(role envfile.Role, name string) {
		m.Services = append(m.Services, Service{
			Name: name, Role: role, Port: LLDPort(role, name),
			// A small heap and the C1 compiler only: 15 of these start side by side on 2 cores.
			Command: []string{"java", "-Xmx24m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
				"-jar", "${APP_DIR}/lib/cso-fixture.jar"},
			HealthPath: FixtureHealthPath(role, name),
			Env:        map[string]string{"HEALTH_PATH": FixtureHealthPath(role, name)},
		})
	}
	add(envfile.RoleFrontend, "management-ui")
	add(envfile.RoleFrontend, "portal-ui")
	for _, n := range inventory.BackendServiceNames() {
		add(envfile.RoleBackend, n)
	}
	return m
}

// BuildFixture writes the fixture application package into dir and returns its path.
// mutate, if given, changes the manifest first (e.g. a new version). It needs javac
// (openjdk-17-jdk-headless, installed by scripts/install-deps.sh): without it the test
// is skipped, or fails when CI=true.
func BuildFixture(t testing.TB, dir string, mutate ...func(*Manifest)) string {
	t.Helper()
	jar := fixtureJarBytes(t)
	m := FixtureManifest()
	for _, f := range mutate {
		f(m)
	}
	manifest, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cso-fixture-"+m.Version+".tar.gz")
	if err := WritePackage(path, map[string][]byte{ManifestName: manifest, "lib/cso-fixture.jar": jar}); err != nil {
		t.Fatal(err)
	}
	return path
}

// WritePackage writes a .tar.gz holding files (name -> content), in name order.
func WritePackage(path string, files map[string][]byte) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range names {
		mode := int64(0o644)
		if strings.HasPrefix(n, "bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
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
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func fixtureJarBytes(t testing.TB) []byte {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		msg := "javac not found: run scripts/install-deps.sh (openjdk-17-jdk-headless)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	fixtureJar.once.Do(func() { fixtureJar.data, fixtureJar.err = compileFixture(javac) })
	if fixtureJar.err != nil {
		t.Fatal(fixtureJar.err)
	}
	return fixtureJar.data
}

// compileFixture compiles testdata/fixture/*.java (found next to this source file) and
// packs the classes into an executable jar.
func compileFixture(javac string) ([]byte, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "testdata", "fixture")
	sources, err := filepath.Glob(filepath.Join(src, "*.java"))
	if err != nil || len(sources) == 0 {
		return nil, &os.PathError{Op: "glob", Path: src, Err: os.ErrNotExist}
	}
	out, err := os.MkdirTemp("", "cso-e2-fixture-classes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	cmd := exec.Command(javac, append([]string{"--release", "17", "-d", out}, sources...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, &exec.Error{Name: "javac " + strings.TrimSpace(string(b)), Err: err}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("META-INF/MANIFEST.MF")
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte("Manifest-Version: 1.0\r\nMain-Class: CsoFixture\r\nCreated-By: cso-platform tests\r\n\r\n")); err != nil {
		return nil, err
	}
	classes, _ := filepath.Glob(filepath.Join(out, "*.class"))
	for _, c := range classes {
		data, err := os.ReadFile(c)
		if err != nil {
			return nil, err
		}
		w, err := zw.Create(filepath.Base(c))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
