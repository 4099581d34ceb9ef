package apppkg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cso-ssp/platform/internal/agent"
)

// The release record: the environment's desired application version, written by
// `cso app deploy` (internal/release) and read by the frontend and backend roles before the
// env file's application.package, so that a host's boot or timer run converges to the
// released version and never undoes a release (docs/decisions/roles.md).

// ReleaseKey is the record's key in the environment's bucket: under packages/, which every
// host may read (docs/access-matrix.md) and only the operator writes.
const ReleaseKey = "packages/release.json"

// MaxReleaseSize bounds the record a host reads.
const MaxReleaseSize = 1 << 20

// PackageRef names one published package.
type PackageRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Key is the package's object key in the bucket (packages/<file>).
	Key string `json:"key"`
}

func (p PackageRef) String() string { return p.Name + " " + p.Version + " (" + short(p.SHA256) + ")" }

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Rollout states.
const (
	RolloutRunning     = "running"     // a `cso app deploy` is rolling (it holds the deploy lock)
	RolloutDone        = "done"        // every host runs the new version
	RolloutRolledBack  = "rolled-back" // a host failed: it got the previous version back, the rest untouched
	RolloutInterrupted = "interrupted" // its cso died; an operator broke its lock (cso app deploy --break-lock)
)

// HostRollout is one host's part in a rollout.
type HostRollout struct {
	Host   string    `json:"host"`
	State  string    `json:"state"` // pending, draining, updating, checking, done, failed, rolled-back
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// Rollout is the newest (or current) rollout of a release.
type Rollout struct {
	Package    PackageRef    `json:"package"`
	Previous   *PackageRef   `json:"previous,omitempty"` // nil: the env file's application.package
	By         string        `json:"by"`
	State      string        `json:"state"`
	Error      string        `json:"error,omitempty"`
	StartedAt  time.Time     `json:"started_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Hosts      []HostRollout `json:"hosts"`
}

// Release is the record.
type Release struct {
	// Current is the version every frontend and backend host converges to; nil until a
	// release completed (the hosts install the env file's application.package).
	Current *PackageRef `json:"current,omitempty"`
	// Hosts overrides Current for the hosts a running rollout has reached.
	Hosts   map[string]PackageRef `json:"hosts,omitempty"`
	Rollout *Rollout              `json:"rollout,omitempty"`
}

// For returns the package host must run, or nil when the record says nothing about it.
func (r *Release) For(host string) *PackageRef {
	if r == nil {
		return nil
	}
	if p, ok := r.Hosts[host]; ok {
		return &p
	}
	return r.Current
}

// ParseRelease decodes a record; file names it in errors.
func ParseRelease(file string, data []byte) (*Release, error) {
	var r Release
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not a release record: %w", file, err)
	}
	check := func(what string, p *PackageRef) error {
		if p == nil {
			return nil
		}
		if p.Key == "" || path.Clean(p.Key) != p.Key || path.Dir(p.Key) != "packages" || len(p.SHA256) != 64 {
			return fmt.Errorf("%s: %s: package key %q must be packages/<file> with a sha256", file, what, p.Key)
		}
		return nil
	}
	if err := check("current", r.Current); err != nil {
		return nil, err
	}
	for h, p := range r.Hosts {
		if err := check("hosts."+h, &p); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// ReadRelease reads the record from b: nil without error when there is none (no release
// was ever deployed, or a rendering, which has no bucket).
func ReadRelease(ctx context.Context, b agent.Bucket) (*Release, error) {
	if b == nil {
		return nil, nil
	}
	if _, ok := b.(agent.NoBucket); ok {
		return nil, nil
	}
	rc, err := b.Open(ctx, ReleaseKey)
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.Is(err, fs.ErrNotExist) || errors.As(err, &nsk) {
			return nil, nil
		}
		return nil, fmt.Errorf("release record %s/%s: %w", b.Describe(), ReleaseKey, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxReleaseSize))
	if err != nil {
		return nil, fmt.Errorf("release record %s/%s: %w", b.Describe(), ReleaseKey, err)
	}
	return ParseRelease(b.Describe()+"/"+ReleaseKey, data)
}

// releasedPackage returns the package the release record gives rt's host and where the
// file is on this host: in the bucket directory locally; on EC2 the copy the jump server
// syncs from packages/ into <Scripts>/packages (LLD 5.3), as for application.package.
func releasedPackage(rt *agent.Runtime) (*PackageRef, string, error) {
	rec, err := ReadRelease(context.Background(), rt.Bucket)
	if err != nil || rec == nil {
		return nil, "", err
	}
	ref := rec.For(rt.Host.Name)
	if ref == nil {
		return nil, "", nil
	}
	if rt.Paths.Bucket != "" {
		return ref, filepath.Join(rt.Paths.Bucket, filepath.FromSlash(ref.Key)), nil
	}
	return ref, filepath.Join(rt.Paths.Scripts, "packages", path.Base(ref.Key)), nil
}

// Fact names the frontend and backend roles publish in their status documents: what the
// host runs, which `cso app deploy` waits for on AWS and `cso app status` shows.
const (
	FactAppName    = "app_name"
	FactAppVersion = "app_version"
	FactAppSHA256  = "app_sha256"
)

// Facts returns what rt's host runs: the package its run converged to (nothing without one).
func Facts(rt *agent.Runtime) map[string]string {
	a, err := NewApp(rt)
	if err != nil {
		return nil
	}
	p, err := a.Package()
	if err != nil || !p.Installed(a.Dir(p)) {
		return nil
	}
	return map[string]string{FactAppName: p.Manifest.Name, FactAppVersion: p.Manifest.Version, FactAppSHA256: p.SHA256}
}
