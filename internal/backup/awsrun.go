package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cso-ssp/platform/internal/rabbitmqapi"
)

// ErrRefused is wrapped by the error of a restore into a running environment without
// --force: nothing was changed.
var ErrRefused = errors.New("restore refused")

// AWSOptions shape a backup or a restore of an AWS environment. Both run on the jump
// server (its timer, or an operator's session there): it alone mounts the Keystone key sets'
// EFS access point besides the Keystone hosts, reaches the RabbitMQ management API, and
// may write the bucket's backups/ prefix (docs/decisions/backup.md).
type AWSOptions struct {
	Env          string
	Store        S3
	RDS          RDS
	KeystoneKeys string // the key sets' shared store (/opt/keystone-keys)
	CAPEM        []byte // the project CA certificate
	// Rabbit is the management API of one RabbitMQ node as ssp_user.
	Rabbit    *rabbitmqapi.Client
	Retention Retention
	Version   string // cso version recorded in the manifest
	Now       func() time.Time
	Out       io.Writer
}

func (o *AWSOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// BackupAWS takes a backup of an AWS environment: an RDS snapshot of <env>-db, then the
// key sets, the CA certificate and the RabbitMQ definitions to s3://bucket/backups/<id>/
// (SSE-KMS with the environment's key), the manifest last; then retention deletes the
// expired backups and their snapshots.
func BackupAWS(ctx context.Context, o AWSOptions) (*Manifest, error) {
	o.defaults()
	start := time.Now()
	m := &Manifest{ID: NewID(o.Now()), Env: o.Env, Kind: "aws", Created: o.Now().UTC(), CSOVersion: o.Version}
	keys, err := ReadKeySets(o.KeystoneKeys)
	if err != nil {
		return nil, fmt.Errorf("%w (run cso backup on the jump server, which mounts the key sets)", err)
	}
	var defs []byte
	if o.Rabbit != nil {
		if defs, err = ExportRabbitMQ(ctx, o.Rabbit); err != nil {
			return nil, fmt.Errorf("RabbitMQ definitions: %w", err)
		}
	}
	snap, err := o.RDS.Snapshot(ctx, DBInstanceID(o.Env), SnapshotID(o.Env, m.ID), map[string]string{"cso:backup": m.ID, "cso:env": o.Env})
	if err != nil {
		return nil, err
	}
	m.Snapshot = snap
	fmt.Fprintf(o.Out, "  RDS snapshot %s of %s\n", snap.ID, snap.Instance)
	files := map[string][]byte{}
	add := func(name, what string, data []byte) {
		m.Add(name, what, data)
		files[name] = data
		fmt.Fprintf(o.Out, "  %-20s %9d bytes  %s\n", name, len(data), what)
	}
	add(ArtKeystoneKeys, "Keystone fernet and credential key sets", keys)
	add(ArtCACert, "CA certificate", o.CAPEM)
	if defs != nil {
		add(ArtRabbitMQ, "RabbitMQ definitions", defs)
	}
	m.DurationMS = time.Since(start).Milliseconds()
	if err := Write(ctx, o.Store, m, files); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "backup %s of %s: %d bytes in %s and snapshot %s, %s\n", m.ID, o.Env, m.Size(), o.Store.Where(), snap.ID, time.Since(start).Round(time.Millisecond))
	list, err := List(ctx, o.Store)
	if err != nil {
		return m, fmt.Errorf("retention: %w", err)
	}
	for _, e := range o.Retention.Expired(list, o.Now()) {
		if e.Snapshot != nil {
			if err := o.RDS.DeleteSnapshot(ctx, e.Snapshot.ID); err != nil {
				return m, fmt.Errorf("retention: delete snapshot %s: %w", e.Snapshot.ID, err)
			}
		}
		if err := o.Store.Delete(ctx, e.ID); err != nil {
			return m, fmt.Errorf("retention: delete backup %s: %w", e.ID, err)
		}
		fmt.Fprintf(o.Out, "deleted backup %s (retention)\n", e.ID)
	}
	return m, nil
}

// AWSRestore is what RestoreAWS did.
type AWSRestore struct {
	Manifest        *Manifest   `json:"manifest"`
	Database        *RDSRestore `json:"database"`
	RabbitMQObjects int         `json:"rabbitmq_objects"`
	// Terraform are the commands that make the workspace's state name the restored
	// instance (its resource ID changed; its identifier did not).
	Terraform []string `json:"terraform"`
}

// RestoreAWS restores backup id into its environment: verified first (environment, every
// artefact's size and SHA-256; nothing touched on a mismatch), refused while the
// environment's database is available unless force, then the database restored from the
// backup's snapshot in place (RDS.RestoreInstance), the key sets written to the shared store
// (each Keystone node installs them at its next agent run: the resync timer), the
// RabbitMQ definitions declared.
func RestoreAWS(ctx context.Context, o AWSOptions, id string, force bool) (*AWSRestore, error) {
	o.defaults()
	m, files, err := Verify(ctx, o.Store, id, o.Env)
	if err != nil {
		return nil, err
	}
	if m.Snapshot == nil {
		return nil, fmt.Errorf("%w: backup %s names no RDS snapshot (a local target's backup?)", ErrInvalid, id)
	}
	sets, err := ParseKeySets(files[ArtKeystoneKeys])
	if err != nil {
		return nil, fmt.Errorf("%w: backup %s: %v", ErrInvalid, id, err)
	}
	instance := DBInstanceID(o.Env)
	cur, err := o.RDS.Instance(ctx, instance)
	if err != nil {
		return nil, err
	}
	if cur != nil && aws.ToString(cur.DBInstanceStatus) == "available" && !force {
		return nil, fmt.Errorf("%w: database %s of %s is running: the restore replaces it (the current one is kept, renamed); give --force to do so (nothing was changed)", ErrRefused, instance, o.Env)
	}
	res := &AWSRestore{Manifest: m}
	prev := instance + "-pre-" + strings.ToLower(id)
	fmt.Fprintf(o.Out, "restore %s: database %s from snapshot %s (the current one is renamed %s)\n", id, instance, m.Snapshot.ID, prev)
	if res.Database, err = o.RDS.RestoreInstance(ctx, m.Snapshot.ID, instance, prev); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Out, "restore %s: Keystone key sets to %s\n", id, o.KeystoneKeys)
	if err := WriteKeySets(o.KeystoneKeys, sets); err != nil {
		return res, err
	}
	if data, ok := files[ArtRabbitMQ]; ok && o.Rabbit != nil {
		if res.RabbitMQObjects, err = ImportRabbitMQ(ctx, o.Rabbit, data); err != nil {
			return res, fmt.Errorf("RabbitMQ definitions: %w", err)
		}
	}
	res.Terraform = []string{
		"terraform -chdir=terraform workspace select " + o.Env,
		"terraform -chdir=terraform state rm module.database.aws_db_instance.this",
		"terraform -chdir=terraform import -var env_file=$PWD/environments/env." + o.Env + ".yaml module.database.aws_db_instance.this " + instance,
	}
	return res, nil
}
