package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/target"
)

// Publish uploads what changed and only that, to S3 (moto) and to a directory alike.
func TestPublish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := awstest.Moto(t)
	m.Bucket(t, "dev-ha-cso-files-111122223333")
	client := m.S3()
	stores := map[string]ObjectStore{
		"s3":  S3Store{Client: client, Bucket: "dev-ha-cso-files-111122223333"},
		"dir": DirStore{Dir: t.TempDir()},
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			arts := []Artifact{{Key: "scripts/env.dev-ha.yaml", Data: []byte("a: 1\n")}, {Key: "bin/cso", Data: []byte("binary v1")}}
			got, err := Publish(ctx, st, arts)
			if err != nil || !strings.HasSuffix(got, ": updated scripts/env.dev-ha.yaml, bin/cso") {
				t.Fatalf("first publish: %q, %v", got, err)
			}
			got, err = Publish(ctx, st, arts)
			if err != nil || !strings.HasSuffix(got, ": unchanged scripts/env.dev-ha.yaml, bin/cso") {
				t.Fatalf("second publish: %q, %v", got, err)
			}
			arts[1].Data = []byte("binary v2")
			got, err = Publish(ctx, st, arts)
			if err != nil || !strings.HasSuffix(got, ": updated bin/cso; unchanged scripts/env.dev-ha.yaml") {
				t.Fatalf("new binary: %q, %v", got, err)
			}
			var body []byte
			switch s := st.(type) {
			case S3Store:
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("bin/cso")})
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				n, _ := out.Body.Read(buf)
				body = buf[:n]
				out.Body.Close()
			case DirStore:
				body, _ = os.ReadFile(filepath.Join(s.Dir, "bin", "cso"))
			}
			if string(body) != "binary v2" {
				t.Errorf("bin/cso holds %q", body)
			}
		})
	}
	if _, err := Publish(ctx, S3Store{Client: client, Bucket: "no-such-bucket"}, []Artifact{{Key: "bin/cso", Data: []byte("x")}}); err == nil ||
		!strings.Contains(err.Error(), "publish bin/cso to s3://no-such-bucket") {
		t.Errorf("missing bucket: %v", err)
	}
}

// The hosts run Linux on x86-64: anything else is refused before a byte is uploaded.
func TestArtifactsRefuseAForeignBinary(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "cso")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho not a binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkLinuxAMD64(script, []byte("#!/bin/sh\n")); err == nil || !strings.Contains(err.Error(), "GOOS=linux GOARCH=amd64") {
		t.Errorf("a shell script: %v", err)
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return // this test binary is the positive case only on linux/amd64, where CI runs
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLinuxAMD64(exe, data); err != nil {
		t.Errorf("this test binary: %v", err)
	}
}

// A local application package is published under packages/, before the binary that starts
// the agents which look for it; an s3:// package is the operator's upload and is not.
func TestArtifactsPublishALocalPackage(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the agent binary must be linux/amd64; this test uses its own executable")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	envPath := filepath.Join(dir, "env.dev.yaml")
	if err := os.WriteFile(envPath, []byte("prod: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgPath := filepath.Join(dir, "cso-app-2.4.1.tar.gz")
	manifest, err := yaml.Marshal(fixture.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.WritePackage(pkgPath, map[string][]byte{apppkg.ManifestName: manifest}); err != nil {
		t.Fatal(err)
	}
	pkgData, err := os.ReadFile(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	env := &envfile.Env{Name: "dev", Path: envPath, Application: envfile.Application{Package: "cso-app-2.4.1.tar.gz"}}
	arts, err := Artifacts(env, exe, &target.Target{Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range arts {
		keys = append(keys, a.Key)
	}
	if got := strings.Join(keys, " "); got != "scripts/env.dev.yaml scripts/target.json packages/cso-app-2.4.1.tar.gz bin/cso" {
		t.Errorf("artifacts %s", got)
	}
	if !bytes.Equal(arts[2].Data, pkgData) {
		t.Errorf("package data differs from the file")
	}
	env.Application.Package = "s3://" + env.FilesBucket() + "/packages/cso-app-2.4.1.tar.gz"
	if arts, _ := Artifacts(env, exe, &target.Target{Env: "dev"}); len(arts) != 3 {
		t.Errorf("an s3:// package was published: %d artifacts", len(arts))
	}
	env.Application.Package = "missing.tar.gz"
	if _, err := Artifacts(env, exe, &target.Target{Env: "dev"}); err == nil || !strings.Contains(err.Error(), "application.package") {
		t.Errorf("missing package: %v", err)
	}
}

// A path that is not a valid package is refused before anything is published, with what
// is wrong with it.
func TestLocalPackageRefusesWhatIsNotAPackage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("notes.txt", "not a package")
	if err := fixture.WritePackage(filepath.Join(dir, "nomanifest.tar.gz"), map[string][]byte{"lib/a.jar": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := fixture.WritePackage(filepath.Join(dir, "badmanifest.tar.gz"), map[string][]byte{apppkg.ManifestName: []byte("version: 1\nservices: []\n")}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.tar.gz"), 0o600); err != nil {
		t.Fatal(err)
	}
	const prefix = "application.package: not an application package (a .tar.gz with cso-app.yaml at its root, see docs/environments.md): "
	for pkg, want := range map[string]string{
		"notes.txt":          filepath.Join(dir, "notes.txt") + ": not a gzip-compressed tar file",
		"nomanifest.tar.gz":  filepath.Join(dir, "nomanifest.tar.gz") + ": not an application package: no cso-app.yaml at the root of the archive",
		"badmanifest.tar.gz": filepath.Join(dir, "badmanifest.tar.gz") + ": invalid application package manifest:",
		"fifo.tar.gz":        "open application package: " + filepath.Join(dir, "fifo.tar.gz") + " is a named pipe (FIFO), not a regular file",
		".":                  "open application package: " + dir + " is a directory, not a regular file",
	} {
		env := &envfile.Env{Name: "dev", Path: filepath.Join(dir, "env.dev.yaml"), Application: envfile.Application{Package: pkg}}
		_, err := LocalPackage(env)
		if err == nil || !strings.HasPrefix(err.Error(), prefix+want) {
			t.Errorf("%s: got %v\nwant %s%s", pkg, err, prefix, want)
		}
	}
}
