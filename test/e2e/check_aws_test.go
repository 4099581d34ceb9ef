package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// TestCheckAWSTargetOnRealDaemons runs `cso check` on a target of kind aws whose hosts are
// the local stack's real daemons: the status documents come from S3 and the secrets from
// Secrets Manager (moto on 127.0.0.1: AWS is the only thing not real), the CA from the description
// itself, and the fernet key sets are compared from the digests each Keystone agent
// published, since an AWS check cannot read the nodes' key directories.
func TestCheckAWSTargetOnRealDaemons(t *testing.T) {
	s := requireStack(t)
	local := ckLoadTarget(t, s.Dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The bucket holds what the agents published.
	bucket := envfile.FilesBucket(local.Env, "111122223333") // any account: moto serves it
	moto := awstest.Moto(t)
	moto.Bucket(t, bucket)
	client := moto.S3()
	docs, err := status.Dir{Path: local.StatusDir}.List(ctx)
	if err != nil || len(docs) == 0 {
		t.Fatalf("local status documents: %d, %v", len(docs), err)
	}
	store := &status.S3{Client: client, Bucket: bucket}
	for _, d := range docs {
		if d.Role == "keystone" && d.Facts[status.FactFernetKeys] == "" {
			t.Errorf("%s published no fernet key digests: %+v", d.Host, d.Facts)
		}
		if err := store.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Secrets Manager holds the generated secrets as the JSON documents Terraform writes.
	for _, name := range []string{agent.SecretKeystoneAdmin, agent.SecretKeystoneAutomation, agent.SecretKeystoneDB, agent.SecretPortalDB, agent.SecretRabbitMQ} {
		v, err := os.ReadFile(filepath.Join(local.SecretsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		id, field := agent.SecretID(local.Env, name)
		doc, _ := json.Marshal(map[string]string{field: strings.TrimSpace(string(v))})
		moto.Secret(t, id, string(doc))
	}
	moto.Setenv(t)

	ca, err := os.ReadFile(local.CACert)
	if err != nil {
		t.Fatal(err)
	}
	awsT := *local
	awsT.Kind, awsT.Region = target.KindAWS, "eu-west-2"
	awsT.CACert, awsT.CAPEM = "/nonexistent/ca.pem", string(ca) // the description carries the CA
	awsT.StatusDir, awsT.StatusBucket = "", bucket
	awsT.SecretsDir, awsT.FernetKeyDirs = "", nil
	file := filepath.Join(t.TempDir(), target.FileName)
	if err := awsT.Save(file); err != nil {
		t.Fatal(err)
	}

	code, rep, stderr := ckRun(t, s, "--target", file)
	// The check verifies the database's certificate (issue #10): the description names no
	// RDS CA bundle, so exactly the two database users fail, saying they cannot verify.
	var unexpected []string
	for _, r := range rep.Results {
		switch {
		case r.Status == "ok":
		case strings.HasPrefix(r.Check, "mysql user ") && strings.Contains(r.Detail, "cannot verify the database's certificate"):
		case r.Status == "warn" && r.Check == "ca certificate":
		default:
			unexpected = append(unexpected, r.Check+" "+r.Target+": "+r.Status+": "+r.Detail)
		}
	}
	if code != 1 || len(unexpected) > 0 {
		t.Fatalf("exit %d (%s); unexpected results:\n%s", code, stderr, strings.Join(unexpected, "\n"))
	}
	for _, u := range []string{"keystone", "cso_user"} {
		if r, ok := rep.find("mysql user "+u, local.MySQL+"/"+map[string]string{"keystone": "keystone", "cso_user": "cso_portal"}[u]); !ok || r.Status != "fail" {
			t.Errorf("mysql user %s: %+v", u, r)
		}
	}
	// With the CA that signs the database's certificate (here the project CA, on AWS the
	// RDS bundle) both logins are verified; with --mysql-insecure instead they connect but
	// are warnings that say the certificate was not verified.
	for _, tc := range []struct {
		flag, status, detail string
	}{
		{"--mysql-ca=" + local.CACert, "ok", "(TLS, verified)"},
		{"--mysql-insecure", "warn", "server certificate NOT verified: --mysql-insecure"},
	} {
		_, rep2, _ := ckRun(t, s, "--target", file, tc.flag)
		for _, db := range []string{"keystone", "cso_portal"} {
			u := map[string]string{"keystone": "keystone", "cso_portal": "cso_user"}[db]
			if r, ok := rep2.find("mysql user "+u, local.MySQL+"/"+db); !ok || r.Status != tc.status || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%s: mysql user %s: %+v, want %s with %q", tc.flag, u, r, tc.status, tc.detail)
			}
		}
	}
	for _, r := range rep.Results {
		if r.Check == "tcp dist" || r.Check == "tcp epmd" {
			t.Errorf("an AWS check probes the RabbitMQ nodes' cluster-internal port: %+v", r)
		}
	}
	fernet, ok := rep.find("keystone fernet keys", "keystone cluster")
	if !ok || fernet.Status != "ok" || !strings.Contains(fernet.Detail, "as each node's agent last published them") {
		t.Errorf("fernet comparison from the status documents: %+v", fernet)
	}
	if r, ok := rep.find("setup status", "keystone02"); !ok || r.Status != "ok" {
		t.Errorf("setup status from S3: %+v", r)
	}
	if r, ok := rep.find("keystone cross-validation", "keystone01 -> keystone02"); !ok || r.Status != "ok" {
		t.Errorf("tokens with the admin password from Secrets Manager: %+v", r)
	}
	// The cross-validation above issued tokens with the admin password, which only
	// Secrets Manager held for this check: the local secret files were not described.

	// A node whose published key set differs is named.
	ks2, err := store.Get(ctx, "keystone02")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := status.ParseKeyDigests(ks2.Facts[status.FactFernetKeys])
	d["0"] = [32]byte{1}
	ks2.Facts[status.FactFernetKeys] = d.String()
	if err := store.Put(ctx, ks2); err != nil {
		t.Fatal(err)
	}
	_, rep, _ = ckRun(t, s, "--target", file)
	if r, _ := rep.find("keystone fernet keys", "keystone cluster"); r.Status != "fail" || !strings.Contains(r.Detail, "keystone02 differs from keystone01: key 0 differs") {
		t.Errorf("drifted key set: %+v", r)
	}
}
