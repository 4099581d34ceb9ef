//go:build linux

package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// An EC2 host has no checkout: the agent reads the env file `cso deploy` published to the
// bucket, and says what is wrong when it is missing or broken.
func TestEC2AgentReadsThePublishedEnvFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "environments", "env.dev-ha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bucket := agent.DirBucket{Dir: t.TempDir()}
	g := &Globals{EnvDir: t.TempDir()} // empty: like / on a fresh host
	ctx := context.Background()

	if _, err := ec2Env(ctx, g, "dev-ha", bucket); err == nil || !strings.Contains(err.Error(), "has cso deploy published it?") {
		t.Fatalf("nothing published: %v", err)
	}
	if err := (deploy.DirStore{Dir: bucket.Dir}).Put(ctx, deploy.EnvFileKey("dev-ha"), data, ""); err != nil {
		t.Fatal(err)
	}
	env, err := ec2Env(ctx, g, "dev-ha", bucket)
	if err != nil {
		t.Fatal(err)
	}
	if env.Name != "dev-ha" || !env.HA || env.Region == "" {
		t.Errorf("env %+v", env)
	}
	// A broken published file is reported with its location.
	if err := (deploy.DirStore{Dir: bucket.Dir}).Put(ctx, deploy.EnvFileKey("dev-ha"), []byte("name: dev-ha\nha: [\n"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2Env(ctx, g, "dev-ha", bucket); err == nil || !strings.Contains(err.Error(), "scripts/env.dev-ha.yaml") {
		t.Errorf("broken env file: %v", err)
	}
}

// The agents reach the database by its RDS endpoint, from the target description `cso
// deploy` published, and verify it against the RDS CA bundle user data fetched.
func TestEC2DatabaseFromThePublishedTarget(t *testing.T) {
	bucket := agent.DirBucket{Dir: t.TempDir()}
	ctx := context.Background()
	if _, err := ec2Database(ctx, bucket); err == nil || !strings.Contains(err.Error(), "has cso deploy published scripts/target.json?") {
		t.Fatalf("nothing published: %v", err)
	}
	put := func(data string) {
		t.Helper()
		if err := (deploy.DirStore{Dir: bucket.Dir}).Put(ctx, deploy.TargetKey, []byte(data), ""); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"env":"dev-ha","kind":"aws","mysql":"dev-ha-db.abc123.eu-west-2.rds.amazonaws.com:3306","mysql_ca":"` + target.RDSCABundle + `"}`)
	if got, err := ec2Database(ctx, bucket); err != nil || got != "dev-ha-db.abc123.eu-west-2.rds.amazonaws.com:3306" {
		t.Errorf("ec2Database = %q, %v", got, err)
	}
	put(`{"env":"dev-ha","kind":"aws","mysql":"no-port"}`)
	if _, err := ec2Database(ctx, bucket); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("mysql without a port: %v", err)
	}
	put(`{"env":`)
	if _, err := ec2Database(ctx, bucket); err == nil || !strings.Contains(err.Error(), "scripts/target.json: not a target description") {
		t.Errorf("broken description: %v", err)
	}
}

// One agent run per host: a second one is refused (or, from the timer, skips itself) until
// the first releases the lock.
func TestAgentHostLock(t *testing.T) {
	rt := &agent.Runtime{Host: inventory.Host{Name: "jump-server-1"}, Paths: agent.Paths{Run: t.TempDir()}}
	unlock, err := lockHost(rt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockHost(rt); !errors.Is(err, errAgentRunning) {
		t.Fatalf("second lock: %v, want errAgentRunning", err)
	}
	unlock()
	unlock2, err := lockHost(rt)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

// The agent names the bucket it reads its env file from with --account-id (user data
// passes it): it is required, and an env file of another account is refused.
func TestEC2AgentAccountID(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "environments", "env.dev-ha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Globals{EnvDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(g.EnvDir, "env.dev-ha.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx := context.Background()
	_, _, _, _, err = ec2Agent(ctx, g, "dev-ha", "", "eu-west-2", "keystone", 1, "cso_admin", "", ec2Options{platform: platformAL2023}, true)
	var ex *ExitError
	if !errors.As(err, &ex) || ex.Code != ExitUsage || !strings.Contains(err.Error(), "--account-id") {
		t.Errorf("without --account-id: %v, want a usage error naming --account-id", err)
	}
	_, _, _, _, err = ec2Agent(ctx, g, "dev-ha", "999988887777", "eu-west-2", "keystone", 1, "cso_admin", "", ec2Options{platform: platformAL2023}, true)
	if !errors.As(err, &ex) || ex.Code != ExitUsage || !strings.Contains(err.Error(), "environment dev-ha is in account 111122223333") {
		t.Errorf("another account: %v, want a usage error naming both accounts", err)
	}
	// No AWS here: S3 calls go to a closed loopback port and fail at once.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	rt, _, store, _, err := ec2Agent(ctx, g, "dev-ha", "111122223333", "eu-west-2", "rabbitmq", 1, "cso_admin", "", ec2Options{platform: platformAL2023}, true)
	if err != nil {
		t.Fatal(err)
	}
	// A database client (Keystone) needs the RDS endpoint from the published description.
	if _, _, _, _, err := ec2Agent(ctx, g, "dev-ha", "111122223333", "eu-west-2", "keystone", 1, "cso_admin", "", ec2Options{platform: platformAL2023}, true); err == nil ||
		!strings.Contains(err.Error(), "has cso deploy published scripts/target.json?") {
		t.Errorf("keystone without the published description: %v", err)
	}
	if s, ok := store.(*status.S3); !ok || s.Bucket != "dev-ha-cso-files-111122223333" || rt.Env.FilesBucket() != s.Bucket {
		t.Errorf("status store %+v, want the bucket dev-ha-cso-files-111122223333", store)
	}
}

// --platform local needs its root and target; they mean nothing on the host itself or with
// --local-dir. Refused before any AWS call, exit 2.
func TestAgentPlatformFlags(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--env", "dev-ha", "--role", "keystone", "--index", "1", "--platform", "local"},
		{"agent", "--env", "dev-ha", "--role", "keystone", "--index", "1", "--platform", "local", "--root", t.TempDir()},
		{"agent", "--env", "dev-ha", "--role", "keystone", "--index", "1", "--root", t.TempDir()},
		{"agent", "--env", "dev-ha", "--role", "keystone", "--index", "1", "--platform", "debian"},
		{"agent", "--local-dir", t.TempDir(), "--host", "keystone01", "--platform", "local"},
	} {
		code, _, stderr := runCSO(t, args...)
		if code != ExitUsage || !strings.Contains(stderr, "--") {
			t.Errorf("cso %s: exit %d, want %d\n%s", strings.Join(args, " "), code, ExitUsage, stderr)
		}
	}
}
