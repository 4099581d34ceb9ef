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
