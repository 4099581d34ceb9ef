package apppkg_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// The hosts read the release record before the env file: a host the running rollout
// reached gets its own version, the others the current one; a record naming a file with
// another checksum is refused; no record means the env file's package.
func TestReleaseRecordChoosesThePackage(t *testing.T) {
	bucket := t.TempDir()
	sum := strings.Repeat("a", 64)
	other := strings.Repeat("b", 64)
	write := func(s string) {
		t.Helper()
		p := filepath.Join(bucket, filepath.FromSlash(apppkg.ReleaseKey))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := &envfile.Env{Name: "t", DomainSuffix: "cso.test", Application: envfile.Application{Package: "/srv/env-file.tar.gz"}}
	rt := func(host string) *agent.Runtime {
		return &agent.Runtime{Env: env, Host: inventory.Host{Name: host}, Bucket: agent.DirBucket{Dir: bucket},
			Paths: agent.Paths{Bucket: bucket, Scripts: "/opt/scripts"}}
	}
	a, err := apppkg.NewApp(rt("frontend-server-1"))
	if err != nil || a.File != "/srv/env-file.tar.gz" {
		t.Fatalf("without a record: %v %v", a, err)
	}
	write(`{"current": {"name": "app", "version": "1", "sha256": "` + sum + `", "key": "packages/app-1.tar.gz"},
	        "hosts": {"frontend-server-2": {"name": "app", "version": "2", "sha256": "` + other + `", "key": "packages/app-2.tar.gz"}}}`)
	for host, want := range map[string]string{"frontend-server-1": "app-1.tar.gz", "frontend-server-2": "app-2.tar.gz"} {
		a, err := apppkg.NewApp(rt(host))
		if err != nil || a.File != filepath.Join(bucket, "packages", want) {
			t.Errorf("%s: %v %v, want %s", host, a, err, want)
		}
	}
	// On EC2 (no bucket directory) the jump server's synced copy.
	r := rt("backend-server-1")
	r.Paths.Bucket = ""
	if a, err := apppkg.NewApp(r); err != nil || a.File != "/opt/scripts/packages/app-1.tar.gz" {
		t.Errorf("EC2 path: %v %v", a, err)
	}
	// The file must be the one the record names.
	manifest, err := yaml.Marshal(fixture.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.WritePackage(filepath.Join(bucket, "packages", "app-1.tar.gz"), map[string][]byte{apppkg.ManifestName: manifest}); err != nil {
		t.Fatal(err)
	}
	a, _ = apppkg.NewApp(rt("frontend-server-1"))
	if _, err := a.Package(); err == nil || !strings.Contains(err.Error(), "release record") {
		t.Errorf("a package with another checksum: %v", err)
	}
	write(`{"current": {"name": "app", "version": "1", "sha256": "` + sum + `", "key": "../etc/passwd"}}`)
	if _, err := apppkg.NewApp(rt("frontend-server-1")); err == nil || !strings.Contains(err.Error(), "packages/<file>") {
		t.Errorf("a record naming a key outside packages/: %v", err)
	}
	if r, err := apppkg.ReadRelease(context.Background(), agent.NoBucket{}); r != nil || err != nil {
		t.Errorf("a rendering reads no record: %v %v", r, err)
	}
}
