package agent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// fakeSystemd answers systemctl queries from its state and records every command.
type fakeSystemd struct {
	enabled bool
	cmds    []string
}

func (f *fakeSystemd) Run(_ context.Context, c Command) ([]byte, error) {
	line := strings.Join(c.Args, " ")
	f.cmds = append(f.cmds, line)
	switch {
	case strings.HasPrefix(line, "systemctl is-"):
		if !f.enabled {
			return nil, errors.New("exit status 1")
		}
	case line == "systemctl enable --now "+ResyncTimer:
		f.enabled = true
	}
	return nil, nil
}

func resyncRuntime(dir string, sd Runner, role envfile.Role, index int, secrets Secrets) *Runtime {
	return &Runtime{
		Env:        &envfile.Env{Name: "dev-ha", Region: "eu-west-2", AccountID: "111122223333"},
		Host:       inventory.Host{Name: inventory.HostName(role, index), Role: role, Index: index},
		Platform:   &AL2023{Runner: sd, UnitDir: dir, EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")},
		Secrets:    secrets,
		Executable: "/usr/local/bin/cso", MySQLAdminUser: DefaultMySQLAdminUser,
	}
}

// converge checks and applies every task of steps, as agent.Run does.
func converge(t *testing.T, rt *Runtime, steps []Step) {
	t.Helper()
	for _, s := range steps {
		for _, task := range s.Tasks {
			c, err := task.Check(context.Background(), rt)
			if err != nil {
				t.Fatalf("%s: %v", task.Name(), err)
			}
			if c.Needed {
				if err := task.Apply(context.Background(), rt); err != nil {
					t.Fatalf("%s: %v", task.Name(), err)
				}
			}
		}
	}
}

// On EC2 every host's agent re-runs from a systemd timer with the arguments its user data
// gave it; the jump server's include the RDS master secret.
func TestResyncTimer(t *testing.T) {
	dir := t.TempDir()
	sd := &fakeSystemd{}
	rt := resyncRuntime(dir, sd, envfile.RoleJump, 1,
		&AWSSecrets{Env: "dev-ha", MasterSecretID: "arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1234"})
	steps := ResyncSteps(rt)
	if len(steps) != 1 || steps[0].Name != ResyncStepName || len(steps[0].Tasks) != 1 {
		t.Fatalf("steps %+v, want one step %q with one task", steps, ResyncStepName)
	}
	task := steps[0].Tasks[0]
	ctx := context.Background()
	c, err := task.Check(ctx, rt)
	if err != nil || !c.Needed || !strings.Contains(c.Summary, "cso-agent.service, cso-agent.timer, not enabled, not active") {
		t.Fatalf("fresh host: %+v, %v", c, err)
	}
	if len(sd.cmds) != 2 {
		t.Errorf("Check ran %q; want only the two systemctl queries", sd.cmds)
	}
	sd.cmds = nil
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sd.cmds, "; "); got != "systemctl daemon-reload; systemctl enable --now cso-agent.timer" {
		t.Errorf("commands: %s", got)
	}
	svc, _ := os.ReadFile(filepath.Join(dir, ResyncService))
	for _, want := range []string{
		"ExecStart=/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role jump --index 1 --region eu-west-2 --log-format json " +
			"--mysql-admin-secret arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1234 --skip-if-running\n",
		"Type=oneshot\n", "After=network-online.target remote-fs.target\n", "Wants=network-online.target\n",
	} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("service unit lacks %q:\n%s", want, svc)
		}
	}
	timer, _ := os.ReadFile(filepath.Join(dir, ResyncTimer))
	for _, want := range []string{"OnBootSec=2min\n", "OnUnitInactiveSec=5min\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(string(timer), want) {
			t.Errorf("timer unit lacks %q:\n%s", want, timer)
		}
	}
	if c, err := task.Check(ctx, rt); err != nil || c.Needed {
		t.Errorf("after apply: %+v, %v", c, err)
	}

	// Changed arguments (another RDS master user): the unit is rewritten and systemd reloads.
	rt.MySQLAdminUser = "dba"
	task = ResyncSteps(rt)[0].Tasks[0]
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "(cso-agent.service)") {
		t.Errorf("changed arguments: %+v", c)
	}
	sd.cmds = nil
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sd.cmds, "; "); got != "systemctl daemon-reload; systemctl enable --now cso-agent.timer" {
		t.Errorf("commands after a unit change: %s", got)
	}
	svc, _ = os.ReadFile(filepath.Join(dir, ResyncService))
	if !strings.Contains(string(svc), "--mysql-admin-user dba --skip-if-running\n") {
		t.Errorf("service unit does not pass the non-default admin user:\n%s", svc)
	}

	// The timer was stopped by hand: started again, without a reload (the units are the same).
	sd.enabled = false
	sd.cmds = nil
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sd.cmds, "; "); got != "systemctl enable --now cso-agent.timer" {
		t.Errorf("commands for a stopped timer: %s", got)
	}

	// The local platform has no systemd, a runtime without a binary no command to run.
	rt.Platform = NewLocal(dir, dir)
	if s := ResyncSteps(rt); len(s) != 0 {
		t.Errorf("the local platform got %d timer steps", len(s))
	}
	rt.Platform, rt.Executable = &AL2023{Runner: sd, UnitDir: dir}, ""
	if s := ResyncSteps(rt); len(s) != 0 {
		t.Errorf("a runtime without an executable got %d timer steps", len(s))
	}
}

// Hosts other than the jump server run with exactly their user data's flags: no RDS secret.
func TestResyncArgsPerRole(t *testing.T) {
	for _, tc := range []struct {
		role  envfile.Role
		index int
		want  string
	}{
		{envfile.RoleKeystone, 2, "/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role keystone --index 2 --region eu-west-2 --log-format json --skip-if-running"},
		{envfile.RoleRabbitMQ, 3, "/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role rabbitmq --index 3 --region eu-west-2 --log-format json --skip-if-running"},
		{envfile.RoleFrontend, 1, "/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role frontend --index 1 --region eu-west-2 --log-format json --skip-if-running"},
		{envfile.RoleBackend, 2, "/usr/local/bin/cso agent --env dev-ha --account-id 111122223333 --role backend --index 2 --region eu-west-2 --log-format json --skip-if-running"},
	} {
		rt := resyncRuntime(t.TempDir(), &fakeSystemd{}, tc.role, tc.index, &AWSSecrets{Env: "dev-ha"})
		if got := strings.Join(ResyncArgs(rt), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.role, got, tc.want)
		}
	}
}

// systemd-analyze verify accepts the units the al2023 platform writes: the timer pair and
// a service of RenderUnit. ExecStart must name an executable file, so the units run a
// stand-in binary in a temporary directory.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "cso")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(dir, "units")
	rt := resyncRuntime(units, &fakeSystemd{}, envfile.RoleJump, 1,
		&AWSSecrets{Env: "dev-ha", MasterSecretID: "arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1234"})
	rt.Executable = exe
	converge(t, rt, ResyncSteps(rt))
	svc := filepath.Join(units, "cso-admin.service")
	spec := ServiceSpec{Name: "cso-admin", Command: []string{exe, "admin", "serve", "--listen", "127.0.0.1:8081"},
		Env: []string{"LANG=C.UTF-8"}, User: "root", StopTimeout: 10 * time.Second}
	if err := os.WriteFile(svc, []byte(RenderUnit(spec, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{filepath.Join(units, ResyncTimer), filepath.Join(units, ResyncService)},
		{svc},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, analyze, append([]string{"verify", "--man=no"}, args...)...).CombinedOutput()
		cancel()
		// Warnings (an unknown key, a bad value) exit 0 too: any output is a failure.
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if unit, _ := os.ReadFile(svc); !strings.Contains(string(unit), "Restart=on-failure\n") {
		t.Errorf("RenderUnit lost Restart=on-failure:\n%s", unit)
	}
}
