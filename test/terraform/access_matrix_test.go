package terraform_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateAccessDoc = flag.Bool("update", false, "rewrite docs/access-matrix.md from accessMatrix")

// hostRoles are the matrix's columns.
var hostRoles = []string{"jump", "keystone", "rabbitmq", "frontend", "backend"}

// accessRow is one capability and the host roles that have it (space-separated, "" for
// none).
type accessRow struct {
	Capability string
	Roles      string
}

const allRoles = "jump keystone rabbitmq frontend backend"

// singleHostRoles have one host in every environment (the compute module requires
// exactly one jump server): for them a "{jump}" row (another jump host) does not apply.
var singleHostRoles = []string{"jump"}

// notApplicable says whether the row cannot exist for role.
func notApplicable(row accessRow, role string) bool {
	return slices.Contains(singleHostRoles, role) && strings.Contains(row.Capability, "{"+role+"}")
}

// accessMatrix is what every host role can do, as TestAccessMatrix computes it from the
// applied state of every environment file. It is the one place where each new
// capability (logs, backups, application bindings, releases...) adds its row, and where
// splitting the host role shows up: change a row's roles when a role loses or gains
// access, then run `go test ./test/terraform -run TestAccessMatrixDoc -update` to rewrite
// docs/access-matrix.md. Names: {own} is the asking host's own resource, {keystone} a
// keystone host other than the asking one, and so on; a row is checked in every
// environment where it exists (dev has no second Keystone host).
var accessMatrix = []accessRow{
	// Secrets Manager (read: GetSecretValue and Decrypt with the secret's key; write:
	// PutSecretValue and GenerateDataKey with it). The jump role reads the CA key and
	// reads and writes every host's TLS secret: it renews the host certificates on a
	// schedule (issue #13, docs/decisions/terraform.md).
	{"secret cso-pki/root-ca: read", "jump"},
	{"secret cso-pki/root-ca: write", ""},
	{"secret cso/database/cso_portal: read", "jump frontend backend"},
	{"secret cso/database/cso_portal: write", ""},
	{"secret cso/database/keystone: read", "jump keystone"},
	{"secret cso/database/keystone: write", ""},
	{"secret cso/keystone/admin: read", "jump keystone"},
	{"secret cso/keystone/admin: write", ""},
	{"secret cso/keystone/automation: read", "jump"},
	{"secret cso/keystone/automation: write", ""},
	{"secret cso/keystone/application: read", "jump frontend backend"},
	{"secret cso/keystone/application: write", ""},
	{"secret cso/rabbitmq/erlang-cookie: read", "rabbitmq"},
	{"secret cso/rabbitmq/erlang-cookie: write", ""},
	{"secret cso/rabbitmq/ssp_user: read", allRoles},
	{"secret cso/rabbitmq/ssp_user: write", ""},
	{"secret cso/tls/{own}: read", allRoles},
	{"secret cso/tls/{own}: write", "jump"},
	{"secret cso/tls/{jump}: read", ""},
	{"secret cso/tls/{jump}: write", ""},
	{"secret cso/tls/{keystone}: read", "jump"},
	{"secret cso/tls/{keystone}: write", "jump"},
	{"secret cso/tls/{rabbitmq}: read", "jump"},
	{"secret cso/tls/{rabbitmq}: write", "jump"},
	{"secret cso/tls/{frontend}: read", "jump"},
	{"secret cso/tls/{frontend}: write", "jump"},
	{"secret cso/tls/{backend}: read", "jump"},
	{"secret cso/tls/{backend}: write", "jump"},
	{"secret rds!db (RDS master user): read", "jump"},
	{"secret rds!db (RDS master user): write", ""},

	// The files bucket <env>-cso-files-<account>; other/* is any key outside the
	// prefixes listed (s3Prefixes).
	{"s3 files: list", allRoles},
	{"s3 files/bin/*: read", allRoles},
	{"s3 files/bin/*: write", ""},
	{"s3 files/scripts/*: read", allRoles},
	{"s3 files/scripts/*: write", ""},
	{"s3 files/packages/*: read", allRoles},
	{"s3 files/packages/*: write", ""},
	{"s3 files/backups/*: read", "jump"},
	{"s3 files/backups/*: write", "jump"},
	{"s3 files/locks/app-restart.json: read", allRoles},
	{"s3 files/locks/app-restart.json: write", "frontend backend"},
	{"s3 files/locks/*: read", allRoles},
	{"s3 files/locks/*: write", ""},
	{"s3 files/other/*: read", allRoles},
	{"s3 files/other/*: write", ""},
	{"s3 files/status/{own}.json: read", allRoles},
	{"s3 files/status/{own}.json: write", allRoles},
	{"s3 files/status/{jump}.json: read", "keystone rabbitmq frontend backend"},
	{"s3 files/status/{jump}.json: write", ""},
	{"s3 files/status/{keystone}.json: read", allRoles},
	{"s3 files/status/{keystone}.json: write", ""},
	{"s3 files/status/{rabbitmq}.json: read", allRoles},
	{"s3 files/status/{rabbitmq}.json: write", ""},
	{"s3 files/status/{frontend}.json: read", allRoles},
	{"s3 files/status/{frontend}.json: write", ""},
	{"s3 files/status/{backend}.json: read", allRoles},
	{"s3 files/status/{backend}.json: write", ""},

	// The logs bucket <env>-cso-logs-<account> (ALB and S3 access logs).
	{"s3 logs: list", ""},
	{"s3 logs/*: read", ""},
	{"s3 logs/*: write", ""},

	// The host log groups /cso/<env>/<log> (read: FilterLogEvents; write: PutLogEvents on
	// the host's own stream). The jump server reads them for the dashboard's logs page;
	// every host ships into every group (the CloudWatch agent's configuration names the
	// groups of its role; the grant is per environment, not per role).
	{"logs admin: read", "jump"},
	{"logs admin: write", allRoles},
	{"logs agent: read", "jump"},
	{"logs agent: write", allRoles},
	{"logs application: read", "jump"},
	{"logs application: write", allRoles},
	{"logs cloud-init: read", "jump"},
	{"logs cloud-init: write", allRoles},
	{"logs efs-s3-sync: read", "jump"},
	{"logs efs-s3-sync: write", allRoles},
	{"logs keystone: read", "jump"},
	{"logs keystone: write", allRoles},
	{"logs keystone-httpd: read", "jump"},
	{"logs keystone-httpd: write", allRoles},
	{"logs keystone-httpd-error: read", "jump"},
	{"logs keystone-httpd-error: write", allRoles},
	{"logs nginx-access: read", "jump"},
	{"logs nginx-access: write", allRoles},
	{"logs nginx-error: read", "jump"},
	{"logs nginx-error: write", allRoles},
	{"logs rabbitmq: read", "jump"},
	{"logs rabbitmq: write", allRoles},
	{"logs setup: read", "jump"},
	{"logs setup: write", allRoles},

	// The environment's KMS key, called directly.
	{"kms cso: Decrypt (direct)", allRoles},
	{"kms cso: GenerateDataKey (direct)", allRoles},

	// EFS (mount = ClientMount, write = ClientWrite, root = ClientRootAccess).
	{"efs scripts without access point: mount", ""},
	{"efs scripts without access point: write", ""},
	{"efs scripts without access point: root", ""},
	{"efs scripts access point scripts (/scripts): mount", allRoles},
	{"efs scripts access point scripts (/scripts): write", "jump"},
	{"efs scripts access point scripts (/scripts): root", allRoles},
	{"efs ssl-certs without access point: mount", ""},
	{"efs ssl-certs without access point: write", ""},
	{"efs ssl-certs without access point: root", ""},
	{"efs ssl-certs access point ssl-certs (/ssl-certs): mount", allRoles},
	{"efs ssl-certs access point ssl-certs (/ssl-certs): write", "jump"},
	{"efs ssl-certs access point ssl-certs (/ssl-certs): root", allRoles},
	{"efs ssl-certs access point keystone-keys (/keystone-keys): mount", "jump keystone"},
	{"efs ssl-certs access point keystone-keys (/keystone-keys): root", "jump keystone"},
	{"efs ssl-certs access point keystone-keys (/keystone-keys): write", "jump keystone"},
}

// TestAccessMatrixDoc keeps docs/access-matrix.md equal to accessMatrix (-update
// rewrites it).
func TestAccessMatrixDoc(t *testing.T) {
	path := filepath.Join(repoRoot(t), "docs", "access-matrix.md")
	want := renderAccessDoc()
	if *updateAccessDoc {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(got) != want {
		t.Errorf("%s differs from accessMatrix in test/terraform/access_matrix_test.go: run `go test ./test/terraform -run TestAccessMatrixDoc -update`", path)
	}
}

func renderAccessDoc() string {
	var b strings.Builder
	b.WriteString(accessDocHead)
	b.WriteString("| capability | " + strings.Join(hostRoles, " | ") + " |\n|---|" + strings.Repeat("---|", len(hostRoles)) + "\n")
	for _, row := range accessMatrix {
		have := map[string]bool{}
		for _, r := range strings.Fields(row.Roles) {
			have[r] = true
		}
		b.WriteString("| `" + row.Capability + "` |")
		for _, r := range hostRoles {
			if notApplicable(row, r) {
				b.WriteString(" n/a |")
			} else if have[r] {
				b.WriteString(" yes |")
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(accessDocTail)
	return b.String()
}

const accessDocHead = `# Access matrix: what each host role can reach

<!-- Generated from accessMatrix in test/terraform/access_matrix_test.go by
     go test ./test/terraform -run TestAccessMatrixDoc -update ; do not edit by hand. -->

For every environment file, ` + "`TestAccessMatrix`" + ` (test/terraform) applies the stack offline,
reads the IAM policies of the host roles, the buckets', KMS keys', EFS file systems' and
secrets' resource policies from the applied state, and evaluates with ` + "`internal/iampolicy`" + `
what the hosts of each role can do. The table below is that result, asserted exactly: a
change of any policy that changes a cell fails the test until the table (and, through
` + "`-update`" + `, this page) says so. **Every later capability (logs, backups, application bindings,
releases, ...) adds its rows here**, in ` + "`accessMatrix`" + `.

How to read a row:
- ` + "`n/a`" + `: the row cannot exist for that role (there is one jump server, so no other one).
- ` + "`{own}`" + ` is the asking host's own resource (its TLS key, its status document);
  ` + "`{keystone}`" + ` is a keystone host other than the asking one, and so on. A row is checked in
  every environment where it exists (dev has one Keystone host, so "another Keystone host"
  exists only in the HA environments).
- Secrets: read = ` + "`secretsmanager:GetSecretValue`" + ` and ` + "`kms:Decrypt`" + ` of the secret's key through
  Secrets Manager; write = ` + "`secretsmanager:PutSecretValue`" + ` (a new version) and ` + "`kms:GenerateDataKey`" + `
  through Secrets Manager. The jump server reads the CA key and reads and writes every
  host's TLS secret: it renews the host certificates on its agent timer (issue #13).
- S3: read = ` + "`s3:GetObject`" + `, write = ` + "`s3:PutObject`" + `, each with the KMS call S3 makes for an
  SSE-KMS bucket (` + "`Decrypt`" + ` / ` + "`GenerateDataKey`" + ` with the bucket ARN as encryption context).
- KMS (direct): calling KMS yourself, which is what a host could do with a ciphertext it
  obtained otherwise.
- EFS: mount = ` + "`ClientMount`" + `, write = ` + "`ClientWrite`" + `, root = ` + "`ClientRootAccess`" + `, over TLS through a mount
  target (amazon-efs-utils ` + "`-o tls,iam`" + `), through each access point and through none (the file
  system's root directory).

`

const accessDocTail = `
What the evaluation assumes (and why):
- Requests are made over TLS by the host's instance-role session (session name = instance
  ID), with the request context AWS documents (aws:PrincipalArn, aws:userid,
  ec2:SourceInstanceARN, resource tags). An explicit Deny anywhere wins; within the account
  the identity OR the resource policy allows; a KMS key's policy must allow, directly or by
  delegating to IAM through the account principal.
- The AWS managed policies attached to the host roles, AmazonSSMManagedInstanceCore and
  AmazonSSMPatchAssociation, are not in the state. Their documented content grants
  Systems Manager actions only (ssm:, ssmmessages:, ec2messages:; patch-baseline reads and
  tag:GetResources)
  (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html,
  https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMPatchAssociation.html):
  nothing on Secrets Manager, S3, KMS or EFS, so they add nothing to this table. Any other
  AWS managed policy on a host role fails the test until its content is reviewed.
- The RDS master user secret is named ` + "`rds!db-<id>-<suffix>`" + ` and tagged
  ` + "`aws:rds:primaryDBInstanceArn`" + ` by RDS; the offline test provider does not name it so, and
  the test uses RDS's naming.
- Not modelled: SCPs and RCPs, permission boundaries, session policies, KMS grants (EFS and
  RDS use the key through grants of their own, not through the hosts), S3 ACLs (the buckets
  enforce bucket-owner ownership).
`
