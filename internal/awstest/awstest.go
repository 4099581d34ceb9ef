// Package awstest serves the AWS APIs the platform calls (S3, Secrets Manager, ...) from
// moto (`moto_server`, moto 5.2.1) on 127.0.0.1, for tests: AWS is the one true external
// edge no machine here reaches, and moto is a maintained implementation of its APIs, not
// a stand-in written for this project.
//
// One moto_server runs per test binary (started on first use, killed by Stop, which the
// package's TestMain calls). Tests share it, so each test uses its own bucket and secret
// names (or deletes what it made).
//
//	m := awstest.Moto(t)
//	client := s3.NewFromConfig(m.Config())
//	for k, v := range m.Env() { t.Setenv(k, v) } // for code that calls LoadDefaultConfig
package awstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Region is the region tests use (the project's environments are in eu-west-2).
const Region = "eu-west-2"

// Test credentials: moto accepts any; static so no machine profile is ever read.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// Server is a running moto_server.
type Server struct {
	// URL is the endpoint of every service, e.g. http://127.0.0.1:41234.
	URL    string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan error
}

var (
	once     sync.Once
	server   *Server
	startErr error
	missing  bool
)

// Moto returns the test binary's moto_server, starting it on first use. When moto_server is
// not installed the test is skipped with a message naming scripts/install-deps.sh, or
// fails when CI=true (CI must run these tests).
func Moto(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { server, startErr = start() })
	if startErr != nil {
		if missing && os.Getenv("CI") != "true" {
			t.Skipf("awstest: %v (run scripts/install-deps.sh --test)", startErr)
		}
		t.Fatalf("awstest: %v", startErr)
	}
	return server
}

// Main runs a package's tests, then stops the moto_server they started on first use:
// `func TestMain(m *testing.M) { awstest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop kills the moto_server if one was started (call it from TestMain after m.Run).
func Stop() {
	if server == nil {
		return
	}
	// moto_server runs in its own process group: whatever it forked goes with it.
	_ = syscall.Kill(-server.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-server.exited:
	case <-time.After(10 * time.Second):
	}
}

func start() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		missing = true
		return nil, errors.New("moto_server (moto 5.2.1 with the server extra) is not on PATH")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{w: s.log}, &lockedWriter{w: s.log}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	// Readiness: moto answers its own dashboard API once it serves requests. Bounded: a
	// loaded machine may take a few seconds to import moto.
	deadline := time.Now().Add(60 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("moto_server exited before it served (%v): %s", err, s.log.String())
		default:
		}
		resp, err := c.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			return nil, fmt.Errorf("moto_server did not answer on %s within 60s: %s", s.URL, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 { // keep the log bounded; only its start explains a failed start
		return len(p), nil
	}
	return l.w.Write(p)
}

// Config is an SDK configuration for moto: its endpoint for every service, static test
// credentials, the test region.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	}
}

// S3 returns an S3 client for moto (path-style addressing: no bucket DNS names here).
func (s *Server) S3() *s3.Client {
	return s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
}

// SecretsManager returns a Secrets Manager client for moto.
func (s *Server) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.Config())
}

// Env returns the environment variables that point the SDK's default configuration
// (config.LoadDefaultConfig, in this process or in a cso started by the test) at moto:
// AWS_ENDPOINT_URL (the SDKs' standard endpoint override), static test credentials, no
// shared config files, no instance metadata. (S3 clients address buckets by path on an IP
// endpoint: the SDK's endpoint rules do so for any IP host.)
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":  s.URL,
		"AWS_ACCESS_KEY_ID": AccessKeyID, "AWS_SECRET_ACCESS_KEY": SecretAccessKey, "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_PROFILE": "",
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_REGION":                Region,
	}
}

// Setenv puts Env into the test's process environment (restored when the test ends).
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
}

// Bucket creates bucket in moto (in Region) and deletes it, with its objects, when the test
// ends.
func (s *Server) Bucket(t testing.TB, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.S3()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(Region)}})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		t.Fatalf("create bucket %s in moto: %v", bucket, err)
	}
	t.Cleanup(func() { s.EmptyBucket(t, bucket, true) })
}

// EmptyBucket deletes every object of bucket, and the bucket itself when remove is set.
func (s *Server) EmptyBucket(t testing.TB, bucket string, remove bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.S3()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for i := 0; p.HasMorePages() && i < 100; i++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("empty bucket %s: %v", bucket, err)
			return
		}
		for _, o := range page.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	if remove {
		_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	}
}

// Secret creates (or replaces the value of) secret name with value in moto's Secrets
// Manager and returns its ARN; it is deleted when the test ends.
func (s *Server) Secret(t testing.TB, name, value string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.SecretsManager()
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	arn := ""
	if err != nil {
		put, perr := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
		if perr != nil {
			t.Fatalf("create secret %s in moto: %v; put: %v", name, err, perr)
		}
		arn = aws.ToString(put.ARN)
	} else {
		arn = aws.ToString(out.ARN)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return arn
}
