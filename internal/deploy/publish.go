package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/userfile"
)

// What `cso deploy` publishes to the environment's files bucket after Terraform applied:
// the agent binary that user data fetches, and the two documents the agents read. The jump
// server's S3 to EFS sync (LLD 5.3) copies scripts/ to /opt/scripts.
const (
	AgentBinaryKey = "bin/cso" // the compute module's cso_binary_key
	TargetKey      = "scripts/" + target.FileName
)

// EnvFileKey is where the environment's definition is published.
func EnvFileKey(env string) string { return "scripts/env." + env + ".yaml" }

// Artifact is one object to publish.
type Artifact struct {
	Key  string
	Data []byte
}

// ObjectStore is the bucket `cso deploy` publishes to: S3, or a directory standing in for it.
type ObjectStore interface {
	// Digest returns the hex SHA-256 of the object's content; ok is false when it is absent.
	Digest(ctx context.Context, key string) (digest string, ok bool, err error)
	Put(ctx context.Context, key string, data []byte, digest string) error
	Describe() string
}

// Publish uploads the artifacts whose content differs from what the bucket holds and
// returns a one-line summary. Unchanged objects are not rewritten, so a re-deploy without
// a new binary uploads nothing.
func Publish(ctx context.Context, store ObjectStore, arts []Artifact) (string, error) {
	var changed, same []string
	for _, a := range arts {
		sum := sha256.Sum256(a.Data)
		digest := hex.EncodeToString(sum[:])
		have, ok, err := store.Digest(ctx, a.Key)
		if err != nil {
			return "", fmt.Errorf("publish %s to %s: %w", a.Key, store.Describe(), err)
		}
		if ok && have == digest {
			same = append(same, a.Key)
			continue
		}
		if err := store.Put(ctx, a.Key, a.Data, digest); err != nil {
			return "", fmt.Errorf("publish %s to %s: %w", a.Key, store.Describe(), err)
		}
		changed = append(changed, a.Key)
	}
	s := fmt.Sprintf("published to %s: ", store.Describe())
	if len(changed) > 0 {
		s += "updated " + strings.Join(changed, ", ")
	}
	if len(same) > 0 {
		if len(changed) > 0 {
			s += "; "
		}
		s += "unchanged " + strings.Join(same, ", ")
	}
	return s, nil
}

// MaxAgentBinarySize bounds the agent binary a deploy reads and publishes (cso is tens of MiB).
const MaxAgentBinarySize = 1 << 30

// Artifacts assembles what a deploy of env publishes: the agent binary at binPath (it must
// be a Linux x86-64 executable: the hosts run Amazon Linux 2023 on x86_64), the env file,
// the target description t and a local application package, verified again (the operator
// may have replaced it while Terraform ran). Only regular files are read.
func Artifacts(env *envfile.Env, binPath string, t *target.Target) ([]Artifact, error) {
	bin, err := userfile.Read(binPath, MaxAgentBinarySize)
	if err != nil {
		return nil, fmt.Errorf("agent binary: %w", err)
	}
	if err := checkLinuxAMD64(binPath, bin); err != nil {
		return nil, err
	}
	envData, err := userfile.Read(env.Path, envfile.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	tj, err := t.Marshal()
	if err != nil {
		return nil, err
	}
	arts := []Artifact{
		{Key: EnvFileKey(env.Name), Data: envData},
		{Key: TargetKey, Data: tj},
	}
	if pkg, err := LocalPackage(env); err != nil {
		return nil, err
	} else if pkg != nil {
		data, err := userfile.Read(pkg.Path, apppkg.MaxTotalSize)
		if err != nil {
			return nil, fmt.Errorf("application.package: %w", err)
		}
		// Publish exactly the bytes that were verified.
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != pkg.SHA256 {
			return nil, fmt.Errorf("application.package %s changed while it was being published: run the deploy again", userfile.Escape(pkg.Path))
		}
		arts = append(arts, Artifact{Key: PackageKey(pkg.Path), Data: data})
	}
	// Last: user data waits for the binary, and the agent it starts reads the rest.
	return append(arts, Artifact{Key: AgentBinaryKey, Data: bin}), nil
}

// LocalPackage opens and verifies the env file's application package when it is a local
// file (its gzip and tar format, every entry, the manifest: apppkg.Open), so that a deploy
// refuses a path that is not a valid package before it changes anything. It returns nil
// when the package is an s3:// location (the operator's upload) or none is set.
func LocalPackage(env *envfile.Env) (*apppkg.Package, error) {
	loc, ok := localPackage(env)
	if !ok {
		return nil, nil
	}
	pkg, err := apppkg.Open(loc)
	if err != nil {
		return nil, fmt.Errorf("application.package: not an application package (a .tar.gz with cso-app.yaml at its root, see docs/environments.md): %w", err)
	}
	return pkg, nil
}

// PackageKey is where a local application package is published: the jump server copies
// packages/ to /opt/scripts/packages, where the frontend and backend hosts find it.
func PackageKey(path string) string { return "packages/" + filepath.Base(path) }

// localPackage is the env file's application package when it is a local file (relative
// to the env file), which a deploy publishes; an s3:// package is the operator's upload.
func localPackage(env *envfile.Env) (string, bool) {
	loc := strings.TrimSpace(env.Application.Package)
	if loc == "" || strings.Contains(loc, "://") {
		return "", false
	}
	if !filepath.IsAbs(loc) {
		loc = filepath.Join(filepath.Dir(env.Path), loc)
	}
	return loc, true
}

func checkLinuxAMD64(path string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("agent binary %s is not a Linux executable (%v): build one with GOOS=linux GOARCH=amd64 go build -o cso-linux-amd64 ./cmd/cso and pass --agent-binary", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("agent binary %s is a %s %s executable; the hosts run Amazon Linux 2023 on x86_64: build with GOOS=linux GOARCH=amd64 and pass --agent-binary", path, f.Machine, f.Type)
	}
	return nil
}

// DirStore is a directory standing in for the bucket (the local target, tests): the key is
// the slash-separated path below Dir.
type DirStore struct{ Dir string }

func (d DirStore) Describe() string { return d.Dir }

func (d DirStore) path(key string) string { return filepath.Join(d.Dir, filepath.FromSlash(key)) }

// Digest implements ObjectStore.
func (d DirStore) Digest(_ context.Context, key string) (string, bool, error) {
	data, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), true, nil
}

// Put implements ObjectStore: written to a temporary file and renamed, like an S3 PUT.
func (d DirStore) Put(_ context.Context, key string, data []byte, _ string) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return agent.WriteFileAtomic(p, data, 0o644)
}

// S3PublishAPI is the part of the S3 client publishing uses.
type S3PublishAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3Store is the environment's files bucket. The SHA-256 of each object is kept in its
// metadata (x-amz-meta-sha256): an ETag is no content hash under SSE-KMS.
type S3Store struct {
	Client S3PublishAPI
	Bucket string
}

func (s S3Store) Describe() string { return "s3://" + s.Bucket }

const digestMeta = "sha256"

// Digest implements ObjectStore.
func (s S3Store) Digest(ctx context.Context, key string) (string, bool, error) {
	out, err := s.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		var re interface{ HTTPStatusCode() int }
		var ae smithy.APIError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound ||
			errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
			return "", false, nil
		}
		return "", false, err
	}
	for k, v := range out.Metadata {
		if strings.EqualFold(k, digestMeta) {
			return v, true, nil
		}
	}
	return "", true, nil // present but put by something else: replace it
}

// Put implements ObjectStore; the bucket's default encryption (SSE-KMS) applies.
func (s S3Store) Put(ctx context.Context, key string, data []byte, digest string) error {
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		Metadata:      map[string]string{digestMeta: digest},
	})
	return err
}
