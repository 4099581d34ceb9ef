// Package backup is what `cso backup`, `cso backup list` and `cso restore` share: the
// manifest of one backup (its id, environment, time, cso version and each artefact's size
// and SHA-256), the stores that hold backups (a 0700 directory on the local target, the
// environment's bucket under backups/<id>/ with SSE-KMS on AWS), the verification that runs
// before a restore touches anything, listing and retention.
package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ManifestName is the manifest's file name inside a backup.
const ManifestName = "manifest.json"

// Artefact names inside a backup.
const (
	ArtDatabase     = "database.sql"       // mysqldump of the platform's databases (local target)
	ArtKeystoneKeys = "keystone-keys.json" // fernet and credential key sets
	ArtCACert       = "ca.crt"             // the project CA certificate
	ArtRabbitMQ     = "rabbitmq.json"      // RabbitMQ definitions of vhost ssp
)

// Artefact is one file of a backup.
type Artefact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// What says in words what it holds (shown by `cso backup list`).
	What string `json:"what"`
}

// Snapshot is the RDS snapshot that holds an AWS backup's database.
type Snapshot struct {
	ID         string `json:"id"`
	ARN        string `json:"arn,omitempty"`
	Instance   string `json:"instance"`
	AllocateGB int32  `json:"allocated_gb,omitempty"`
}

// Shape is the layout of the local target a backup was taken from, so that a restore into
// an empty directory brings back the same stack.
type Shape struct {
	HA       bool `json:"ha"`
	PortBase int  `json:"port_base"`
}

// Manifest describes one backup.
type Manifest struct {
	ID         string     `json:"id"`
	Env        string     `json:"env"`
	Kind       string     `json:"kind"` // "local" or "aws"
	Created    time.Time  `json:"created"`
	CSOVersion string     `json:"cso_version"`
	Artefacts  []Artefact `json:"artefacts"`
	Snapshot   *Snapshot  `json:"db_snapshot,omitempty"`
	Shape      *Shape     `json:"local_shape,omitempty"`
	// Duration of the backup, for the figures in docs/reliability.md.
	DurationMS int64 `json:"duration_ms"`
}

// Size is the total size of the artefacts (an RDS snapshot's size is not counted).
func (m *Manifest) Size() int64 {
	var n int64
	for _, a := range m.Artefacts {
		n += a.Size
	}
	return n
}

// Holds says in words what the backup holds.
func (m *Manifest) Holds() string {
	var parts []string
	for _, a := range m.Artefacts {
		parts = append(parts, a.What)
	}
	if m.Snapshot != nil {
		parts = append([]string{"RDS snapshot " + m.Snapshot.ID}, parts...)
	}
	return strings.Join(parts, ", ")
}

// Add records data as artefact name.
func (m *Manifest) Add(name, what string, data []byte) {
	sum := sha256.Sum256(data)
	m.Artefacts = append(m.Artefacts, Artefact{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), What: what})
}

// Artefact returns the artefact called name, or nil.
func (m *Manifest) Artefact(name string) *Artefact {
	for i := range m.Artefacts {
		if m.Artefacts[i].Name == name {
			return &m.Artefacts[i]
		}
	}
	return nil
}

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// NewID is a backup id: its UTC time (sorts by age) and 6 random hex digits.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// ValidID reports whether id has the form NewID makes: ids name directories and S3
// prefixes, so nothing else (no "..", no "/") is accepted.
func ValidID(id string) bool { return idRE.MatchString(id) }

// ErrInvalid is wrapped by every error that says a backup cannot be restored as it is
// (tampered, foreign, incomplete): the CLI maps it to exit 2.
var ErrInvalid = errors.New("backup refused")

// Store holds backups: each under its id, each file under its name.
type Store interface {
	Put(ctx context.Context, id, name string, data []byte) error
	Get(ctx context.Context, id, name string) ([]byte, error)
	// IDs lists the ids of the backups held (in no particular order).
	IDs(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, id string) error
	// Where names the store for messages (a directory or s3://bucket/backups/).
	Where() string
}

// MaxArtefact bounds what is read back from a store (a database dump included).
const MaxArtefact = 4 << 30

// Write stores the artefacts then the manifest last: a backup without a manifest is
// incomplete and never listed or restored.
func Write(ctx context.Context, s Store, m *Manifest, files map[string][]byte) error {
	for _, a := range m.Artefacts {
		data, ok := files[a.Name]
		if !ok {
			return fmt.Errorf("backup %s: no data for %s", m.ID, a.Name)
		}
		if err := s.Put(ctx, m.ID, a.Name, data); err != nil {
			return fmt.Errorf("backup %s: store %s: %w", m.ID, a.Name, err)
		}
	}
	doc, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return s.Put(ctx, m.ID, ManifestName, append(doc, '\n'))
}

// ReadManifest reads and decodes the manifest of backup id.
func ReadManifest(ctx context.Context, s Store, id string) (*Manifest, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q is not a backup id (expected e.g. 20261205T181500Z-1a2b3c; `cso backup list`)", ErrInvalid, id)
	}
	data, err := s.Get(ctx, id, ManifestName)
	if err != nil {
		return nil, fmt.Errorf("%w: backup %s in %s: %v", ErrInvalid, id, s.Where(), err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: backup %s: %s is not valid JSON: %v", ErrInvalid, id, ManifestName, err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%w: backup %s: its manifest names backup %q", ErrInvalid, id, m.ID)
	}
	return &m, nil
}

// Verify reads backup id, checks that it belongs to environment env and that every
// artefact has the size and SHA-256 its manifest records, and returns the manifest with
// the artefacts' data. Nothing is restored from a backup that fails here.
func Verify(ctx context.Context, s Store, id, env string) (*Manifest, map[string][]byte, error) {
	m, err := ReadManifest(ctx, s, id)
	if err != nil {
		return nil, nil, err
	}
	if m.Env != env {
		return nil, nil, fmt.Errorf("%w: backup %s belongs to environment %q, not %q", ErrInvalid, id, m.Env, env)
	}
	files := map[string][]byte{}
	for _, a := range m.Artefacts {
		data, err := s.Get(ctx, id, a.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: backup %s: %s: %v", ErrInvalid, id, a.Name, err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != a.Size || hex.EncodeToString(sum[:]) != a.SHA256 {
			return nil, nil, fmt.Errorf("%w: backup %s: %s does not match its manifest (size %d, sha256 %s; manifest: size %d, sha256 %s): tampered or damaged",
				ErrInvalid, id, a.Name, len(data), hex.EncodeToString(sum[:]), a.Size, a.SHA256)
		}
		files[a.Name] = data
	}
	return m, files, nil
}

// List reads the manifests of every complete backup in s, newest first. Backups without a
// readable manifest (being written, or damaged) are skipped.
func List(ctx context.Context, s Store) ([]*Manifest, error) {
	ids, err := s.IDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, id := range ids {
		if !ValidID(id) {
			continue
		}
		m, err := ReadManifest(ctx, s, id)
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Retention is how many backups are kept: at least Count (0: no minimum) of the newest,
// and any younger than Days days (0: no age limit). With both 0 nothing is deleted.
type Retention struct {
	Count int
	Days  int
}

// Expired returns the backups that retention r deletes from list (newest first, as List
// returns it): those beyond the newest Count that are also older than Days. The newest
// backup is never expired.
func (r Retention) Expired(list []*Manifest, now time.Time) []*Manifest {
	if r.Count <= 0 && r.Days <= 0 {
		return nil
	}
	var out []*Manifest
	for i, m := range list {
		if i == 0 {
			continue
		}
		beyondCount := r.Count <= 0 || i >= r.Count
		tooOld := r.Days <= 0 || now.Sub(m.Created) > time.Duration(r.Days)*24*time.Hour
		if beyondCount && tooOld {
			out = append(out, m)
		}
	}
	return out
}

// Prune deletes the backups retention r expires and returns them.
func Prune(ctx context.Context, s Store, r Retention, now time.Time) ([]*Manifest, error) {
	list, err := List(ctx, s)
	if err != nil {
		return nil, err
	}
	expired := r.Expired(list, now)
	for _, m := range expired {
		if err := s.Delete(ctx, m.ID); err != nil {
			return nil, fmt.Errorf("delete backup %s: %w", m.ID, err)
		}
	}
	return expired, nil
}
