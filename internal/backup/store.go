package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cso-ssp/platform/internal/agent"
)

// Dir is a store in a local directory: <Path>/<id>/<name>, directories 0700 and files 0600
// (a backup holds the Keystone key sets: only root reads it).
type Dir struct{ Path string }

func (d Dir) Where() string { return d.Path }

func (d Dir) Put(_ context.Context, id, name string, data []byte) error {
	dir := filepath.Join(d.Path, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(d.Path, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

func (d Dir) Get(_ context.Context, id, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(d.Path, id, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f)
}

func (d Dir) IDs(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && ValidID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

func (d Dir) Delete(_ context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("not a backup id: %q", id)
	}
	return os.RemoveAll(filepath.Join(d.Path, id))
}

func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxArtefact+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxArtefact {
		return nil, fmt.Errorf("larger than %d bytes", MaxArtefact)
	}
	return data, nil
}

// Prefix is where an environment's bucket holds backups: backups/<id>/<name>.
const Prefix = "backups/"

// S3 is a store in the environment's bucket under backups/, every object written with
// SSE-KMS under the environment's key (KMSKeyID; "" leaves the bucket's default encryption).
type S3 struct {
	Client   *s3.Client
	Bucket   string
	KMSKeyID string
}

func (b S3) Where() string { return "s3://" + b.Bucket + "/" + Prefix }

func (b S3) key(id, name string) string { return Prefix + id + "/" + name }

func (b S3) Put(ctx context.Context, id, name string, data []byte) error {
	in := &s3.PutObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(b.key(id, name)), Body: bytes.NewReader(data),
		ServerSideEncryption: s3types.ServerSideEncryptionAwsKms}
	if b.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(b.KMSKeyID)
	}
	_, err := b.Client.PutObject(ctx, in)
	return err
}

func (b S3) Get(ctx context.Context, id, name string) ([]byte, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(b.key(id, name))})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return readBounded(out.Body)
}

func (b S3) IDs(ctx context.Context) ([]string, error) {
	var ids []string
	p := s3.NewListObjectsV2Paginator(b.Client, &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket), Prefix: aws.String(Prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, cp := range page.CommonPrefixes {
			id := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), Prefix), "/")
			if ValidID(id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

func (b S3) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("not a backup id: %q", id)
	}
	p := s3.NewListObjectsV2Paginator(b.Client, &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket), Prefix: aws.String(Prefix + id + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Bucket), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	return nil
}

// BucketStore reads backups through an agent's bucket (the jump server's schedule finds
// the newest with it); it writes nothing.
type BucketStore struct{ Bucket agent.Bucket }

func (b BucketStore) Where() string { return b.Bucket.Describe() + "/" + Prefix }

func (b BucketStore) Put(context.Context, string, string, []byte) error {
	return errors.New("read-only backup store")
}

func (b BucketStore) Delete(context.Context, string) error {
	return errors.New("read-only backup store")
}

func (b BucketStore) Get(ctx context.Context, id, name string) ([]byte, error) {
	rc, err := b.Bucket.Open(ctx, Prefix+id+"/"+name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readBounded(rc)
}

func (b BucketStore) IDs(ctx context.Context) ([]string, error) {
	objs, err := b.Bucket.List(ctx, Prefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, o := range objs {
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, Prefix), "/")
		if ok && ValidID(id) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}
