package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cso-ssp/platform/internal/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// keyStore writes a shared store with both key sets, as the Keystone role publishes them.
func keyStore(t *testing.T, fernet string) string {
	t.Helper()
	dir := t.TempDir()
	for _, set := range KeySetNames {
		if err := os.MkdirAll(filepath.Join(dir, set), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"0", "1"} {
			if err := os.WriteFile(filepath.Join(dir, set, k), []byte(set+"-"+k+"-"+fernet), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func writeBackup(t *testing.T, s Store, env string, created time.Time) *Manifest {
	t.Helper()
	keys, err := ReadKeySets(keyStore(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{ID: NewID(created), Env: env, Kind: "local", Created: created}
	files := map[string][]byte{ArtKeystoneKeys: keys, ArtCACert: []byte("-----BEGIN CERTIFICATE-----\n")}
	for _, name := range []string{ArtKeystoneKeys, ArtCACert} {
		m.Add(name, name, files[name])
	}
	if err := Write(context.Background(), s, m, files); err != nil {
		t.Fatal(err)
	}
	return m
}

// A restore verifies before it touches anything: a changed artefact, a backup of another
// environment, a malformed id and a missing manifest are refused with ErrInvalid.
func TestVerifyRefusesTamperedForeignAndMalformed(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backups")
	s := Dir{Path: dir}
	m := writeBackup(t, s, "dev", time.Now())
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("backups directory mode %v (want 0700)", st.Mode().Perm())
	}
	if _, files, err := Verify(ctx, s, m.ID, "dev"); err != nil || len(files) != 2 {
		t.Fatalf("verify an intact backup: %v (%d files)", err, len(files))
	}
	if _, _, err := Verify(ctx, s, m.ID, "prod"); !errors.Is(err, ErrInvalid) {
		t.Errorf("backup of dev verified for prod: %v", err)
	}
	for _, id := range []string{"../etc", "20261205T181500Z-zzzzzz", ""} {
		if _, _, err := Verify(ctx, s, id, "dev"); !errors.Is(err, ErrInvalid) {
			t.Errorf("id %q: %v (want ErrInvalid)", id, err)
		}
	}
	ca := filepath.Join(dir, m.ID, ArtCACert)
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nforged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(ctx, s, m.ID, "dev"); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered %s verified: %v", ArtCACert, err)
	}
	if err := os.Remove(filepath.Join(dir, m.ID, ManifestName)); err != nil {
		t.Fatal(err)
	}
	if list, _ := List(ctx, s); len(list) != 0 {
		t.Errorf("a backup without manifest is listed: %v", list)
	}
}

func TestRetentionKeepsNewestAndYoung(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var list []*Manifest
	for i := range 6 { // newest first: 0, 1, ..., 5 days old
		list = append(list, &Manifest{ID: NewID(now.Add(-time.Duration(i) * 24 * time.Hour)), Created: now.Add(-time.Duration(i)*24*time.Hour - time.Minute)})
	}
	ids := func(ms []*Manifest) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	cases := []struct {
		r    Retention
		want []*Manifest
	}{
		{Retention{}, nil},
		{Retention{Count: 2}, list[2:]},
		{Retention{Days: 3}, list[3:]},
		{Retention{Count: 4, Days: 1}, list[4:]},
		{Retention{Count: 1, Days: 4}, list[4:]},
		{Retention{Count: 1, Days: 0}, list[1:]},
	}
	for _, c := range cases {
		got := c.r.Expired(list, now)
		if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("%+v: expired %v, want %v", c.r, ids(got), ids(c.want))
		}
	}
	// The newest backup is never expired, however old.
	if got := (Retention{Count: 0, Days: 1}).Expired(list[5:], now); len(got) != 0 {
		t.Errorf("the only backup expired: %v", ids(got))
	}
}

// TestAWSBackupRestoreMoto runs the AWS backup and restore through moto: the RDS snapshot,
// the artefacts under backups/<id>/ with SSE-KMS under the environment's key, retention
// deleting old backups with their snapshots, a tampered backup refused before anything
// changes, a restore into a running database refused without --force, and the restore in
// place (the old instance renamed, the restored one under the environment's identifier).
func TestAWSBackupRestoreMoto(t *testing.T) {
	m := awstest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := "bkmoto"
	bucket := env + "-cso-files-111122223333"
	m.Bucket(t, bucket)
	cfg := m.Config()
	key, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(env + " cso")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	rc := rds.NewFromConfig(cfg)
	// moto names the automated snapshot it takes of every new instance rds:<identifier>-<minute>,
	// and the restored instance (same identifier, same minute) would collide with the
	// original's: the original is created under another name and renamed, as RDS allows.
	_, err = rc.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(env + "-orig"), DBInstanceClass: aws.String("db.t4g.micro"),
		Engine: aws.String("mysql"), AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("cso_admin"), MasterUserPassword: aws.String("not-a-real-password-1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String(env + "-orig"), NewDBInstanceIdentifier: aws.String(DBInstanceID(env)), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range []string{DBInstanceID(env)} {
			_, _ = rc.DeleteDBInstance(context.Background(), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)})
		}
	})
	s3c := m.S3()
	o := AWSOptions{Env: env, Store: S3{Client: s3c, Bucket: bucket, KMSKeyID: keyARN}, RDS: RDS{Client: rc, Wait: 30 * time.Second, Poll: 50 * time.Millisecond},
		KeystoneKeys: keyStore(t, "before"), CAPEM: []byte("-----BEGIN CERTIFICATE-----\nca\n"), Version: "test",
		Retention: Retention{Count: 2}}
	var taken []*Manifest
	for i := range 3 {
		now := time.Date(2026, 12, 1+i, 3, 0, 0, 0, time.UTC)
		o.Now = func() time.Time { return now }
		b, err := BackupAWS(ctx, o)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		taken = append(taken, b)
	}
	last := taken[2]
	if last.Snapshot == nil || last.Snapshot.ID != SnapshotID(env, last.ID) {
		t.Fatalf("manifest records snapshot %+v", last.Snapshot)
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(Prefix + last.ID + "/" + ArtKeystoneKeys)})
	if err != nil {
		t.Fatal(err)
	}
	if head.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(head.SSEKMSKeyId) == "" {
		t.Errorf("key sets stored with %q key %q, want aws:kms with the environment's key", head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId))
	}
	list, err := List(ctx, o.Store)
	if err != nil || len(list) != 2 || list[0].ID != last.ID || list[1].ID != taken[1].ID {
		t.Fatalf("after retention (keep 2): %v %v", err, list)
	}
	snaps, err := rc.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String(DBInstanceID(env)), SnapshotType: aws.String("manual")})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range snaps.DBSnapshots {
		have[aws.ToString(s.DBSnapshotIdentifier)] = true
	}
	if have[taken[0].Snapshot.ID] || !have[last.Snapshot.ID] {
		t.Errorf("snapshots after retention: %v (want %s gone, %s kept)", have, taken[0].Snapshot.ID, last.Snapshot.ID)
	}

	// Restore target: a fresh shared store, as after losing the key sets.
	o.KeystoneKeys = filepath.Join(t.TempDir(), "keystone-keys")
	if _, err := RestoreAWS(ctx, o, last.ID, false); !errors.Is(err, ErrRefused) {
		t.Fatalf("restore into a running database without force: %v", err)
	}
	if _, err := os.Stat(o.KeystoneKeys); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused restore wrote key sets")
	}
	// A tampered artefact: refused before RDS is touched.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(Prefix + taken[1].ID + "/" + ArtCACert),
		Body: stringsReader("forged")}); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreAWS(ctx, o, taken[1].ID, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered backup: %v", err)
	}
	if i, _ := o.RDS.Instance(ctx, DBInstanceID(env)+"-pre-"+lower(taken[1].ID)); i != nil {
		t.Error("a tampered backup's restore renamed the database")
	}
	foreign := o
	foreign.Env = "other"
	if _, err := RestoreAWS(ctx, foreign, last.ID, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("backup of %s restored into other: %v", env, err)
	}

	res, err := RestoreAWS(ctx, o, last.ID, true)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Cleanup(func() {
		_, _ = rc.DeleteDBInstance(context.Background(), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(res.Database.Previous), SkipFinalSnapshot: aws.Bool(true)})
	})
	restored, err := o.RDS.Instance(ctx, DBInstanceID(env))
	if err != nil || restored == nil {
		t.Fatalf("restored instance %s: %v", DBInstanceID(env), err)
	}
	if prev, _ := o.RDS.Instance(ctx, res.Database.Previous); prev == nil {
		t.Errorf("the replaced instance %s is gone (it must be kept)", res.Database.Previous)
	}
	if res.Database.Endpoint == "" {
		t.Error("no endpoint for the restored instance")
	}
	got, err := ReadKeySets(o.KeystoneKeys)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ReadKeySets(keyStore(t, "before"))
	if string(got) != string(want) {
		t.Errorf("restored key sets differ:\n%s\nwant\n%s", got, want)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func lower(s string) string { return strings.ToLower(s) }
