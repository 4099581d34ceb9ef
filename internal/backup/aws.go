package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// DBInstanceID is the RDS instance of environment env (terraform/modules/database).
func DBInstanceID(env string) string { return env + "-db" }

// SnapshotID is the manual RDS snapshot of backup id: RDS snapshot identifiers are
// letters, digits and single hyphens, starting with a letter.
func SnapshotID(env, id string) string {
	return strings.ToLower("cso-" + env + "-" + strings.ReplaceAll(id, "_", "-"))
}

// RDS takes and restores the database part of an AWS backup.
type RDS struct {
	Client *rds.Client
	// Wait bounds each wait for a snapshot or an instance to become available; Poll is the
	// interval of the DescribeDB* calls.
	Wait, Poll time.Duration
}

func (r RDS) durations() (time.Duration, time.Duration) {
	wait, poll := r.Wait, r.Poll
	if wait == 0 {
		wait = 2 * time.Hour
	}
	if poll == 0 {
		poll = 30 * time.Second
	}
	return wait, poll
}

// poll calls done every Poll until it reports true, an error, or Wait passes.
func (r RDS) poll(ctx context.Context, what string, done func(context.Context) (bool, string, error)) error {
	wait, every := r.durations()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := ""
	for {
		ok, state, err := done(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		last = state
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: still %q after %s", what, last, wait)
		case <-time.After(every):
		}
	}
}

// Snapshot creates the manual snapshot of backup id from instance and waits until it is
// available: RDS snapshots of a running instance are crash-consistent (InnoDB recovers
// them as after a power cut), the consistency `cso restore` needs.
func (r RDS) Snapshot(ctx context.Context, instance, snapshotID string, tags map[string]string) (*Snapshot, error) {
	var ts []rdstypes.Tag
	for k, v := range tags {
		ts = append(ts, rdstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := r.Client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(instance), DBSnapshotIdentifier: aws.String(snapshotID), Tags: ts})
	if err != nil {
		return nil, fmt.Errorf("RDS snapshot of %s: %w", instance, err)
	}
	s := &Snapshot{ID: snapshotID, ARN: aws.ToString(out.DBSnapshot.DBSnapshotArn), Instance: instance, AllocateGB: aws.ToInt32(out.DBSnapshot.AllocatedStorage)}
	err = r.poll(ctx, "RDS snapshot "+snapshotID, func(ctx context.Context) (bool, string, error) {
		d, err := r.Client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snapshotID)})
		if err != nil {
			return false, "", err
		}
		if len(d.DBSnapshots) != 1 {
			return false, "", errors.New("not found")
		}
		st := aws.ToString(d.DBSnapshots[0].Status)
		return st == "available", st, nil
	})
	return s, err
}

// DeleteSnapshot deletes a backup's snapshot (retention); one already gone is not an error.
func (r RDS) DeleteSnapshot(ctx context.Context, snapshotID string) error {
	_, err := r.Client.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String(snapshotID)})
	var nf *rdstypes.DBSnapshotNotFoundFault
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// Instance describes instance, or returns nil when it does not exist.
func (r RDS) Instance(ctx context.Context, instance string) (*rdstypes.DBInstance, error) {
	out, err := r.Client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(instance)})
	var nf *rdstypes.DBInstanceNotFoundFault
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(out.DBInstances) != 1 {
		return nil, nil
	}
	return &out.DBInstances[0], nil
}

// RestoreResult is what RestoreInstance did.
type RDSRestore struct {
	Instance string `json:"instance"`
	Endpoint string `json:"endpoint"`
	// Previous is the identifier the instance that was replaced now has ("" if there was
	// none): it is kept, with its data, until the operator deletes it.
	Previous string `json:"previous,omitempty"`
}

// RestoreInstance makes instance a new DB instance restored from snapshot, in place:
// the current instance (if any) is renamed to previous (kept, with its data, until the
// operator deletes it) and the restored one takes its identifier, with its instance class,
// subnet group, security groups, parameter group and Multi-AZ setting. An RDS endpoint is
// <identifier>.<account-region hash>.<region>.rds.amazonaws.com: the same identifier keeps
// the endpoint the environment's hosts use, so nothing else has to be repointed
// (docs/decisions/backup.md: Terraform's state then needs the instance re-imported).
func (r RDS) RestoreInstance(ctx context.Context, snapshotID, instance, previous string) (*RDSRestore, error) {
	res := &RDSRestore{Instance: instance}
	cur, err := r.Instance(ctx, instance)
	if err != nil {
		return nil, err
	}
	in := &rds.RestoreDBInstanceFromDBSnapshotInput{DBInstanceIdentifier: aws.String(instance), DBSnapshotIdentifier: aws.String(snapshotID),
		CopyTagsToSnapshot: aws.Bool(true), DeletionProtection: aws.Bool(false)}
	if cur != nil {
		in.DBInstanceClass = cur.DBInstanceClass
		in.MultiAZ = cur.MultiAZ
		in.PubliclyAccessible = aws.Bool(false)
		if cur.DBSubnetGroup != nil {
			in.DBSubnetGroupName = cur.DBSubnetGroup.DBSubnetGroupName
		}
		for _, g := range cur.VpcSecurityGroups {
			in.VpcSecurityGroupIds = append(in.VpcSecurityGroupIds, aws.ToString(g.VpcSecurityGroupId))
		}
		for _, p := range cur.DBParameterGroups {
			in.DBParameterGroupName = p.DBParameterGroupName
		}
		in.DeletionProtection = cur.DeletionProtection
		if _, err := r.Client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String(instance),
			NewDBInstanceIdentifier: aws.String(previous), ApplyImmediately: aws.Bool(true)}); err != nil {
			return nil, fmt.Errorf("rename %s to %s: %w", instance, previous, err)
		}
		res.Previous = previous
		// The rename is asynchronous: the identifier is free once the old name is gone.
		err := r.poll(ctx, "rename of "+instance, func(ctx context.Context) (bool, string, error) {
			i, err := r.Instance(ctx, instance)
			if err != nil {
				return false, "", err
			}
			return i == nil, "renaming", nil
		})
		if err != nil {
			return res, err
		}
	}
	if _, err := r.Client.RestoreDBInstanceFromDBSnapshot(ctx, in); err != nil {
		return res, fmt.Errorf("restore %s from snapshot %s: %w", instance, snapshotID, err)
	}
	err = r.poll(ctx, "restored instance "+instance, func(ctx context.Context) (bool, string, error) {
		i, err := r.Instance(ctx, instance)
		if err != nil || i == nil {
			return false, "creating", err
		}
		st := aws.ToString(i.DBInstanceStatus)
		if st == "available" && i.Endpoint != nil {
			res.Endpoint = fmt.Sprintf("%s:%d", aws.ToString(i.Endpoint.Address), aws.ToInt32(i.Endpoint.Port))
			return true, st, nil
		}
		return false, st, nil
	})
	return res, err
}
