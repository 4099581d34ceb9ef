package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Prefix is where host documents live in the environment's bucket: status/<host>.json.
const S3Prefix = "status/"

// S3API is the part of the S3 client the store uses (tests may pass any implementation).
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 is a Store backed by the environment's bucket: one object status/<host>.json per host.
// An S3 PUT replaces an object atomically, so readers see the old or the new document.
type S3 struct {
	Client S3API
	Bucket string
}

func (s *S3) key(host string) string { return S3Prefix + host + ".json" }

// Put implements Store.
func (s *S3) Put(ctx context.Context, h Host) error {
	if err := checkHost(h.Host); err != nil {
		return err
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(s.key(h.Host)),
		Body: bytes.NewReader(append(data, '\n')), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("status: put s3://%s/%s: %w", s.Bucket, s.key(h.Host), err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, host string) (Host, error) {
	if err := checkHost(host); err != nil {
		return Host{}, err
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.key(host))})
	if isMissing(err) {
		return Host{}, ErrNotFound
	}
	if err != nil {
		return Host{}, fmt.Errorf("status: get s3://%s/%s: %w", s.Bucket, s.key(host), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 4<<20))
	if err != nil {
		return Host{}, fmt.Errorf("status: read s3://%s/%s: %w", s.Bucket, s.key(host), err)
	}
	var h Host
	if err := json.Unmarshal(data, &h); err != nil {
		return Host{}, fmt.Errorf("status: s3://%s/%s is not a status document: %w", s.Bucket, s.key(host), err)
	}
	return h, nil
}

// List implements Store. A bucket that does not exist yet (the environment is being
// created) lists as empty.
func (s *S3) List(ctx context.Context) ([]Host, error) {
	var out []Host
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(S3Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if isMissing(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("status: list s3://%s/%s: %w", s.Bucket, S3Prefix, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), S3Prefix)
			host, ok := strings.CutSuffix(name, ".json")
			if !ok || checkHost(host) != nil {
				continue // not a host document (e.g. a sub-folder)
			}
			h, err := s.Get(ctx, host)
			if errors.Is(err, ErrNotFound) {
				continue // deleted between list and get
			}
			if err != nil {
				return nil, err
			}
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, host string) error {
	if err := checkHost(host); err != nil {
		return err
	}
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.key(host))})
	if err != nil && !isMissing(err) {
		return fmt.Errorf("status: delete s3://%s/%s: %w", s.Bucket, s.key(host), err)
	}
	return nil
}

// isMissing reports whether err says the object or the bucket does not exist.
func isMissing(err error) bool {
	if err == nil {
		return false
	}
	var nk *types.NoSuchKey
	var nb *types.NoSuchBucket
	if errors.As(err, &nk) || errors.As(err, &nb) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return true
		}
	}
	return false
}
