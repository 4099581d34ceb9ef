// Package target describes a running environment as the checks and the admin dashboard see
// it: its hosts and ports, the CA that signs its certificates, and where its status
// documents, shared store, logs and secrets are. The local target writes one as
// <local-dir>/target.json when it comes up; for an AWS environment it is built from the
// Terraform outputs of the workspace.
package target

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/userfile"
)

// FileName is the target description's file name inside the local target's directory.
const FileName = "target.json"

// Target is a running environment.
type Target struct {
	Env   string           `json:"env"`
	Kind  string           `json:"kind"` // KindLocal or KindAWS
	Hosts []inventory.Host `json:"hosts"`
	// Region is the AWS region (kind aws): status in S3 and secrets in Secrets Manager there.
	Region string `json:"region,omitempty"`
	// CACert is the PEM file of the project CA; every TLS endpoint is verified against it.
	CACert string `json:"ca_cert"`
	// CAPEM is the CA certificate itself (kind aws, from the Terraform outputs); when set it
	// is used instead of reading CACert, so the description is complete on any machine.
	CAPEM string `json:"ca_pem,omitempty"`
	// MySQL is the database server (RDS endpoint, or local MariaDB) as host:port.
	MySQL string `json:"mysql"`
	// MySQLCA is the PEM bundle file that signs the database server's certificate (the RDS
	// CA bundle; kind aws). The database is always reached over verified TLS: a local target
	// without it verifies against CACert (the project CA signs the local MariaDB's
	// certificate); an AWS one without it cannot verify and its MySQL probes fail.
	MySQLCA string `json:"mysql_ca,omitempty"`
	// StatusDir is the directory status store (local) or "" when status is in S3.
	StatusDir string `json:"status_dir,omitempty"`
	// StatusBucket is the S3 bucket whose status/ prefix holds host status (AWS).
	StatusBucket string `json:"status_bucket,omitempty"`
	// BackupDir is where the local target's backups are (`cso backup --local-dir`); on AWS
	// they are under backups/ in StatusBucket.
	BackupDir string `json:"backup_dir,omitempty"`
	// BackupIntervalMS is the env file's backup schedule (backup.interval_hours): `cso
	// check` judges the newest backup's age against it; 0 means no schedule.
	BackupIntervalMS float64 `json:"backup_interval_ms,omitempty"`
	// KMSKeyARN is the environment's KMS key (kind aws, Terraform output kms_key_arn): the
	// key of the backups' SSE-KMS encryption.
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
	// SharedDir is the shared store (EFS /opt/ssl-certs and /opt/scripts stand-in).
	SharedDir string `json:"shared_dir"`
	// SecretsDir holds one 0600 file per generated secret (local); "" on AWS.
	SecretsDir string `json:"secrets_dir,omitempty"`
	// HostDirs maps a host name to its own tree (etc, data, log, run) on the local target.
	HostDirs map[string]string `json:"host_dirs,omitempty"`
	// FernetKeyDirs maps a Keystone host to its fernet key repository (readable by the check).
	FernetKeyDirs map[string]string `json:"fernet_key_dirs,omitempty"`
	// Logs maps a host name to its progress/log files, newest lines shown by the dashboard.
	Logs map[string][]string `json:"logs,omitempty"`
	// ALB is how the internet-facing load balancer signs users in to the admin dashboard
	// (kind aws with ha, from the Terraform output admin_dashboard); nil otherwise.
	ALB *ALBAuth `json:"alb,omitempty"`
	// AppHealth maps an application service (its inventory port name) to the health path
	// of the package's manifest, where the service also reports its bindings
	// (docs/application-packages.md); cso check's bindings probes read it. Empty when the
	// describer could not open the package.
	AppHealth map[string]string `json:"app_health,omitempty"`
	// DeployLog is the JSON document of the last `cso deploy` or `cso local up`.
	LastDeploy string `json:"last_deploy,omitempty"`
}

// ALBAuth is what the admin dashboard needs to trust users the ALB signed in with Cognito:
// the load balancer that signs x-amzn-oidc-data, and the user pool, app client and group
// the forwarded access token must name.
type ALBAuth struct {
	Signer         string `json:"signer"` // the ALB's ARN
	Region         string `json:"region"` // the ALB's region (its key endpoint)
	UserPoolID     string `json:"user_pool_id"`
	UserPoolRegion string `json:"user_pool_region"`
	ClientID       string `json:"client_id"`
	AdminGroup     string `json:"admin_group"`
}

// MaxFileSize bounds a target description (a few KiB; --target may name any file).
const MaxFileSize = 1 << 20

// MaxCertFileSize bounds a CA bundle or key file (a PEM certificate is about 2 KiB).
const MaxCertFileSize = 1 << 20

// Load reads a target description file: only a regular file of at most MaxFileSize.
func Load(path string) (*Target, error) {
	data, err := userfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read target description: %w (is the environment up? `cso local up` writes it)", err)
	}
	var t Target
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%s: not a target description: %w", path, err)
	}
	return &t, nil
}

// Parse reads a target description from data (what `cso deploy` published, read by the
// agents from the bucket); name names it in errors.
func Parse(name string, data []byte) (*Target, error) {
	var t Target
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%s: not a target description: %w", name, err)
	}
	return &t, nil
}

// Marshal returns the description as the indented JSON that Save writes.
func (t *Target) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// CACertPEM returns the project CA certificate: CAPEM, else the content of CACert.
func (t *Target) CACertPEM() ([]byte, error) {
	if t.CAPEM != "" {
		return []byte(t.CAPEM), nil
	}
	if t.CACert == "" {
		return nil, fmt.Errorf("the target description names no CA certificate (ca_cert)")
	}
	pem, err := userfile.Read(t.CACert, MaxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	return pem, nil
}

// Save writes t to path atomically.
func (t *Target) Save(path string) error {
	data, err := t.Marshal()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
