package envfile

import (
	"fmt"
	"strings"
	"time"
)

// Role is a host role of the platform.
type Role string

// The five host roles of the LLD (2.4.1).
const (
	RoleJump     Role = "jump"
	RoleKeystone Role = "keystone"
	RoleRabbitMQ Role = "rabbitmq"
	RoleFrontend Role = "frontend"
	RoleBackend  Role = "backend"
)

// Roles lists every role in the LLD's dependency order (2.4.3): jump first, then the
// identity and messaging tier, then the application tier.
var Roles = []Role{RoleJump, RoleKeystone, RoleRabbitMQ, RoleFrontend, RoleBackend}

// ParseRole checks s against the known roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: expected one of jump, keystone, rabbitmq, frontend, backend", s)
}

// DefaultDBEngineVersion is the RDS MySQL major version used when the file does not set
// one. 8.4 is the LTS line on RDS; 8.0 left standard support on 31 July 2026. Major only:
// RDS picks the minor version and upgrades it (auto_minor_version_upgrade), so a pinned
// minor would make the next apply after an upgrade try a downgrade (docs/decisions.md D5).
const DefaultDBEngineVersion = "8.4"

// Count returns the number of hosts of role: the file's override, else 1, or 2 when ha
// (3 for RabbitMQ: a quorum queue needs a majority to stay writable when a node is lost).
// There is always exactly one jump server.
func (e *Env) Count(r Role) int {
	var override *int
	switch r {
	case RoleJump:
		return 1
	case RoleFrontend:
		override = e.Counts.Frontend
	case RoleBackend:
		override = e.Counts.Backend
	case RoleKeystone:
		override = e.Counts.Keystone
	case RoleRabbitMQ:
		override = e.Counts.RabbitMQ
	}
	if override != nil {
		return *override
	}
	if !e.HA {
		return 1
	}
	if r == RoleRabbitMQ {
		return 3
	}
	return 2
}

// sizing is the LLD's 2.4.1 tables: production and development.
var sizing = map[bool]map[Role]string{
	true: {RoleFrontend: "c5.2xlarge", RoleBackend: "c5.4xlarge", RoleKeystone: "t2.xlarge",
		RoleRabbitMQ: "t2.xlarge", RoleJump: "t2.large"},
	false: {RoleFrontend: "t2.xlarge", RoleBackend: "t2.2xlarge", RoleKeystone: "t2.medium",
		RoleRabbitMQ: "t2.xlarge", RoleJump: "t2.large"},
}

// InstanceType returns the EC2 instance type of role: the override, else the LLD table.
func (e *Env) InstanceType(r Role) string {
	o := map[Role]string{RoleFrontend: e.InstanceTypes.Frontend, RoleBackend: e.InstanceTypes.Backend,
		RoleKeystone: e.InstanceTypes.Keystone, RoleRabbitMQ: e.InstanceTypes.RabbitMQ, RoleJump: e.InstanceTypes.Jump}[r]
	if o != "" {
		return o
	}
	return sizing[e.Prod][r]
}

// DBEngineVersion returns the RDS MySQL major version (8.4); RDS chooses the minor.
func (e *Env) DBEngineVersion() string {
	if e.Database.EngineVersion != "" {
		return e.Database.EngineVersion
	}
	return DefaultDBEngineVersion
}

// DBInstanceClass returns the RDS instance class (LLD 2.6.1).
func (e *Env) DBInstanceClass() string {
	if e.Database.InstanceClass != "" {
		return e.Database.InstanceClass
	}
	if e.Prod {
		// The LLD's db.c5.4xlarge is not an RDS instance class; m6i is the general-purpose
		// class of the same size (docs/environments.md).
		return "db.m6i.4xlarge"
	}
	return "db.t3.2xlarge"
}

// ZoneName is the private hosted zone, e.g. "dev-ha.cso.ss" (LLD 2.7).
func (e *Env) ZoneName() string { return e.Name + "." + e.DomainSuffix }

// FQDN returns host's name in the environment's private zone.
func (e *Env) FQDN(host string) string { return host + "." + e.ZoneName() }

// FilesBucket is the environment's files bucket (bin/cso, scripts/, packages/, status/):
// <env>-cso-files-<account_id>. S3 bucket names are global across all AWS accounts, so
// the account ID makes the name one that no other account can already hold. This is the
// only place Go spells the name; Terraform spells it once in the storage module's locals,
// and test/terraform checks that both agree for every env file.
func FilesBucket(env, accountID string) string { return env + "-cso-files-" + accountID }

// FilesBucket is FilesBucket(e.Name, e.AccountID).
func (e *Env) FilesBucket() string { return FilesBucket(e.Name, e.AccountID) }

// DefaultStateBucket is the Terraform state bucket of an account and region when the file
// does not name one: cso-terraform-state-<account_id>-<region> (terraform/bootstrap
// computes the same name; test/terraform checks both).
func DefaultStateBucket(accountID, region string) string {
	return "cso-terraform-state-" + accountID + "-" + region
}

// StateBucket returns state.bucket, else DefaultStateBucket for the account and state.region.
func (e *Env) StateBucket() string {
	if e.State.Bucket != "" {
		return e.State.Bucket
	}
	return DefaultStateBucket(e.AccountID, e.State.Region)
}

// StateBackend returns "s3" or "local".
func (e *Env) StateBackend() string {
	if e.State.Backend == "" {
		return "s3"
	}
	return e.State.Backend
}

// Log retention defaults (days): a development environment's logs serve debugging and are
// cheap to lose; a production environment keeps a year, the usual audit horizon (no
// figure in the LLD; docs/decisions/terraform.md).
const (
	DefaultLogRetentionDays     = 30
	DefaultProdLogRetentionDays = 365
)

// LogRetentionValues are the retention periods CloudWatch Logs accepts (PutRetentionPolicy).
var LogRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// LogRetentionDays returns how many days CloudWatch Logs keeps the shipped logs.
func (e *Env) LogRetentionDays() int {
	if e.Logs.RetentionDays != nil {
		return *e.Logs.RetentionDays
	}
	if e.Prod {
		return DefaultProdLogRetentionDays
	}
	return DefaultLogRetentionDays
}

// KeystoneSettings are the Keystone policy and password settings with the defaults applied:
// what the keystone role renders, explicitly, into keystone.conf (docs/decisions/roles.md
// "Keystone policy").
type KeystoneSettings struct {
	EnforceScope, EnforceNewDefaults bool
	LockoutFailureAttempts           int // 0: no lockout
	LockoutDuration                  int // seconds
	UniqueLastPasswordCount          int
	MinimumPasswordAge               int // days
	PasswordRegex                    string
	PasswordRegexDescription         string
	// TokenExpiration is the token lifetime ([token] expiration, whole seconds).
	TokenExpiration time.Duration
	// FernetRotationInterval is the age of the primary fernet key at which the scheduled
	// rotation runs; FernetMaxActiveKeys is derived from it (FernetMaxActiveKeys).
	FernetRotationInterval time.Duration
	FernetMaxActiveKeys    int
	// CredentialRotationInterval is the age of the primary credential key at which the
	// scheduled credential rotation runs.
	CredentialRotationInterval time.Duration
}

// Defaults of the Keystone settings. The policy defaults are the legacy ones: the portal
// application was written against the LLD's Keystone, where a project-scoped admin token
// manages projects, users and roles in any domain. The lockout is the LLD's (5 failures,
// 30 minutes).
const (
	DefaultEnforceScope             = false
	DefaultEnforceNewDefaults       = false
	DefaultLockoutFailureAttempts   = 5
	DefaultLockoutDuration          = 1800
	DefaultUniqueLastPasswordCount  = 5
	DefaultMinimumPasswordAge       = 0
	DefaultPasswordRegex            = `^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{12,}$`
	DefaultPasswordRegexDescription = "at least 12 characters with a lower-case letter, an upper-case letter and a digit"
	DefaultTokenExpiration          = time.Hour
	DefaultFernetRotationInterval   = 24 * time.Hour
	// DefaultCredentialRotationInterval: every 30 days. Each rotation re-encrypts every
	// stored credential (credential_migrate), and the next waits for that, so a credential
	// key lives at most three intervals (Keystone keeps three).
	DefaultCredentialRotationInterval = 30 * 24 * time.Hour
)

// Bounds of the token lifetime and the rotation schedule (docs/environments.md).
const (
	MinTokenExpiration        = time.Minute
	MaxTokenExpiration        = 7 * 24 * time.Hour
	MinFernetRotationInterval = time.Minute
	MaxFernetRotationInterval = 366 * 24 * time.Hour
	// The credential schedule's bounds are the fernet schedule's.
	MinCredentialRotationInterval = MinFernetRotationInterval
	MaxCredentialRotationInterval = MaxFernetRotationInterval
	// MaxFernetActiveKeys bounds the derived key count: Keystone tries every key in turn on
	// a token no key decrypts, so a long token life over a short interval costs each such
	// validation one decryption attempt per key.
	MaxFernetActiveKeys = 12
)

// FernetMaxActiveKeys is [fernet_tokens] max_active_keys for tokens living expiration under
// rotations every interval: Keystone's rule ceil(expiration/interval) + 2 (the staged key
// and the primary; Keystone's fernet FAQ, docs/decisions/roles.md), plus one spare key that
// covers the time the other nodes take to install a rotated set (they keep signing with the
// previous primary until then). The rotation refuses to purge a key that may still decrypt
// an unexpired token, whatever this count (internal/roles/keystone/rotate.go).
func FernetMaxActiveKeys(expiration, interval time.Duration) int {
	if interval <= 0 {
		return 3
	}
	n := int((expiration + interval - 1) / interval)
	return n + 2 + 1
}

// MinLockoutFailureAttempts is the smallest lockout the file may set (other than 0, none):
// the dashboard's sign-in throttle lets 4 attempts through per user in 30 minutes, and must
// stay below Keystone's lockout so that a burst at the form cannot lock an account.
const MinLockoutFailureAttempts = 5

// KeystoneSettings returns the file's Keystone settings with the defaults applied.
func (e *Env) KeystoneSettings() (k KeystoneSettings) {
	k = KeystoneSettings{
		EnforceScope: DefaultEnforceScope, EnforceNewDefaults: DefaultEnforceNewDefaults,
		LockoutFailureAttempts: DefaultLockoutFailureAttempts, LockoutDuration: DefaultLockoutDuration,
		UniqueLastPasswordCount: DefaultUniqueLastPasswordCount, MinimumPasswordAge: DefaultMinimumPasswordAge,
		PasswordRegex: DefaultPasswordRegex, PasswordRegexDescription: DefaultPasswordRegexDescription,
		TokenExpiration: DefaultTokenExpiration, FernetRotationInterval: DefaultFernetRotationInterval,
		CredentialRotationInterval: DefaultCredentialRotationInterval,
	}
	defer func() { k.FernetMaxActiveKeys = FernetMaxActiveKeys(k.TokenExpiration, k.FernetRotationInterval) }()
	if e == nil {
		return k
	}
	// Validate refuses a file whose durations do not parse; a bad value keeps the default.
	if d, err := parseDuration(e.Keystone.TokenExpiration); err == nil && d > 0 {
		k.TokenExpiration = d
	}
	if d, err := parseDuration(e.Keystone.FernetRotation.Interval); err == nil && d > 0 {
		k.FernetRotationInterval = d
	}
	if d, err := parseDuration(e.Keystone.CredentialRotation.Interval); err == nil && d > 0 {
		k.CredentialRotationInterval = d
	}
	ks := e.Keystone
	if ks.EnforceScope != nil {
		k.EnforceScope = *ks.EnforceScope
	}
	if ks.EnforceNewDefaults != nil {
		k.EnforceNewDefaults = *ks.EnforceNewDefaults
	}
	sc := ks.SecurityCompliance
	for _, o := range []struct {
		dst *int
		src *int
	}{{&k.LockoutFailureAttempts, sc.LockoutFailureAttempts}, {&k.LockoutDuration, sc.LockoutDuration},
		{&k.UniqueLastPasswordCount, sc.UniqueLastPasswordCount}, {&k.MinimumPasswordAge, sc.MinimumPasswordAge}} {
		if o.src != nil {
			*o.dst = *o.src
		}
	}
	if sc.PasswordRegex != nil {
		k.PasswordRegex = *sc.PasswordRegex
		k.PasswordRegexDescription = ""
	}
	if sc.PasswordRegexDescription != nil {
		k.PasswordRegexDescription = *sc.PasswordRegexDescription
	}
	return k
}

// parseDuration parses a duration such as "90m" or "24h" (Go's time.ParseDuration, which
// also takes "1h30m"); nil is 0 with no error.
func parseDuration(s *string) (time.Duration, error) {
	if s == nil {
		return 0, nil
	}
	return time.ParseDuration(strings.TrimSpace(*s))
}

// Backup defaults: a backup a day, the newest 7 kept and any younger than 30 days.
const (
	DefaultBackupIntervalHours  = 24
	DefaultBackupRetentionCount = 7
	DefaultBackupRetentionDays  = 30
)

// BackupSettings is the backup schedule with the defaults applied.
type BackupSettings struct {
	// Interval between scheduled backups; 0 turns the schedule (and its check) off.
	Interval       time.Duration
	RetentionCount int
	RetentionDays  int
}

// BackupSettings returns the backup schedule of the environment.
func (e *Env) BackupSettings() BackupSettings {
	s := BackupSettings{Interval: DefaultBackupIntervalHours * time.Hour, RetentionCount: DefaultBackupRetentionCount, RetentionDays: DefaultBackupRetentionDays}
	if v := e.Backup.IntervalHours; v != nil {
		s.Interval = time.Duration(*v) * time.Hour
	}
	if v := e.Backup.RetentionCount; v != nil {
		s.RetentionCount = *v
	}
	if v := e.Backup.RetentionDays; v != nil {
		s.RetentionDays = *v
	}
	return s
}
