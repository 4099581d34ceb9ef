package envfile

import (
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
	dnsRE    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	// EC2 instance types look like t2.xlarge, c5.4xlarge, m7g.metal-24xl.
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	accountRE      = regexp.MustCompile(`^\d{12}$`)
	engineRE       = regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`)
	majorEngineRE  = regexp.MustCompile(`^8\.\d+$`)
	certARNRE      = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):(\d{12}):certificate/[A-Za-z0-9-]+$`)
	poolARNRE      = regexp.MustCompile(`^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[A-Za-z0-9_-]+$`)
)

// Validate checks the decoded file against what the Terraform stack and the agent need.
// It returns every problem found, in file order.
func (e *Env) Validate() Problems {
	var ps Problems
	add := func(p Problem) { ps = append(ps, p) }

	if e.Name == "" {
		add(Problem{File: e.Path, Message: "file name must be env.<name>.yaml: the environment name comes from it"})
	} else if !nameRE.MatchString(e.Name) {
		add(Problem{File: e.Path, Message: fmt.Sprintf("environment name %q (from the file name) must be lower-case letters, digits and dashes, at most 32 characters: it is the Terraform workspace and part of resource names", e.Name)})
	}
	for _, k := range []string{"prod", "ha", "vpc_name", "vpc_cidr", "region", "account_id", "availability_zones",
		"domain_suffix", "jump_server_access_cidrs", "admin_email", "state"} {
		if !e.Has(k) {
			add(e.problem(k, "missing: this key is required (see docs/environments.md)"))
		}
	}

	if e.Has("vpc_cidr") {
		if p, ok := e.checkVPC(); !ok {
			add(p)
		}
	}
	if e.Has("region") && !regionRE.MatchString(e.Region) {
		add(e.problem("region", "%q is not an AWS region name; expected something like eu-west-2", e.Region))
	}
	if e.Has("account_id") && !accountRE.MatchString(e.AccountID) {
		add(e.problem("account_id", "%q is not an AWS account id; expected 12 digits, quoted (\"111122223333\") so that leading zeros survive", e.AccountID))
	}
	if e.Has("availability_zones") {
		ps = append(ps, e.checkZones()...)
	}
	if e.Has("domain_suffix") && !dnsRE.MatchString(e.DomainSuffix) {
		add(e.problem("domain_suffix", "%q is not a DNS name; expected lower-case labels such as cso.ss", e.DomainSuffix))
	}
	if e.Has("vpc_name") && strings.TrimSpace(e.VPCName) == "" {
		add(e.problem("vpc_name", "must not be empty"))
	}
	ps = append(ps, e.checkJumpCIDRs()...)
	if e.Has("jump_server_access_cidrs") && len(e.JumpServerAccessCIDRs) == 0 {
		add(e.problem("jump_server_access_cidrs", "must list at least one CIDR"))
	}
	if e.Has("admin_email") {
		if a, err := mail.ParseAddress(e.AdminEmail); err != nil || a.Address != e.AdminEmail || !strings.Contains(e.AdminEmail[strings.LastIndex(e.AdminEmail, "@")+1:], ".") {
			add(e.problem("admin_email", "%q is not an email address such as ops@example.com", e.AdminEmail))
		}
	}
	ps = append(ps, e.checkState()...)
	ps = append(ps, e.checkHA()...)
	ps = append(ps, e.checkCounts()...)
	ps = append(ps, e.checkSizing()...)
	ps = append(ps, e.checkApplication()...)
	ps = append(ps, e.checkLogs()...)
	ps = append(ps, e.checkKeystone()...)
	ps = append(ps, e.checkBackup()...)
	sortProblems(ps)
	return ps
}

func (e *Env) checkVPC() (Problem, bool) {
	pfx, err := netip.ParsePrefix(e.VPCCIDR)
	if err != nil || !pfx.Addr().Is4() {
		return e.problem("vpc_cidr", "%q is not an IPv4 CIDR such as 10.1.0.0/16", e.VPCCIDR), false
	}
	if pfx.Masked() != pfx {
		return e.problem("vpc_cidr", "%q has host bits set; did you mean %s?", e.VPCCIDR, pfx.Masked()), false
	}
	if pfx.Bits() < 16 {
		return e.problem("vpc_cidr", "/%d is larger than AWS allows for a VPC; use a prefix from /16 to /24", pfx.Bits()), false
	}
	if pfx.Bits() > 24 {
		return e.problem("vpc_cidr", "/%d is too small for the subnet plan (four subnets of a quarter each, at least /26 for AWS's 5 reserved addresses and the hosts); use /24 or larger", pfx.Bits()), false
	}
	if !isPrivate(pfx) {
		return e.problem("vpc_cidr", "%s is not a private range; the LLD expects RFC 1918 space (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", e.VPCCIDR), false
	}
	return Problem{}, true
}

func isPrivate(p netip.Prefix) bool {
	for _, r := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} {
		priv := netip.MustParsePrefix(r)
		if priv.Contains(p.Addr()) && p.Bits() >= priv.Bits() {
			return true
		}
	}
	return false
}

func (e *Env) checkZones() Problems {
	var ps Problems
	switch {
	case len(e.AvailabilityZones) < 2 && e.HA:
		ps = append(ps, e.problem("availability_zones", "lists %d zone(s); ha needs two zones so that every service survives the loss of one (e.g. [%sa, %sc])", len(e.AvailabilityZones), e.Region, e.Region))
	case len(e.AvailabilityZones) != 2:
		ps = append(ps, e.problem("availability_zones", "lists %d zone(s); the subnet plan uses exactly two, one per public/private subnet pair, and RDS needs two (e.g. [%sa, %sc])", len(e.AvailabilityZones), e.Region, e.Region))
	}
	seen := map[string]bool{}
	for i, z := range e.AvailabilityZones {
		f := fmt.Sprintf("availability_zones[%d]", i)
		if !strings.HasPrefix(z, e.Region) || len(z) != len(e.Region)+1 || z[len(z)-1] < 'a' || z[len(z)-1] > 'z' {
			ps = append(ps, e.problem(f, "%q is not a zone of region %s; expected %s followed by one letter, e.g. %sa", z, e.Region, e.Region, e.Region))
		}
		if seen[z] {
			ps = append(ps, e.problem(f, "%q is listed twice; the subnets and RDS need two different zones", z))
		}
		seen[z] = true
	}
	return ps
}

func (e *Env) checkState() Problems {
	var ps Problems
	switch e.StateBackend() {
	case "s3":
		// state.bucket may be left out: it defaults to cso-terraform-state-<account_id>-<region>.
		for _, k := range []struct{ field, val string }{{"state.key", e.State.Key},
			{"state.dynamodb_table", e.State.DynamoDBTable}, {"state.region", e.State.Region}} {
			if e.Has("state") && k.val == "" {
				ps = append(ps, e.problem(k.field, "missing: the S3 state backend needs key, dynamodb_table and region (bucket defaults to cso-terraform-state-<account_id>-<region>)"))
			}
		}
		if e.Has("state.bucket") && e.State.Bucket == "" {
			ps = append(ps, e.problem("state.bucket", "must not be empty; leave the key out to use cso-terraform-state-<account_id>-<region>"))
		}
		if e.State.Region != "" && !regionRE.MatchString(e.State.Region) {
			ps = append(ps, e.problem("state.region", "%q is not an AWS region name", e.State.Region))
		}
	case "local":
		if e.State.Path == "" {
			ps = append(ps, e.problem("state.path", "missing: the local state backend needs the path of the state file"))
		}
	default:
		ps = append(ps, e.problem("state.backend", "%q is not a backend; expected s3 (the default) or local", e.State.Backend))
	}
	return ps
}

func (e *Env) checkHA() Problems {
	var ps Problems
	if !e.HA {
		return ps
	}
	lb := e.LoadBalancer
	if lb == nil {
		return Problems{e.problem("load_balancer", "missing: ha environments have an internet-facing ALB that needs certificate_arn and cognito settings")}
	}
	if m := certARNRE.FindStringSubmatch(lb.CertificateARN); m == nil {
		ps = append(ps, e.problem("load_balancer.certificate_arn", "%q is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)", lb.CertificateARN))
	} else if e.Region != "" && m[1] != e.Region {
		ps = append(ps, e.problem("load_balancer.certificate_arn", "the certificate is in region %s but the ALB is in %s; an ALB can only use an ACM certificate of its own region", m[1], e.Region))
	} else if accountRE.MatchString(e.AccountID) && m[2] != e.AccountID {
		ps = append(ps, e.problem("load_balancer.certificate_arn", "the certificate belongs to account %s but the environment is in account %s (account_id)", m[2], e.AccountID))
	}
	if !poolARNRE.MatchString(lb.Cognito.UserPoolARN) {
		ps = append(ps, e.problem("load_balancer.cognito.user_pool_arn", "%q is not a Cognito user pool ARN (arn:aws:cognito-idp:<region>:<account>:userpool/<id>)", lb.Cognito.UserPoolARN))
	}
	if lb.Cognito.UserPoolClientID == "" {
		ps = append(ps, e.problem("load_balancer.cognito.user_pool_client_id", "missing: the ALB's Cognito app client id"))
	}
	if lb.Cognito.UserPoolDomain == "" {
		ps = append(ps, e.problem("load_balancer.cognito.user_pool_domain", "missing: the Cognito user pool domain prefix"))
	}
	return ps
}

func (e *Env) checkCounts() Problems {
	var ps Problems
	check := func(field string, v *int, lo, hi int) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			ps = append(ps, e.problem(field, "%d is outside %d to %d (LLD 9.7.3)", *v, lo, hi))
		}
	}
	lo := 1
	if e.HA {
		lo = 2
	}
	check("counts.frontend", e.Counts.Frontend, lo, 10)
	check("counts.backend", e.Counts.Backend, lo, 10)
	check("counts.keystone", e.Counts.Keystone, lo, 5)
	check("counts.rabbitmq", e.Counts.RabbitMQ, 1, 5)
	if e.HA && e.Counts.RabbitMQ != nil && *e.Counts.RabbitMQ%2 == 0 {
		ps = append(ps, e.problem("counts.rabbitmq", "%d RabbitMQ nodes: ha needs an odd number (3 or 5) so quorum queues keep a majority when a node is lost", *e.Counts.RabbitMQ))
	}
	return ps
}

// checkJumpCIDRs checks each CIDR and that no two overlap: an overlap is almost always a
// typo (a /8 listed with one of its own /16s) and hides which rule grants access.
func (e *Env) checkJumpCIDRs() Problems {
	var ps Problems
	var ok []netip.Prefix
	var okIdx []int
	for i, c := range e.JumpServerAccessCIDRs {
		f := fmt.Sprintf("jump_server_access_cidrs[%d]", i)
		pfx, err := netip.ParsePrefix(c)
		switch {
		case err != nil || !pfx.Addr().Is4():
			ps = append(ps, e.problem(f, "%q is not an IPv4 CIDR such as 10.0.0.0/8", c))
			continue
		case pfx.Masked() != pfx:
			ps = append(ps, e.problem(f, "%q has host bits set; did you mean %s?", c, pfx.Masked()))
			continue
		case pfx.Bits() == 0:
			ps = append(ps, e.problem(f, "0.0.0.0/0 would open the jump server to the internet; list the operators' networks"))
			continue
		}
		for j, prev := range ok {
			if prev.Overlaps(pfx) {
				ps = append(ps, e.problem(f, "%s overlaps jump_server_access_cidrs[%d] (%s); list each network once, without overlaps", c, okIdx[j], prev))
				break
			}
		}
		ok, okIdx = append(ok, pfx), append(okIdx, i)
	}
	return ps
}

// checkSizing checks the instance type and database overrides for shape (AWS has the
// final word on which types exist in the region).
func (e *Env) checkSizing() Problems {
	var ps Problems
	for _, t := range []struct{ field, val string }{
		{"instance_types.frontend", e.InstanceTypes.Frontend}, {"instance_types.backend", e.InstanceTypes.Backend},
		{"instance_types.keystone", e.InstanceTypes.Keystone}, {"instance_types.rabbitmq", e.InstanceTypes.RabbitMQ},
		{"instance_types.jump", e.InstanceTypes.Jump},
	} {
		if e.Has(t.field) && !instanceTypeRE.MatchString(t.val) {
			ps = append(ps, e.problem(t.field, "%q is not an EC2 instance type; expected family.size such as t2.xlarge", t.val))
		}
	}
	if e.Has("database.instance_class") && (!strings.HasPrefix(e.Database.InstanceClass, "db.") || !instanceTypeRE.MatchString(strings.TrimPrefix(e.Database.InstanceClass, "db."))) {
		ps = append(ps, e.problem("database.instance_class", "%q is not an RDS instance class; expected db.family.size such as db.t3.2xlarge", e.Database.InstanceClass))
	}
	switch v := e.Database.EngineVersion; {
	case !e.Has("database.engine_version"):
	case !engineRE.MatchString(v):
		ps = append(ps, e.problem("database.engine_version", "%q is not a MySQL engine version; expected a major version such as %s", v, DefaultDBEngineVersion))
	case !majorEngineRE.MatchString(v):
		// A minor version is refused rather than trimmed: RDS upgrades the minor version
		// by itself (auto_minor_version_upgrade), and a pinned 8.4.7 would make the next
		// apply after such an upgrade try a downgrade.
		major := strings.Join(strings.Split(v, ".")[:2], ".")
		if strings.Count(v, ".") == 2 && strings.HasPrefix(v, "8.") {
			ps = append(ps, e.problem("database.engine_version", "%q pins a minor version; give the major version %q: RDS picks and upgrades the minor version itself (auto_minor_version_upgrade), and a pinned minor would make the next apply try a downgrade", v, major))
		} else {
			ps = append(ps, e.problem("database.engine_version", "%q is not an RDS MySQL 8 major version; expected %s (or 8.0)", v, DefaultDBEngineVersion))
		}
	}
	return ps
}

// checkApplication checks the package location: s3://bucket/key on AWS, a path locally.
func (e *Env) checkApplication() Problems {
	pkg := e.Application.Package
	if !e.Has("application.package") {
		return nil
	}
	if pkg == "" {
		return Problems{e.problem("application.package", "must not be empty; remove the key when there is no application package")}
	}
	if rest, ok := strings.CutPrefix(pkg, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" || key == "" || strings.HasSuffix(key, "/") {
			return Problems{e.problem("application.package", "%q is not an S3 object; expected s3://<bucket>/<key>", pkg)}
		}
		// "..", "." and empty segments would name another object once the key is turned
		// into a path (the jump server's copy, a directory standing in for the bucket).
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return Problems{e.problem("application.package", "%q: the key has an empty, \".\" or \"..\" segment; expected s3://<bucket>/packages/<file>", pkg)}
			}
		}
		// The hosts receive packages only through the jump server's copy of the
		// environment's bucket (packages/ to /opt/scripts/packages, LLD 5.3).
		want := e.FilesBucket()
		if e.Name != "" && (bucket != want || !strings.HasPrefix(key, "packages/") || strings.Contains(strings.TrimPrefix(key, "packages/"), "/")) {
			return Problems{e.problem("application.package", "%q: the hosts get packages from s3://%s/packages/<file> only (the jump server copies that prefix to /opt/scripts/packages); upload it there, or give a local path and cso deploy publishes it", pkg, want)}
		}
		return nil
	}
	if strings.Contains(pkg, "://") {
		return Problems{e.problem("application.package", "%q: only s3:// locations and local paths are supported", pkg)}
	}
	return nil
}

// checkLogs checks logs.retention_days against the values CloudWatch Logs accepts.
func (e *Env) checkLogs() Problems {
	if !e.Has("logs.retention_days") {
		return nil
	}
	if e.Logs.RetentionDays != nil && slices.Contains(LogRetentionValues, *e.Logs.RetentionDays) {
		return nil
	}
	got := "nothing"
	if e.Logs.RetentionDays != nil {
		got = strconv.Itoa(*e.Logs.RetentionDays)
	}
	vals := make([]string, len(LogRetentionValues))
	for i, v := range LogRetentionValues {
		vals[i] = strconv.Itoa(v)
	}
	return Problems{e.problem("logs.retention_days", "%s is not a retention CloudWatch Logs accepts; use one of %s (days)", got, strings.Join(vals, ", "))}
}

// checkKeystone checks the Keystone settings: ranges Keystone accepts and that keep the
// platform working (the dashboard's throttle below the lockout, a lockout that ends, a
// password rule that is one line with its description).
func (e *Env) checkKeystone() Problems {
	var ps Problems
	sc := e.Keystone.SecurityCompliance
	const base = "keystone.security_compliance."
	intRange := func(field string, v *int, lo, hi int, why string) {
		if !e.Has(base + field) {
			return
		}
		if v == nil || *v < lo || *v > hi {
			got := "nothing"
			if v != nil {
				got = strconv.Itoa(*v)
			}
			ps = append(ps, e.problem(base+field, "%s is out of range: expected a whole number from %d to %d (%s)", got, lo, hi, why))
		}
	}
	if off := sc.LockoutFailureAttempts != nil && *sc.LockoutFailureAttempts == 0; !off { // 0 turns the lockout off
		intRange("lockout_failure_attempts", sc.LockoutFailureAttempts, MinLockoutFailureAttempts, 100,
			fmt.Sprintf("0 turns the lockout off; below %d a burst of sign-ins at the admin dashboard, which lets 4 through per user in 30 minutes, could lock an account", MinLockoutFailureAttempts))
	}
	intRange("lockout_duration", sc.LockoutDuration, 60, 86400, "seconds an account stays locked; Keystone without one locks until an administrator unlocks")
	intRange("unique_last_password_count", sc.UniqueLastPasswordCount, 0, 100, "how many previous passwords cannot be reused; 0 or 1 allows reuse")
	intRange("minimum_password_age", sc.MinimumPasswordAge, 0, 365, "days before a password may be changed again")
	for _, f := range []struct {
		field string
		v     *string
	}{{"password_regex", sc.PasswordRegex}, {"password_regex_description", sc.PasswordRegexDescription}} {
		if !e.Has(base + f.field) {
			continue
		}
		switch {
		case f.v == nil || strings.TrimSpace(*f.v) == "":
			ps = append(ps, e.problem(base+f.field, "must not be empty; remove the key for the default"))
		case len(*f.v) > 255:
			ps = append(ps, e.problem(base+f.field, "longer than 255 characters"))
		case strings.ContainsAny(*f.v, "\r\n") || strings.ContainsFunc(*f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			ps = append(ps, e.problem(base+f.field, "must be one line without control characters (it is written into keystone.conf)"))
		}
	}
	if e.Has(base+"password_regex") && !e.Has(base+"password_regex_description") {
		ps = append(ps, e.problem(base+"password_regex", "set keystone.security_compliance.password_regex_description too: Keystone shows it to a user whose password is refused"))
	}
	for _, f := range []string{"keystone.enforce_scope", "keystone.enforce_new_defaults"} {
		if e.Has(f) && ((f == "keystone.enforce_scope" && e.Keystone.EnforceScope == nil) || (f == "keystone.enforce_new_defaults" && e.Keystone.EnforceNewDefaults == nil)) {
			ps = append(ps, e.problem(f, "expected true or false"))
		}
	}
	return append(ps, e.checkFernetRotation()...)
}

// checkFernetRotation checks the token lifetime and the rotation intervals (fernet and
// credential), and that the fernet key count derived from them stays within
// MaxFernetActiveKeys.
func (e *Env) checkFernetRotation() Problems {
	var ps Problems
	dur := func(field string, v *string, lo, hi time.Duration, why string) bool {
		if !e.Has(field) {
			return true
		}
		d, err := parseDuration(v)
		switch {
		case v == nil || err != nil:
			got := "nothing"
			if v != nil {
				got = strconv.Quote(*v)
			}
			ps = append(ps, e.problem(field, "%s is not a duration: expected a number with a unit such as 90m, 1h or 24h (%s)", got, why))
			return false
		case d < lo || d > hi:
			ps = append(ps, e.problem(field, "%s is out of range: expected %s to %s (%s)", *v, lo, hi, why))
			return false
		case d%time.Second != 0:
			ps = append(ps, e.problem(field, "%s is not a whole number of seconds (Keystone counts seconds)", *v))
			return false
		}
		return true
	}
	okExp := dur("keystone.token_expiration", e.Keystone.TokenExpiration, MinTokenExpiration, MaxTokenExpiration,
		"how long a token stays valid: keystone.conf [token] expiration")
	okInt := dur("keystone.fernet_rotation.interval", e.Keystone.FernetRotation.Interval, MinFernetRotationInterval, MaxFernetRotationInterval,
		"the age of the primary fernet key at which the first Keystone node's agent rotates the set")
	if e.Has("keystone.fernet_rotation") && e.Keystone.FernetRotation.Interval == nil && !e.Has("keystone.fernet_rotation.interval") {
		ps = append(ps, e.problem("keystone.fernet_rotation", "give the rotation interval (interval: 24h), or remove the key for the default %s", DefaultFernetRotationInterval))
	}
	dur("keystone.credential_rotation.interval", e.Keystone.CredentialRotation.Interval, MinCredentialRotationInterval, MaxCredentialRotationInterval,
		"the age of the primary credential key at which the first Keystone node's agent rotates the set")
	if e.Has("keystone.credential_rotation") && e.Keystone.CredentialRotation.Interval == nil && !e.Has("keystone.credential_rotation.interval") {
		ps = append(ps, e.problem("keystone.credential_rotation", "give the rotation interval (interval: 720h), or remove the key for the default %s", DefaultCredentialRotationInterval))
	}
	if !okExp || !okInt {
		return ps
	}
	ks := e.KeystoneSettings()
	if ks.FernetMaxActiveKeys > MaxFernetActiveKeys {
		field := "keystone.fernet_rotation.interval"
		if !e.Has(field) {
			field = "keystone.token_expiration"
		}
		minInterval := (ks.TokenExpiration + time.Duration(MaxFernetActiveKeys-3) - 1) / time.Duration(MaxFernetActiveKeys-3)
		ps = append(ps, e.problem(field, "tokens living %s under rotations every %s need %d fernet keys (ceil(lifetime/interval) + 2, plus one spare); at most %d keep validation fast: rotate at most every %s or shorten keystone.token_expiration",
			ks.TokenExpiration, ks.FernetRotationInterval, ks.FernetMaxActiveKeys, MaxFernetActiveKeys, minInterval.Round(time.Second)))
	}
	return ps
}

// checkBackup checks the backup schedule: whole hours up to a week (0 turns it off), at
// least one backup kept, an age limit of at most ten years.
func (e *Env) checkBackup() Problems {
	var ps Problems
	b := e.Backup
	for _, f := range []struct {
		field  string
		v      *int
		lo, hi int
		why    string
	}{
		{"interval_hours", b.IntervalHours, 0, 168, "hours between the jump server's scheduled backups; 0 turns the schedule off"},
		{"retention_count", b.RetentionCount, 1, 1000, "the newest backups always kept"},
		{"retention_days", b.RetentionDays, 0, 3650, "backups younger than this are kept too; 0: the count alone decides"},
	} {
		if !e.Has("backup." + f.field) {
			continue
		}
		if f.v == nil || *f.v < f.lo || *f.v > f.hi {
			got := "nothing"
			if f.v != nil {
				got = strconv.Itoa(*f.v)
			}
			ps = append(ps, e.problem("backup."+f.field, "%s is out of range: expected a whole number from %d to %d (%s)", got, f.lo, f.hi, f.why))
		}
	}
	return ps
}
