package lease

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/cso-ssp/platform/internal/agent"
)

// maxObject bounds what Get reads: a lease record is a few hundred bytes.
const maxObject = 64 << 10

// Dir is the local target's bucket directory as a lease store. Its conditional write is
// made atomic across processes by a guard file created with O_EXCL next to the object,
// held for the few milliseconds of one read-compare-rename; the object itself is replaced
// by a rename, so a reader sees the old or the new record. The version is the content's
// SHA-256 (each record holds a random token, so no two takings share one).
type Dir struct{ Dir string }

func (d Dir) Describe() string { return d.Dir }

func (d Dir) path(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean != key || key == "" || strings.HasPrefix(key, "../") {
		return "", fmt.Errorf("lease key %q is not a clean relative path", key)
	}
	return filepath.Join(d.Dir, filepath.FromSlash(key)), nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Get implements Store.
func (d Dir) Get(_ context.Context, key string) ([]byte, string, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	return data, digest(data), nil
}

// guardStale: a guard file this old was left by a process that died inside PutIf (which
// holds it for milliseconds): it is removed.
const guardStale = 10 * time.Second

// PutIf implements Store.
func (d Dir) PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	p, err := d.path(key)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	guard := p + ".guard"
	deadline := time.Now().Add(2 * guardStale)
	for {
		f, err := os.OpenFile(guard, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
		if st, serr := os.Stat(guard); serr == nil && time.Since(st.ModTime()) > guardStale {
			_ = os.Remove(guard)
			continue
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("lease %s: guard file %s stays in place", key, guard)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	defer os.Remove(guard)
	cur, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ifVersion != "" {
			return "", ErrPrecondition
		}
	case err != nil:
		return "", err
	case ifVersion == "" || digest(cur) != ifVersion:
		return "", ErrPrecondition
	}
	if err := agent.WriteFileAtomic(p, data, 0o644); err != nil {
		return "", err
	}
	return digest(data), nil
}

// S3API is the part of the S3 client a lease uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3 is the environment's bucket as a lease store: S3's conditional writes, PutObject
// with If-None-Match: * (create only) or If-Match: <ETag> (compare-and-swap), which S3
// answers 412 Precondition Failed, or 409 ConditionalRequestConflict for a concurrent
// conditional write on the same key
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
type S3 struct {
	Client S3API
	Bucket string
}

func (s S3) Describe() string { return "s3://" + s.Bucket }

func notFound(err error) bool {
	var ae smithy.APIError
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") ||
		errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// Get implements Store.
func (s S3) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return nil, "", ErrNotFound
		}
		return nil, "", err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxObject))
	if err != nil {
		return nil, "", err
	}
	return data, aws.ToString(out.ETag), nil
}

// PutIf implements Store; the bucket's default encryption applies.
func (s S3) PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json"),
	}
	if ifVersion == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(ifVersion)
	}
	out, err := s.Client.PutObject(ctx, in)
	if err != nil {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
			return "", ErrPrecondition
		}
		// If-Match on an object deleted meanwhile.
		if ifVersion != "" && notFound(err) {
			return "", ErrPrecondition
		}
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// ForBucket returns the lease store of the environment's bucket as the agent reaches it:
// the directory locally, S3 (when the client can write) on AWS.
func ForBucket(b agent.Bucket) (Store, error) {
	switch b := b.(type) {
	case agent.DirBucket:
		return Dir{Dir: b.Dir}, nil
	case agent.S3Bucket:
		if c, ok := b.Client.(S3API); ok {
			return S3{Client: c, Bucket: b.Name}, nil
		}
		return nil, fmt.Errorf("the S3 client of %s cannot write (no PutObject)", b.Describe())
	}
	return nil, fmt.Errorf("no lease store for bucket %T", b)
}
