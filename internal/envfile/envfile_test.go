package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// base is a valid ha environment; the broken cases edit one thing in it so the expected
// line numbers below are easy to check against this listing.
const base = `prod: false
ha: true
vpc_name: CSO-t
vpc_cidr: 10.2.0.0/16
region: eu-west-2
account_id: "111122223333"
availability_zones: [eu-west-2a, eu-west-2c]
domain_suffix: cso.ss
jump_server_access_cidrs:
  - 10.0.0.0/8
  - 192.168.0.0/16
admin_email: ops@example.com
state:
  bucket: b
  key: k
  dynamodb_table: t
  region: eu-west-2
load_balancer:
  certificate_arn: arn:aws:acm:eu-west-2:111122223333:certificate/abc
  cognito:
    user_pool_arn: arn:aws:cognito-idp:eu-west-2:111122223333:userpool/eu-west-2_x
    user_pool_client_id: c
    user_pool_domain: d
`

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("env.t.yaml", []byte(base)); err != nil {
		t.Fatalf("base file must be valid: %v", err)
	}
}

func TestRealEnvFilesValidate(t *testing.T) {
	files, err := filepath.Glob("../../environments/env.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"dev": true, "dev-ha": true, "staging": true, "prod-ha": true}
	for _, f := range files {
		env, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		delete(want, env.Name)
	}
	if len(want) > 0 {
		t.Errorf("environment files missing from environments/: %v", want)
	}
}

func TestBrokenFiles(t *testing.T) {
	repl := func(old, new string) string {
		if !strings.Contains(base, old) {
			panic("test table: base has no " + old)
		}
		return strings.Replace(base, old, new, 1)
	}
	cases := []struct {
		name, file, data string
		line             int    // 0: the problem is about a missing key
		field, msg       string // msg is a substring of the message
	}{
		{"unknown key (typo)", "", repl("domain_suffix: cso.ss", "domain_sufix: cso.ss"), 8, "domain_sufix", `unknown field "domain_sufix"`},
		{"missing required key", "", repl("admin_email: ops@example.com\n", ""), 0, "admin_email", "missing: this key is required"},
		{"vpc cidr syntax", "", repl("vpc_cidr: 10.2.0.0/16", "vpc_cidr: 10.2.0/16"), 4, "vpc_cidr", "is not an IPv4 CIDR"},
		{"vpc cidr host bits", "", repl("vpc_cidr: 10.2.0.0/16", "vpc_cidr: 10.2.3.0/16"), 4, "vpc_cidr", "did you mean 10.2.0.0/16"},
		{"vpc not private", "", repl("vpc_cidr: 10.2.0.0/16", "vpc_cidr: 52.95.0.0/16"), 4, "vpc_cidr", "is not a private range"},
		{"vpc too small", "", repl("vpc_cidr: 10.2.0.0/16", "vpc_cidr: 10.2.0.0/25"), 4, "vpc_cidr", "too small for the subnet plan"},
		{"vpc too large", "", repl("vpc_cidr: 10.2.0.0/16", "vpc_cidr: 10.0.0.0/8"), 4, "vpc_cidr", "larger than AWS allows"},
		{"overlapping jump cidrs", "", repl("  - 192.168.0.0/16", "  - 10.20.0.0/16"), 11, "jump_server_access_cidrs[1]", "overlaps jump_server_access_cidrs[0] (10.0.0.0/8)"},
		{"jump cidr open to the internet", "", repl("  - 192.168.0.0/16", "  - 0.0.0.0/0"), 11, "jump_server_access_cidrs[1]", "open the jump server to the internet"},
		{"jump cidr not a cidr", "", repl("  - 10.0.0.0/8", "  - ten.0.0.0/8"), 10, "jump_server_access_cidrs[0]", "is not an IPv4 CIDR"},
		{"bad email", "", repl("admin_email: ops@example.com", "admin_email: ops.example.com"), 12, "admin_email", "is not an email address"},
		{"az outside region", "", repl("[eu-west-2a, eu-west-2c]", "[eu-west-2a, eu-west-1c]"), 7, "availability_zones[1]", "is not a zone of region eu-west-2"},
		{"ha with one az", "", repl("[eu-west-2a, eu-west-2c]", "[eu-west-2a]"), 7, "availability_zones", "ha needs two zones"},
		{"same az twice", "", repl("[eu-west-2a, eu-west-2c]", "[eu-west-2a, eu-west-2a]"), 7, "availability_zones[1]", "listed twice"},
		{"bad region", "", repl("region: eu-west-2\naccount", "region: london\naccount"), 5, "region", "is not an AWS region name"},
		{"wrong type", "", repl("ha: true", "ha: maybe"), 2, "ha", "expected true or false, found a string value"},
		{"duplicate key", "", base + "prod: true\n", 24, "", `mapping key "prod" already defined at [1:1]`},
		{"even rabbitmq count with ha", "", base + "counts:\n  rabbitmq: 2\n", 25, "counts.rabbitmq", "ha needs an odd number"},
		{"one keystone with ha", "", base + "counts:\n  keystone: 1\n", 25, "counts.keystone", "1 is outside 2 to 5"},
		{"count not a number", "", base + "counts:\n  frontend: two\n", 25, "counts.frontend", "expected a whole number"},
		{"ha without load balancer", "", strings.Split(base, "load_balancer:")[0], 0, "load_balancer", "ha environments have an internet-facing ALB"},
		{"certificate in another region", "", repl("acm:eu-west-2:", "acm:us-east-1:"), 19, "load_balancer.certificate_arn", "certificate is in region us-east-1 but the ALB is in eu-west-2"},
		{"cognito pool arn", "", repl("user_pool_arn: arn:aws:cognito-idp:", "user_pool_arn: arn:aws:cognito:"), 21, "load_balancer.cognito.user_pool_arn", "is not a Cognito user pool ARN"},
		{"instance type malformed", "", base + "instance_types:\n  backend: t2-2xlarge\n", 25, "instance_types.backend", "is not an EC2 instance type"},
		{"db engine version with a minor", "", base + "database:\n  engine_version: 8.4.7\n", 25, "database.engine_version", `"8.4.7" pins a minor version; give the major version "8.4"`},
		{"db engine version not a version", "", base + "database:\n  engine_version: latest\n", 25, "database.engine_version", "is not a MySQL engine version"},
		{"db engine version not mysql 8", "", base + "database:\n  engine_version: \"5.7\"\n", 25, "database.engine_version", "is not an RDS MySQL 8 major version"},
		{"application package in the bucket without account", "", base + "application:\n  package: s3://t-cso-files/packages/app-1.0.tar.gz\n", 25, "application.package", "s3://t-cso-files-111122223333/packages/<file>"},
		{"empty state bucket", "", repl("  bucket: b\n", "  bucket: \"\"\n"), 14, "state.bucket", "leave the key out"},
		{"db instance class without db.", "", base + "database:\n  instance_class: t3.large\n", 25, "database.instance_class", "is not an RDS instance class"},
		{"application package not s3 object", "", base + "application:\n  package: s3://bucket-only\n", 25, "application.package", "expected s3://<bucket>/<key>"},
		{"application package in another bucket", "", base + "application:\n  package: s3://releases/cso/app-1.0.tar.gz\n", 25, "application.package", "the hosts get packages from s3://t-cso-files-111122223333/packages/<file> only"},
		{"application package outside packages/", "", base + "application:\n  package: s3://t-cso-files-111122223333/app-1.0.tar.gz\n", 25, "application.package", "upload it there, or give a local path"},
		{"unknown state backend", "", repl("  bucket: b\n", "  backend: gcs\n  bucket: b\n"), 14, "state.backend", `"gcs" is not a backend`},
		{"local backend without path", "", repl("state:\n  bucket: b\n  key: k\n  dynamodb_table: t\n  region: eu-west-2\n", "state:\n  backend: local\n"), 0, "state.path", "needs the path of the state file"},
		{"top level not a mapping", "", "- prod\n- ha\n", 1, "", "expected a mapping of keys"},
		{"nested key given a scalar", "", repl("state:\n  bucket: b\n  key: k\n  dynamodb_table: t\n  region: eu-west-2\n", "state: s3\n"), 13, "state", "holds sub-keys"},
		{"syntax error", "", repl("domain_suffix: cso.ss", "domain_suffix: \"cso.ss"), 8, "", "could not find end character of double-quoted text"},
		{"account id too short", "", repl(`account_id: "111122223333"`, `account_id: "11112222333"`), 6, "account_id", "expected 12 digits"},
		{"certificate of another account", "", repl("acm:eu-west-2:111122223333:", "acm:eu-west-2:999988887777:"), 19, "load_balancer.certificate_arn", "belongs to account 999988887777 but the environment is in account 111122223333"},
		{"bad file name", "environment.yaml", base, 0, "", "file name must be env.<name>.yaml"},
		{"log retention CloudWatch refuses", "", base + "logs:\n  retention_days: 10\n", 25, "logs.retention_days", "10 is not a retention CloudWatch Logs accepts; use one of 1, 3, 5, 7, 14, 30"},
		{"log retention not a number", "", base + "logs:\n  retention_days: month\n", 25, "logs.retention_days", "expected a whole number"},
		{"unknown logs key", "", base + "logs:\n  retention: 30\n", 25, "logs.retention", `unknown field "retention"`},
		{"keystone lockout below the dashboard throttle", "", base + "keystone:\n  security_compliance:\n    lockout_failure_attempts: 3\n", 26, "keystone.security_compliance.lockout_failure_attempts", "3 is out of range: expected a whole number from 5 to 100"},
		{"keystone lockout duration zero", "", base + "keystone:\n  security_compliance:\n    lockout_duration: 0\n", 26, "keystone.security_compliance.lockout_duration", "0 is out of range"},
		{"keystone password age negative", "", base + "keystone:\n  security_compliance:\n    minimum_password_age: -1\n", 26, "keystone.security_compliance.minimum_password_age", "-1 is out of range"},
		{"keystone regex without description", "", base + "keystone:\n  security_compliance:\n    password_regex: '^.{16,}$'\n", 26, "keystone.security_compliance.password_regex", "set keystone.security_compliance.password_regex_description too"},
		{"keystone regex empty", "", base + "keystone:\n  security_compliance:\n    password_regex: ''\n    password_regex_description: x\n", 26, "keystone.security_compliance.password_regex", "must not be empty"},
		{"keystone regex two lines", "", base + "keystone:\n  security_compliance:\n    password_regex: \"a\\nb\"\n    password_regex_description: x\n", 26, "keystone.security_compliance.password_regex", "must be one line"},
		{"keystone enforce_scope not a bool", "", base + "keystone:\n  enforce_scope: strict\n", 25, "keystone.enforce_scope", "expected true or false"},
		{"keystone unknown key", "", base + "keystone:\n  enforce_scopes: true\n", 25, "keystone.enforce_scopes", `unknown field "enforce_scopes"`},
		{"token expiration not a duration", "", base + "keystone:\n  token_expiration: 3600\n", 25, "keystone.token_expiration", `"3600" is not a duration: expected a number with a unit`},
		{"token expiration too short", "", base + "keystone:\n  token_expiration: 10s\n", 25, "keystone.token_expiration", "10s is out of range: expected 1m0s to 168h0m0s"},
		{"rotation interval not a duration", "", base + "keystone:\n  fernet_rotation:\n    interval: daily\n", 26, "keystone.fernet_rotation.interval", `"daily" is not a duration`},
		{"rotation interval fraction of a second", "", base + "keystone:\n  fernet_rotation:\n    interval: 90.5s\n", 26, "keystone.fernet_rotation.interval", "not a whole number of seconds"},
		{"rotation without interval", "", base + "keystone:\n  fernet_rotation: {}\n", 25, "keystone.fernet_rotation", "give the rotation interval"},
		{"rotation too frequent for the token life", "", base + "keystone:\n  token_expiration: 24h\n  fernet_rotation:\n    interval: 1h\n", 27, "keystone.fernet_rotation.interval", "need 27 fernet keys (ceil(lifetime/interval) + 2, plus one spare); at most 12 keep validation fast: rotate at most every 2h40m0s"},
		{"week-long tokens rotated twice a day", "", base + "keystone:\n  token_expiration: 168h\n  fernet_rotation:\n    interval: 12h\n", 27, "keystone.fernet_rotation.interval", "need 17 fernet keys"},
		{"credential rotation not a duration", "", base + "keystone:\n  credential_rotation:\n    interval: monthly\n", 26, "keystone.credential_rotation.interval", `"monthly" is not a duration`},
		{"credential rotation too frequent", "", base + "keystone:\n  credential_rotation:\n    interval: 30s\n", 26, "keystone.credential_rotation.interval", "30s is out of range: expected 1m0s to 8784h0m0s"},
		{"credential rotation beyond a year", "", base + "keystone:\n  credential_rotation:\n    interval: 9000h\n", 26, "keystone.credential_rotation.interval", "9000h is out of range"},
		{"credential rotation without interval", "", base + "keystone:\n  credential_rotation: {}\n", 25, "keystone.credential_rotation", "give the rotation interval (interval: 720h)"},
		{"credential rotation unknown key", "", base + "keystone:\n  credential_rotation:\n    every: 24h\n", 26, "keystone.credential_rotation.every", `unknown field "every"`},
		{"backup interval beyond a week", "", base + "backup:\n  interval_hours: 200\n", 25, "backup.interval_hours", "200 is out of range: expected a whole number from 0 to 168"},
		{"backup keeps none", "", base + "backup:\n  retention_count: 0\n", 25, "backup.retention_count", "0 is out of range: expected a whole number from 1 to 1000"},
		{"backup retention days negative", "", base + "backup:\n  retention_days: -1\n", 25, "backup.retention_days", "-1 is out of range"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if seen[c.data+c.file] {
				t.Fatalf("case %q duplicates another case's file", c.name)
			}
			seen[c.data+c.file] = true
			file := c.file
			if file == "" {
				file = "env.t.yaml"
			}
			_, err := Parse(file, []byte(c.data))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			for _, p := range ps {
				if p.Line == c.line && p.Field == c.field && strings.Contains(p.Message, c.msg) {
					if p.File != file {
						t.Errorf("problem names file %q, want %q", p.File, file)
					}
					if c.line > 0 && !strings.HasPrefix(p.String(), file+":"+strconv.Itoa(c.line)+":") {
						t.Errorf("String() = %q, want it to start with file:line:col", p.String())
					}
					return
				}
			}
			t.Errorf("no problem at line %d field %q containing %q; got:\n%v", c.line, c.field, c.msg, err)
		})
	}
	if len(cases) < 15 {
		t.Fatalf("only %d broken files", len(cases))
	}
}

func TestLocalStateBackend(t *testing.T) {
	data := strings.Replace(base, "state:\n  bucket: b\n  key: k\n  dynamodb_table: t\n  region: eu-west-2\n", "state:\n  backend: local\n  path: /tmp/x.tfstate\n", 1)
	env, err := Parse("env.t.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if env.StateBackend() != "local" || env.State.Path != "/tmp/x.tfstate" {
		t.Errorf("state = %+v", env.State)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("prod: [\n"))
	f.Add([]byte("counts:\n  rabbitmq: 2\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("state: {backend: local}\n"))
	f.Add([]byte("\xEF\xBB\xBFprod: [[[[\n"))
	f.Add([]byte("domain_suffix: \"\\e[2J\u202e\"\n"))
	if b, err := os.ReadFile("testdata/hostile/env.laughs.yaml"); err == nil {
		f.Add(b)
	}
	if files, _ := filepath.Glob("../../environments/env.*.yaml"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	const name = "env.fuzz.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Parse(name, data)
		if err == nil {
			if env == nil || env.Name != "fuzz" {
				t.Fatalf("valid parse returned %+v", env)
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error is not Problems: %v", err)
		}
		for _, p := range ps {
			if p.File != name || !strings.HasPrefix(p.String(), name) {
				t.Fatalf("problem does not carry the file name: %+v", p)
			}
			if p.Message == "" {
				t.Fatalf("problem without a message: %+v", p)
			}
			if strings.ContainsAny(p.String(), "\x1b\r\u202e\u2066") {
				t.Fatalf("raw control or bidi character in %q", p.String())
			}
		}
	})
}

func TestDBEngineVersionIsAMajorVersion(t *testing.T) {
	env, err := Parse("env.t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if v := env.DBEngineVersion(); v != "8.4" {
		t.Errorf("default engine version %q, want the major version 8.4", v)
	}
	for _, v := range []string{"8.4", "8.0"} {
		env, err := Parse("env.t.yaml", []byte(base+"database:\n  engine_version: \""+v+"\"\n"))
		if err != nil {
			t.Errorf("engine_version %s: %v", v, err)
			continue
		}
		if env.DBEngineVersion() != v {
			t.Errorf("engine_version %s read as %s", v, env.DBEngineVersion())
		}
	}
}

// The bucket names carry the account ID: S3 names are global across all AWS accounts.
func TestBucketNames(t *testing.T) {
	env, err := Parse("env.t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := env.FilesBucket(); got != "t-cso-files-111122223333" {
		t.Errorf("files bucket %q, want t-cso-files-111122223333", got)
	}
	if got := env.StateBucket(); got != "b" {
		t.Errorf("state bucket %q, want the file's state.bucket b", got)
	}
	env, err = Parse("env.t.yaml", []byte(strings.Replace(base, "  bucket: b\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := env.StateBucket(); got != "cso-terraform-state-111122223333-eu-west-2" {
		t.Errorf("default state bucket %q, want cso-terraform-state-111122223333-eu-west-2", got)
	}
	// The longest environment name (32) still makes a valid S3 name (at most 63).
	if n := len(FilesBucket(strings.Repeat("a", 32), "111122223333")); n > 63 {
		t.Errorf("files bucket name of a 32-character environment is %d characters, S3 allows 63", n)
	}
}

func TestApplicationPackageInTheEnvironmentsBucket(t *testing.T) {
	for _, pkg := range []string{"s3://t-cso-files-111122223333/packages/app-1.0.tar.gz", "packages/app-1.0.tar.gz", "/srv/app-1.0.tar.gz"} {
		if _, err := Parse("env.t.yaml", []byte(base+"application:\n  package: "+pkg+"\n")); err != nil {
			t.Errorf("application.package %s: %v", pkg, err)
		}
	}
}

func TestLogRetention(t *testing.T) {
	for _, c := range []struct {
		name, extra string
		want        int
	}{
		{"development default", "", DefaultLogRetentionDays},
		{"production default", "", DefaultProdLogRetentionDays},
		{"file's value", "logs:\n  retention_days: 90\n", 90},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := base + c.extra
			if c.name == "production default" {
				data = strings.Replace(data, "prod: false", "prod: true", 1)
			}
			env, err := Parse("env.t.yaml", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if got := env.LogRetentionDays(); got != c.want {
				t.Errorf("LogRetentionDays() = %d, want %d", got, c.want)
			}
		})
	}
}

func TestKeystoneSettings(t *testing.T) {
	env, err := Parse("env.t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	def := env.KeystoneSettings()
	want := KeystoneSettings{LockoutFailureAttempts: 5, LockoutDuration: 1800, UniqueLastPasswordCount: 5,
		PasswordRegex: DefaultPasswordRegex, PasswordRegexDescription: DefaultPasswordRegexDescription,
		TokenExpiration: time.Hour, FernetRotationInterval: 24 * time.Hour, FernetMaxActiveKeys: 4, CredentialRotationInterval: 720 * time.Hour}
	if def != want {
		t.Errorf("defaults %+v, want %+v (legacy policy, the LLD's lockout)", def, want)
	}
	env, err = Parse("env.t.yaml", []byte(base+`keystone:
  enforce_scope: true
  enforce_new_defaults: true
  security_compliance:
    lockout_failure_attempts: 0
    lockout_duration: 600
    unique_last_password_count: 10
    minimum_password_age: 1
    password_regex: '^.{20,}$'
    password_regex_description: at least 20 characters
  token_expiration: 2h
  fernet_rotation:
    interval: 30m
  credential_rotation:
    interval: 168h
`))
	if err != nil {
		t.Fatal(err)
	}
	got := env.KeystoneSettings()
	// 2h of token life over 30m rotations: ceil(4) + 2 + 1 spare = 7 keys.
	want = KeystoneSettings{EnforceScope: true, EnforceNewDefaults: true, LockoutFailureAttempts: 0, LockoutDuration: 600,
		UniqueLastPasswordCount: 10, MinimumPasswordAge: 1, PasswordRegex: "^.{20,}$", PasswordRegexDescription: "at least 20 characters",
		TokenExpiration: 2 * time.Hour, FernetRotationInterval: 30 * time.Minute, FernetMaxActiveKeys: 7, CredentialRotationInterval: 168 * time.Hour}
	if got != want {
		t.Errorf("settings %+v, want %+v", got, want)
	}
}
