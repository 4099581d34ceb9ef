package jump

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// fakeSystemd answers systemctl queries from its state and records every command.
type fakeSystemd struct {
	enabled bool
	cmds    []string
}

func (f *fakeSystemd) Run(_ context.Context, c agent.Command) ([]byte, error) {
	line := strings.Join(c.Args, " ")
	f.cmds = append(f.cmds, line)
	switch {
	case strings.HasPrefix(line, "systemctl is-"):
		if !f.enabled {
			return nil, errors.New("exit status 1")
		}
	case line == "systemctl enable --now "+resyncTimer:
		f.enabled = true
	}
	return nil, nil
}

// On EC2 the jump server's agent re-runs from a systemd timer with the arguments its user
// data gave it; the local target has no timer.
func TestResyncTimer(t *testing.T) {
	dir := t.TempDir()
	sd := &fakeSystemd{}
	env := &envfile.Env{Name: "dev-ha", Region: "eu-west-2", AccountID: "111122223333"}
	rt := &agent.Runtime{
		Env: env, Host: inventory.Host{Name: "jump-server-1", Role: envfile.RoleJump, Index: 1},
		Platform:   &agent.AL2023{Runner: sd, UnitDir: dir, EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")},
		Secrets:    &agent.AWSSecrets{Env: "dev-ha", MasterSecretID: "arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1234"},
		Executable: "/usr/local/bin/cso", MySQLAdminUser: "cso_admin",
	}
	tasks := resyncTasks(rt)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks, want the service, the timer and enabling it", len(tasks))
	}
	ctx := context.Background()
	for _, task := range tasks {
		c, err := task.Check(ctx, rt)
		if err != nil || !c.Needed {
			t.Fatalf("%s on a fresh host: %+v, %v", task.Name(), c, err)
		}
		if err := task.Apply(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	svc, _ := os.ReadFile(filepath.Join(dir, resyncService))
	want := "ExecStart=/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role jump --index 1 --region eu-west-2 " +
		"--mysql-admin-secret arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1234 --mysql-admin-user cso_admin --skip-if-running\n"
	if !strings.Contains(string(svc), want) || !strings.Contains(string(svc), "Type=oneshot") {
		t.Errorf("service unit:\n%s\nwant %q", svc, want)
	}
	timer, _ := os.ReadFile(filepath.Join(dir, resyncTimer))
	for _, w := range []string{"OnUnitInactiveSec=5m\n", "OnBootSec=2min\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(string(timer), w) {
			t.Errorf("timer unit lacks %q:\n%s", w, timer)
		}
	}
	if got := strings.Join(sd.cmds, "; "); !strings.Contains(got, "systemctl daemon-reload; systemctl enable --now cso-agent.timer") {
		t.Errorf("commands: %s", got)
	}
	for _, task := range tasks {
		if c, err := task.Check(ctx, rt); err != nil || c.Needed {
			t.Errorf("%s after apply: %+v, %v", task.Name(), c, err)
		}
	}
	rt.Platform = agent.NewLocal(dir, dir)
	if ts := resyncTasks(rt); len(ts) != 0 {
		t.Errorf("the local platform got %d timer tasks", len(ts))
	}
}
