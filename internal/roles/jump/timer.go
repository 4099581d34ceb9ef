package jump

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// ResyncInterval is how often the jump server's agent runs again on EC2. User data runs the
// agent once per instance, but the jump server's work continues after its first run: a
// later `cso deploy` publishes a new target description, env file or package to the bucket,
// and hosts added or replaced need their certificates in the shared store (LLD 5.3).
const ResyncInterval = 5 * time.Minute

// Unit names of the periodic run.
const (
	resyncService = "cso-agent.service"
	resyncTimer   = "cso-agent.timer"
)

// resyncTasks install a systemd timer that re-runs this host's agent (Amazon Linux only;
// the local target re-runs with `cso local up`). The run skips itself while another agent
// run holds the host's lock.
func resyncTasks(rt *agent.Runtime) []agent.Task {
	al, ok := rt.Platform.(*agent.AL2023)
	if !ok || rt.Executable == "" {
		return nil
	}
	service := agent.File{Path: filepath.Join(al.UnitDir, resyncService), Content: []byte(renderResyncService(rt)), Mode: 0o644}
	timer := agent.File{Path: filepath.Join(al.UnitDir, resyncTimer), Content: []byte(renderResyncTimer()), Mode: 0o644}
	enable := agent.FuncTask{
		TaskName: "timer " + resyncTimer,
		CheckFunc: func(ctx context.Context, _ *agent.Runtime) (agent.Change, error) {
			for _, q := range []string{"is-enabled", "is-active"} {
				if _, err := al.Runner.Run(ctx, agent.Command{Args: []string{"systemctl", q, "--quiet", resyncTimer}, Timeout: time.Minute}); err != nil {
					return agent.Change{Needed: true, Summary: fmt.Sprintf("enable and start %s (the agent every %s)", resyncTimer, ResyncInterval)}, nil
				}
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, _ *agent.Runtime) error {
			for _, args := range ResyncCommands() {
				if _, err := al.Runner.Run(ctx, agent.Command{Args: args, Timeout: time.Minute}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return []agent.Task{service, timer, enable}
}

// ResyncCommands enable the timer after its unit files were written.
func ResyncCommands() [][]string {
	return [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", resyncTimer}}
}

// resyncArgs is the agent command line of this host, as user data ran it.
func resyncArgs(rt *agent.Runtime) []string {
	args := []string{rt.Executable, "agent", "--env", rt.Env.Name, "--account-id", rt.Env.AccountID, "--role", string(rt.Host.Role),
		"--index", strconv.Itoa(rt.Host.Index), "--region", rt.Env.Region}
	if s, ok := rt.Secrets.(*agent.AWSSecrets); ok && s.MasterSecretID != "" {
		args = append(args, "--mysql-admin-secret", s.MasterSecretID)
	}
	if rt.MySQLAdminUser != "" {
		args = append(args, "--mysql-admin-user", rt.MySQLAdminUser)
	}
	return append(args, "--skip-if-running")
}

func renderResyncService(rt *agent.Runtime) string {
	var b strings.Builder
	b.WriteString("# Managed by cso agent: changes are overwritten on the next run.\n")
	fmt.Fprintf(&b, "[Unit]\nDescription=CSO agent: re-converge %s (bucket to EFS sync, certificates of new hosts)\n", rt.Host.Name)
	b.WriteString("After=network-online.target remote-fs.target\nWants=network-online.target\n\n")
	b.WriteString("[Service]\nType=oneshot\nNice=10\n")
	// The arguments hold no secret: the master secret is named by its ARN.
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(resyncArgs(rt), " "))
	return b.String()
}

func renderResyncTimer() string {
	return fmt.Sprintf(`# Managed by cso agent: changes are overwritten on the next run.
[Unit]
Description=CSO agent every %s

[Timer]
OnBootSec=2min
OnUnitInactiveSec=%s
RandomizedDelaySec=30s

[Install]
WantedBy=timers.target
`, ResyncInterval, strings.TrimSuffix(ResyncInterval.String(), "0s"))
}
