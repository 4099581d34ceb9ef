package check

import (
	"context"
	"fmt"
	"github.com/cso-ssp/platform/internal/backup"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// awsDefaults fills the status store and the secret lookup of a target of kind aws: the
// status/ prefix of its bucket and Secrets Manager in its region, with the default
// credential chain (the jump host's instance profile, or the operator's profile). A
// configuration problem is reported by the probes that need them, not here.
func (o *Options) awsDefaults(t *target.Target) {
	if t.Kind != target.KindAWS || (o.Status != nil && o.Secrets != nil) {
		return
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(t.Region))
	if err != nil {
		err = fmt.Errorf("AWS configuration for region %q: %w", t.Region, err)
		if o.Status == nil {
			o.Status = brokenStore{err}
		}
		if o.Secrets == nil {
			o.Secrets = brokenSecrets{err}
		}
		return
	}
	if o.Status == nil && t.StatusBucket != "" {
		// Status documents are small JSON read often; the SDK's notice that an object has
		// no checksum to validate would flood stderr.
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
		o.Status = &status.S3{Client: client, Bucket: t.StatusBucket}
	}
	if o.Secrets == nil {
		o.Secrets = &agent.AWSSecrets{Client: secretsmanager.NewFromConfig(cfg), Env: t.Env}
	}
	if o.Backups == nil && t.StatusBucket != "" {
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
		o.Backups = backup.S3{Client: client, Bucket: t.StatusBucket}
	}
}

type brokenStore struct{ err error }

func (b brokenStore) Put(context.Context, status.Host) error           { return b.err }
func (b brokenStore) Get(context.Context, string) (status.Host, error) { return status.Host{}, b.err }
func (b brokenStore) List(context.Context) ([]status.Host, error)      { return nil, b.err }
func (b brokenStore) Delete(context.Context, string) error             { return b.err }

type brokenSecrets struct{ err error }

func (b brokenSecrets) Lookup(context.Context, string) (string, bool, error) { return "", false, b.err }
