package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/goccy/go-yaml"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/fixture"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/target"
)

// awsOutputs are the outputs Terraform prints for env's hosts (what Describe reads).
func awsOutputs(t *testing.T, env *envfile.Env) target.Outputs {
	t.Helper()
	caPEM, _, err := pki.NewCA(env.Name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]any{}
	for i, h := range inventory.Hosts(env) {
		hosts[h.Name] = map[string]any{"role": string(h.Role), "index": h.Index, "private_ip": fmt.Sprintf("10.2.128.%d", 10+i),
			"fqdn": h.FQDN, "instance_type": h.InstanceType, "availability_zone": h.AZ, "instance_id": fmt.Sprintf("i-%017d", i)}
	}
	out := target.Outputs{}
	for k, v := range map[string]any{
		"hosts":                   hosts,
		"database":                map[string]any{"endpoint": env.Name + "-cso.abc.eu-west-2.rds.amazonaws.com:3306", "hostname": "mysql." + env.Name + ".cso.ss"},
		"buckets":                 map[string]any{"files": env.FilesBucket(), "logs": env.Name + "-cso-logs-" + env.AccountID},
		"root_ca_certificate_pem": string(caPEM),
		"admin_dashboard":         nil,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// TestDescribeFillsAppHealth: the AWS description (what cso deploy publishes as
// scripts/target.json and cso check --env reads) carries the health path of every service
// of the configured package, as the local target's does: cso check then reads each
// service's bindings on AWS too.
func TestDescribeFillsAppHealth(t *testing.T) {
	env, err := envfile.Load(filepath.Join("..", "..", "environments", "env.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := fixture.Manifest()
	manifest, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "cso-fixture.tar.gz")
	if err := fixture.WritePackage(pkg, map[string][]byte{apppkg.ManifestName: manifest}); err != nil {
		t.Fatal(err)
	}
	env.Application.Package = pkg
	tg, err := Describe(env, awsOutputs(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.AppHealth) != len(m.Services) {
		t.Errorf("app_health has %d services, the manifest %d: %v", len(tg.AppHealth), len(m.Services), tg.AppHealth)
	}
	for _, s := range m.Services {
		if got := tg.AppHealth[s.PortKey()]; got != s.HealthPath {
			t.Errorf("app_health[%s] = %q, want the manifest's %q", s.PortKey(), got, s.HealthPath)
		}
	}
	if tg.AppHealth["customers"] != "/api/customers/health" {
		t.Errorf("app_health[customers] = %q", tg.AppHealth["customers"])
	}
	// What cso deploy publishes for the hosts (and the jump server's cso check): the
	// description in the environment's bucket (moto's S3) carries it.
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		env.Path = filepath.Join(dir, "env.dev.yaml")
		if err := os.WriteFile(env.Path, []byte("prod: false\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		arts, err := Artifacts(env, exe, tg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m := awstest.Moto(t)
		m.Bucket(t, env.FilesBucket())
		if _, err := Publish(ctx, S3Store{Client: m.S3(), Bucket: env.FilesBucket()}, arts); err != nil {
			t.Fatal(err)
		}
		out, err := m.S3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(env.FilesBucket()), Key: aws.String(TargetKey)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		var pub struct {
			AppHealth map[string]string `json:"app_health"`
		}
		if err := json.NewDecoder(out.Body).Decode(&pub); err != nil || pub.AppHealth["portal-ui"] != "/health" || pub.AppHealth["customers"] != "/api/customers/health" {
			t.Errorf("published %s: app_health %v, %v", TargetKey, pub.AppHealth, err)
		}
	}

	// A package in S3 (the operator's upload) is not on this machine: no health paths,
	// no error (the bindings checks are then absent, as before).
	env.Application.Package = "s3://" + env.FilesBucket() + "/packages/cso-fixture.tar.gz"
	if tg, err = Describe(env, awsOutputs(t, env)); err != nil || tg.AppHealth != nil {
		t.Errorf("s3:// package: app_health %v, %v", tg.AppHealth, err)
	}
}
