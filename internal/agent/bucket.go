package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Object is one object of the environment's bucket.
type Object struct {
	Key  string
	Size int64
	// Version identifies the content: the ETag on S3, a SHA-256 for a directory bucket.
	Version string
}

// Bucket is the environment's S3 bucket (LLD 2.5.2): the source of the scripts and
// packages that the jump host copies to the shared store (LLD 5.3).
type Bucket interface {
	// List returns the objects under prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Describe names the bucket in messages and logs ("s3://name" or a directory).
	Describe() string
}

// DirBucket is a directory standing in for the bucket on the local target: the object key
// is the slash-separated path below Dir.
type DirBucket struct{ Dir string }

func (b DirBucket) Describe() string { return b.Dir }

func (b DirBucket) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	root := filepath.Join(b.Dir, filepath.FromSlash(prefix))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(b.Dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		out = append(out, Object{Key: filepath.ToSlash(rel), Size: n, Version: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

func (b DirBucket) Open(_ context.Context, key string) (io.ReadCloser, error) {
	clean := path.Clean("/" + key)[1:]
	if clean != key || strings.HasPrefix(key, "../") {
		return nil, fmt.Errorf("object key %q is not a clean relative path", key)
	}
	return os.Open(filepath.Join(b.Dir, filepath.FromSlash(key)))
}

// S3API is the part of the S3 client the agent uses.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Bucket is the environment's bucket on AWS.
type S3Bucket struct {
	Client S3API
	Name   string
}

func (b S3Bucket) Describe() string { return "s3://" + b.Name }

func (b S3Bucket) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(b.Client, &s3.ListObjectsV2Input{Bucket: aws.String(b.Name), Prefix: aws.String(prefix)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 1000 {
			return nil, fmt.Errorf("s3://%s/%s: more than 1000 pages of objects", b.Name, prefix)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.Name, prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") {
				continue
			}
			out = append(out, Object{Key: k, Size: aws.ToInt64(o.Size), Version: strings.Trim(aws.ToString(o.ETag), `"`)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (b S3Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", b.Name, key, err)
	}
	return out.Body, nil
}
