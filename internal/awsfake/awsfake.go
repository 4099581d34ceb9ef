// Package awsfake serves stand-ins for the AWS APIs the platform calls (S3 through
// gofakes3, Secrets Manager's GetSecretValue) on 127.0.0.1, for tests: AWS is the one true
// external edge no machine here reaches. Point the SDK's default configuration at them
// with Env.
package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 serves an in-memory S3 with buckets on 127.0.0.1 until the test ends; it returns its
// URL and a client for it.
func S3(t testing.TB, buckets ...string) (string, *s3.Client) {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	return srv.URL, s3.New(s3.Options{
		Region:       "eu-west-2",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// SecretsManager serves GetSecretValue for the secrets (id -> SecretString) on 127.0.0.1
// until the test ends and returns its URL. Unknown ids answer ResourceNotFoundException,
// as the service does; every request is counted by id.
type SecretsManager struct {
	URL     string
	mu      sync.Mutex
	secrets map[string]string
	calls   map[string]int
}

// NewSecretsManager starts the stand-in.
func NewSecretsManager(t testing.TB, secrets map[string]string) *SecretsManager {
	t.Helper()
	sm := &SecretsManager{secrets: secrets, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(sm.serve))
	t.Cleanup(srv.Close)
	sm.URL = srv.URL
	return sm
}

// Calls returns how many times id was asked for.
func (sm *SecretsManager) Calls(id string) int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.calls[id]
}

func (sm *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code int, typ, msg string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		fail(http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf("unsupported operation %q", r.Header.Get("X-Amz-Target")))
		return
	}
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	sm.mu.Lock()
	sm.calls[in.SecretId]++
	v, ok := sm.secrets[in.SecretId]
	sm.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN": "arn:aws:secretsmanager:eu-west-2:000000000000:secret:" + in.SecretId, "Name": in.SecretId,
		"SecretString": v, "VersionId": "v1", "CreatedDate": 0,
	})
}

// Env returns the environment variables that point the SDK's default configuration
// (config.LoadDefaultConfig) at the stand-ins, with static test credentials.
func Env(s3URL, secretsManagerURL string) map[string]string {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	if s3URL != "" {
		env["AWS_ENDPOINT_URL_S3"] = s3URL
	}
	if secretsManagerURL != "" {
		env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = secretsManagerURL
	}
	return env
}
