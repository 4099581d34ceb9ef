package status

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cso-ssp/platform/internal/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// motoS3 returns a client of moto's S3 holding buckets (removed when the test ends).
func motoS3(t *testing.T, buckets ...string) *s3.Client {
	t.Helper()
	m := awstest.Moto(t)
	for _, b := range buckets {
		m.Bucket(t, b)
	}
	return m.S3()
}

func TestS3Store(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := motoS3(t, "dev-ha-cso-files-111122223333")
	st := &S3{Client: client, Bucket: "dev-ha-cso-files-111122223333"}

	if _, err := st.Get(ctx, "keystone01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put: %v, want ErrNotFound", err)
	}
	if hs, err := st.List(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("List of empty bucket = %v, %v", hs, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	docs := []Host{
		{Host: "keystone01", Role: "keystone", Index: 1, Env: "dev-ha", State: StateRunning, Step: "packages",
			Steps: []Step{{Name: "packages", State: StateRunning, StartedAt: now}}, StartedAt: now, UpdatedAt: now},
		{Host: "jump-server-1", Role: "jump", Index: 1, Env: "dev-ha", State: StateFailed, Step: "admin",
			LastError: "step admin: port 8081 in use", StartedAt: now, UpdatedAt: now},
	}
	for _, d := range docs {
		if err := st.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// The objects are where the agents and the dashboard expect them.
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dev-ha-cso-files-111122223333"), Key: aws.String("status/keystone01.json")})
	if err != nil {
		t.Fatalf("status/keystone01.json: %v", err)
	}
	if ct := aws.ToString(out.ContentType); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	out.Body.Close()
	// Something else under status/ is not a host document.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dev-ha-cso-files-111122223333"), Key: aws.String("status/archive/old.txt"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}

	got, err := st.Get(ctx, "keystone01")
	if err != nil || got.Step != "packages" || got.Steps[0].StartedAt != now || got.State != StateRunning {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 || list[0].Host != "jump-server-1" || list[1].Host != "keystone01" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].LastError != "step admin: port 8081 in use" {
		t.Errorf("LastError lost: %+v", list[0])
	}
	// Put replaces.
	docs[0].State, docs[0].Step = StateDone, ""
	if err := st.Put(ctx, docs[0]); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, "keystone01"); got.State != StateDone {
		t.Errorf("after second Put: %+v", got)
	}
	if err := st.Delete(ctx, "jump-server-1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "jump-server-1"); err != nil {
		t.Fatalf("Delete of an absent document must succeed: %v", err)
	}
	if _, err := st.Get(ctx, "jump-server-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := st.Put(ctx, Host{Host: "../etc/passwd"}); err == nil {
		t.Fatal("Put accepted a host name with a path in it")
	}
}

// Before Terraform has created the environment, its bucket does not exist: the deploy
// reads "nothing published yet", not an error.
func TestS3StoreMissingBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := &S3{Client: motoS3(t), Bucket: "nope-cso-files"}
	if hs, err := st.List(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("List = %v, %v", hs, err)
	}
	if _, err := st.Get(ctx, "keystone01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v", err)
	}
	if err := st.Delete(ctx, "keystone01"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if err := st.Put(ctx, Host{Host: "keystone01"}); err == nil || !strings.Contains(err.Error(), "s3://nope-cso-files/status/keystone01.json") {
		t.Fatalf("Put into a missing bucket: %v (want an error naming the object)", err)
	}
}
