// Package agent converges one host into its role. A role is data: an ordered list of steps,
// each a list of small tasks that can find the actual state, say what would change, and
// make the change (the shape of kops nodeup). Re-running changes nothing when nothing
// differs; a dry run prints what would change and touches nothing.
package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// Change is what a task found it must do.
type Change struct {
	Needed  bool
	Summary string // e.g. "write /etc/keystone/keystone.conf (content differs)"
}

// NoChange is the Change of a task whose target is already in the wanted state.
var NoChange = Change{}

// Task converges one piece of the host.
type Task interface {
	// Name is short and stable, e.g. "file /etc/nginx/nginx.conf".
	Name() string
	// Check finds the actual state and says what would change. No side effects.
	Check(ctx context.Context, rt *Runtime) (Change, error)
	// Apply makes the change; called only when Check said Needed and this is no dry run.
	Apply(ctx context.Context, rt *Runtime) error
}

// Step is an ordered group of tasks; it is the unit of progress that the agent publishes.
type Step struct {
	Name  string
	Tasks []Task
}

// Role builds the steps that turn a host into its role.
type Role interface {
	Role() envfile.Role
	Steps(rt *Runtime) ([]Step, error)
}

// FactReporter is implemented by roles that publish facts about the converged host in its
// status document (e.g. a fingerprint of the Keystone key sets), so that checks can compare
// hosts whose files they cannot read.
type FactReporter interface {
	Facts(rt *Runtime) map[string]string
}

// Paths says where a role puts things on this host. On EC2 these are the LLD's paths
// (/opt/ssl-certs, /opt/scripts, /etc, /var/lib, /var/log); locally every host gets its own
// tree under the local target's directory, so several "hosts" share one machine.
type Paths struct {
	Root      string // prefix of the host's own tree ("/" on EC2)
	SSLCerts  string // shared certificate store (EFS /opt/ssl-certs)
	Scripts   string // shared scripts/packages store (EFS /opt/scripts)
	Etc       string // configuration (/etc)
	Data      string // daemon data (/var/lib)
	Log       string // logs (/var/log)
	Run       string // pid files and sockets (/run)
	Status    string // status store directory (local target only; on AWS the S3 bucket)
	Bucket    string // S3 bucket stand-in directory (local target only)
	SecretDir string // 0600 secret files (local target only; on AWS Secrets Manager)

	// KeystoneKeys is the shared store of the Keystone fernet and credential key sets: on
	// EC2 an EFS access point of its own (/opt/keystone-keys) that only the Keystone hosts
	// and the jump server may mount; "" means <SSLCerts>/keystone (the local target).
	KeystoneKeys string

	// HostTLS holds this host's own certificate, private key and CA certificate, installed
	// from its own TLS secret (AWS: /etc/cso/tls, OwnTLSTask). "" on the local target,
	// where the jump role issues them into the shared store (see OwnTLS).
	HostTLS string
}

// StackID tells local stacks apart on one machine: the shared certificate store is the
// same for every host of a stack and differs between stacks, so service and node names
// that carry it are unique per machine.
func (p Paths) StackID() string {
	sum := sha256.Sum256([]byte(filepath.Clean(p.SSLCerts)))
	return hex.EncodeToString(sum[:])[:6]
}

// Runtime is everything a role and its tasks may use.
type Runtime struct {
	// CPUs is the host's processor count for sizing worker pools; 0 means this machine's
	// (runtime.NumCPU). A rendering sets it, so that what it shows does not depend on the
	// machine that renders.
	CPUs     int
	Env      *envfile.Env
	Host     inventory.Host   // the host being converged
	Hosts    []inventory.Host // every host of the environment (clustering, dependencies)
	Paths    Paths
	Platform Platform
	Secrets  Secrets
	Log      *slog.Logger
	// Progress receives human-readable progress lines (the LLD's *-setup-progress.log).
	Progress io.Writer
	// Verbose adds a progress line for every task that found nothing to change (-v).
	Verbose bool
	DryRun  bool
	// MySQL is the database server as host:port (the RDS endpoint on AWS, the local MariaDB
	// on the local target) and MySQLAdminUser its administrative user.
	MySQL          string
	MySQLAdminUser string
	// MySQLCAFile is the PEM bundle that signs the database server's certificate: every
	// TCP connection to MySQL verifies it (the RDS CA bundle on AWS, the project CA on the
	// local target). See MySQLServer.
	MySQLCAFile string
	// Bucket is the environment's S3 bucket (a directory on the local target).
	Bucket Bucket
	// TargetFile is the environment's target description (internal/target) that the
	// admin dashboard reads; "" when there is none.
	TargetFile string
	// Executable is the cso binary that services such as `cso admin serve` run; "" means
	// there is none (tests): such services are left out.
	Executable string
}

// Secrets gives roles the generated secrets of the environment. Get creates a secret the
// first time it is asked for (generated, never written in code) and returns the same value
// afterwards; on AWS it reads what Terraform stored in Secrets Manager.
type Secrets interface {
	Get(ctx context.Context, name string) (string, error)
}

// Well-known secret names.
const (
	SecretKeystoneDB    = "keystone-db-password"   // MySQL user keystone
	SecretPortalDB      = "cso-portal-db-password" // MySQL user cso_user
	SecretKeystoneAdmin = "keystone-admin-password"
	// SecretKeystoneAutomation is the password of KeystoneAutomationUser.
	SecretKeystoneAutomation = "keystone-automation-password"
	SecretRabbitMQ           = "rabbitmq-ssp-password" // RabbitMQ user ssp_user
	SecretErlangCookie       = "rabbitmq-erlang-cookie"
	SecretMySQLAdmin         = "mysql-admin-password" // the RDS master / local MariaDB admin
	// SecretKeystoneApplication is the password of KeystoneApplicationUser.
	SecretKeystoneApplication = "keystone-application-password"
)

// KeystoneApplicationUser is the application's own Keystone identity (its services validate
// users' tokens with it): role service on project admin, the least role Keystone's policy
// identity:validate_token admits for another user's token. The jump role creates it; the
// application's hosts receive its password in their keystone binding (internal/apppkg).
const KeystoneApplicationUser = "cso-application"

// KeystoneAutomationUser is the Keystone identity of automation (`cso check`, the
// dashboard's probes): a reader on project admin that Keystone never locks out
// (ignore_lockout_failure_attempts), so that strangers failing sign-ins as admin cannot
// lock the automation out. The jump role creates it (docs/decisions/roles.md).
const KeystoneAutomationUser = "cso-automation"

// ProgressLog is the progress log of a host's role (LLD 6.2: keystone-setup-progress.log,
// rabbitmq-setup-progress.log, ...).
func ProgressLog(p Paths, r envfile.Role) string {
	return filepath.Join(p.Log, string(r)+"-setup-progress.log")
}

// ServiceLog is the file that receives the stdout and stderr of a service of ours (cso
// admin serve, application services) on al2023, under <Log>/cso.
func ServiceLog(p Paths, name string) string { return filepath.Join(p.Log, "cso", name+".log") }

// CPUCount is rt.CPUs, or this machine's processor count when unset.
func (rt *Runtime) CPUCount() int {
	if rt.CPUs > 0 {
		return rt.CPUs
	}
	return runtime.NumCPU()
}
