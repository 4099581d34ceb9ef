package terraform_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/tfharness"
)

// efsAccess is what each host role may do through each EFS access point (issue #10): "rw"
// mount read-write (and act as root), "ro" mount read-only (and act as root, which over
// NFS's AUTH_SYS protects nothing: docs/decisions/terraform.md), absent: not mount at all.
var efsAccess = map[string]map[string]string{
	"scripts":       {"jump": "rw", "keystone": "ro", "rabbitmq": "ro", "frontend": "ro", "backend": "ro"},
	"ssl-certs":     {"jump": "rw", "keystone": "ro", "rabbitmq": "ro", "frontend": "ro", "backend": "ro"},
	"keystone-keys": {"jump": "rw", "keystone": "rw"},
}

// efsAccessPoints: the file system, root directory, its creation mode and mount path of
// each access point.
var efsAccessPoints = map[string]struct{ fs, root, perms, mount string }{
	"scripts":       {"scripts", "/scripts", "0755", "/opt/scripts"},
	"ssl-certs":     {"ssl-certs", "/ssl-certs", "0755", "/opt/ssl-certs"},
	"keystone-keys": {"ssl-certs", "/keystone-keys", "0700", "/opt/keystone-keys"},
}

const (
	efsMount = "elasticfilesystem:ClientMount"
	efsWrite = "elasticfilesystem:ClientWrite"
	efsRoot  = "elasticfilesystem:ClientRootAccess"
)

// efsGrants evaluates the file system policies (by file system key) for the principal arn:
// for each access point (ARNs by key), "rw", "ro" or "" (cannot mount).
func efsGrants(t *testing.T, policies map[string]string, apArns map[string]string, arn string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for ap, apArn := range apArns {
		pol, ok := policies[efsAccessPoints[ap].fs]
		if !ok {
			t.Fatalf("no file system policy for %s (access point %s)", efsAccessPoints[ap].fs, ap)
		}
		if m := efsCan(t, pol, apArn, arn); m != "" {
			out[ap] = m
		}
	}
	return out
}

// efsCan evaluates one file system policy for the principal arn mounting through the
// access point apArn ("" for a mount without one): "rw", "ro" or "". An action is granted
// when an Allow statement names arn (or everyone) for it and its conditions hold, and no
// Deny statement's do. Mounting also needs ClientRootAccess (the agents run as root). A
// condition of another shape than the policy's own fails the test rather than being
// guessed at; as in IAM, a negated operator holds when the key is missing.
func efsCan(t *testing.T, pol, apArn, arn string) string {
	t.Helper()
	can := func(action string) bool {
		allowed := false
		for _, st := range decodePolicy(t, "EFS policy", pol).Statement {
			if !slices.Contains(asList(st["Action"]), action) && st["Action"] != "*" {
				continue
			}
			cond, _ := st["Condition"].(map[string]any)
			holds := true
			for op, kv := range cond {
				m, _ := kv.(map[string]any)
				for k, v := range m {
					vals := asList(v)
					switch {
					case op == "StringEquals" && k == "elasticfilesystem:AccessPointArn":
						holds = holds && apArn != "" && slices.Contains(vals, apArn)
					case op == "StringNotEquals" && k == "elasticfilesystem:AccessPointArn":
						holds = holds && !slices.Contains(vals, apArn)
					case op == "ArnNotEquals" && k == "aws:PrincipalArn":
						holds = holds && !slices.Contains(vals, arn)
					case op == "Bool" && k == "elasticfilesystem:AccessedViaMountTarget" && v == "true":
					case op == "Bool" && k == "aws:SecureTransport" && v == "false":
						holds = false // every mount here is TLS
					default:
						t.Fatalf("EFS policy statement %v: condition %s %s not understood by this test", st["Sid"], op, k)
					}
				}
			}
			if !holds {
				continue
			}
			p, _ := st["Principal"].(map[string]any)
			if p == nil || (p["AWS"] != "*" && !slices.Contains(asList(p["AWS"]), arn)) {
				continue
			}
			if st["Effect"] == "Deny" {
				return false
			}
			allowed = allowed || st["Effect"] == "Allow"
		}
		return allowed
	}
	switch mount, root, write := can(efsMount), can(efsRoot), can(efsWrite); {
	case mount && root && write:
		return "rw"
	case mount && root:
		return "ro"
	case write:
		t.Errorf("%s may write through %q without mounting as root", arn, apArn)
	}
	return ""
}

// TestStorageEFSAccess applies the storage module alone with a distinct role ARN per host
// role and checks the access points, and that the file system policies grant each role
// exactly its access points (efsAccess), and nothing without one.
func TestStorageEFSAccess(t *testing.T) {
	t.Parallel()
	h := tfharness.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := h.Workdir(t, filepath.Join(repoRoot(t), "terraform", "modules", "storage"))
	roleARNs := map[string]string{}
	for _, r := range hostRoles {
		roleARNs[r] = "arn:aws:iam::111122223333:role/test-cso-" + r
	}
	vars, _ := json.Marshal(map[string]any{
		"environment": "test", "prod": false, "account_id": "111122223333", "region": "eu-west-2",
		"private_subnet_ids":    map[string]string{"eu-west-2a": "subnet-0a", "eu-west-2b": "subnet-0b"},
		"efs_security_group_id": "sg-0efs", "kms_key_arn": "arn:aws:kms:eu-west-2:111122223333:key/test",
		"host_role_arns": roleARNs,
	})
	if err := os.WriteFile(filepath.Join(w.Dir(), "test.auto.tfvars.json"), vars, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := w.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := indexState(t, st)
	fss := e.of("", "aws_efs_file_system", "this")
	aps := e.of("", "aws_efs_access_point", "this")
	apArns := checkAccessPoints(t, fss, aps)
	policies := map[string]string{}
	for fs, p := range e.of("", "aws_efs_file_system_policy", "this") {
		policies[fs] = p.str("policy")
	}
	for _, role := range hostRoles {
		want := map[string]string{}
		for ap, by := range efsAccess {
			if m := by[role]; m != "" {
				want[ap] = m
			}
		}
		if got := efsGrants(t, policies, apArns, roleARNs[role]); !reflect.DeepEqual(got, want) {
			t.Errorf("role %s may use the access points %v, want %v", role, got, want)
		}
	}
	// Any other principal of the account, and a role's mount of a file system root
	// without an access point, get nothing.
	if got := efsGrants(t, policies, apArns, "arn:aws:iam::111122223333:role/someone-else"); len(got) != 0 {
		t.Errorf("a principal that is no host role may use %v", got)
	}
	for fs, pol := range policies {
		for _, role := range hostRoles {
			if got := efsCan(t, pol, "", roleARNs[role]); got != "" {
				t.Errorf("file system %s: role %s may mount it without an access point (%s)", fs, role, got)
			}
		}
		if !strings.Contains(pol, `"aws:SecureTransport":"false"`) {
			t.Errorf("EFS %s policy does not deny unencrypted transport: %s", fs, pol)
		}
	}
	// The output hosts mount from: who mounts what, as the policy grants it.
	out, _ := e.outputs["access_points"].(map[string]any)
	for ap, by := range efsAccess {
		o, _ := out[ap].(map[string]any)
		var writers, readers []string
		for r, m := range by {
			if m == "rw" {
				writers = append(writers, r)
			} else {
				readers = append(readers, r)
			}
		}
		if o == nil || o["id"] != aps[ap].str("id") || o["mount_path"] != efsAccessPoints[ap].mount ||
			!reflect.DeepEqual(sortedCopy(asList(o["writers"])), sortedCopy(writers)) || !reflect.DeepEqual(sortedCopy(asList(o["readers"])), sortedCopy(readers)) {
			t.Errorf("output access_points[%s] = %v, want id %s mounted at %s, writers %v readers %v", ap, o, aps[ap].str("id"), efsAccessPoints[ap].mount, writers, readers)
		}
	}
}

// checkAccessPoints: one access point per use, each on its own root directory of its file
// system, created for root with no forced POSIX user. It returns their ARNs by key.
func checkAccessPoints(t *testing.T, fss, aps map[string]res) map[string]string {
	t.Helper()
	var got []string
	for k := range aps {
		got = append(got, k)
	}
	sort.Strings(got)
	if want := []string{"keystone-keys", "scripts", "ssl-certs"}; !reflect.DeepEqual(got, want) {
		t.Errorf("access points %v, want %v", got, want)
	}
	arns := map[string]string{}
	for k, want := range efsAccessPoints {
		ap, ok := aps[k]
		if !ok {
			continue
		}
		arns[k] = ap.str("arn")
		if ap.str("file_system_id") != fss[want.fs].str("id") {
			t.Errorf("access point %s on %s, want file system %s (%s)", k, ap.str("file_system_id"), want.fs, fss[want.fs].str("id"))
		}
		pu, rd := ap.block("posix_user"), ap.block("root_directory")
		if pu != nil || rd == nil || rd["path"] != want.root {
			t.Errorf("access point %s: posix user %v root directory %v, want none and %s", k, pu, rd, want.root)
		} else if ci := firstObj(rd["creation_info"]); ci == nil || ci["owner_uid"] != 0.0 || ci["owner_gid"] != 0.0 || ci["permissions"] != want.perms {
			t.Errorf("access point %s root directory %v: want created %s for root", k, rd, want.perms)
		}
	}
	return arns
}
