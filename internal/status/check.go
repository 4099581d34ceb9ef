package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// CheckReport is the newest run of the check engine (internal/check) against the whole
// environment, published by the host that can reach every other (the jump server's agent
// on AWS) for readers that cannot (`cso deploy` on an operator's workstation).
type CheckReport struct {
	Host      string    `json:"host"` // who ran the checks, e.g. jump01
	Env       string    `json:"env"`
	Started   time.Time `json:"started"`
	Published time.Time `json:"published"`
	// Report is the check engine's JSON report (`cso check -o json`), kept as written so
	// that this package needs no knowledge of it.
	Report json.RawMessage `json:"report"`
}

// CheckStore is a Store that also keeps the newest check report. Dir and S3 implement it;
// the report lives beside the host documents (checks/latest.json), where List does not
// look.
type CheckStore interface {
	PutCheck(ctx context.Context, r CheckReport) error
	// GetCheck returns the newest report, or ErrNotFound.
	GetCheck(ctx context.Context) (CheckReport, error)
}

// CheckName is the report's name under the store: <dir>/checks/latest.json, or
// s3://<bucket>/status/checks/latest.json.
const CheckName = "checks/latest.json"

func encodeCheck(r CheckReport) ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func decodeCheck(where string, data []byte) (CheckReport, error) {
	var r CheckReport
	if err := json.Unmarshal(data, &r); err != nil {
		return CheckReport{}, fmt.Errorf("status: %s is not a check report: %w", where, err)
	}
	return r, nil
}

// PutCheck implements CheckStore (written atomically, as host documents are).
func (d Dir) PutCheck(_ context.Context, r CheckReport) error {
	data, err := encodeCheck(r)
	if err != nil {
		return err
	}
	path := filepath.Join(d.Path, CheckName)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return writeAtomic(path, data)
}

// GetCheck implements CheckStore.
func (d Dir) GetCheck(_ context.Context) (CheckReport, error) {
	path := filepath.Join(d.Path, CheckName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return CheckReport{}, ErrNotFound
	}
	if err != nil {
		return CheckReport{}, fmt.Errorf("status: %w", err)
	}
	return decodeCheck(path, data)
}

// PutCheck implements CheckStore.
func (s *S3) PutCheck(ctx context.Context, r CheckReport) error {
	data, err := encodeCheck(r)
	if err != nil {
		return err
	}
	key := S3Prefix + CheckName
	_, err = s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("status: put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

// GetCheck implements CheckStore.
func (s *S3) GetCheck(ctx context.Context) (CheckReport, error) {
	key := S3Prefix + CheckName
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if isMissing(err) {
		return CheckReport{}, ErrNotFound
	}
	if err != nil {
		return CheckReport{}, fmt.Errorf("status: get s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 16<<20))
	if err != nil {
		return CheckReport{}, fmt.Errorf("status: read s3://%s/%s: %w", s.Bucket, key, err)
	}
	return decodeCheck("s3://"+s.Bucket+"/"+key, data)
}
