package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The periodic agent run of every EC2 host (docs/decisions/agent.md). User data runs the
// agent once per instance (cloud-init does not run it again on a reboot), but a host's work
// goes on: `cso deploy` publishes new env files, packages and target descriptions, the jump
// server copies them and issues certificates for added or replaced hosts, Keystone nodes
// install rotated key sets, and a run that failed (a peer not up yet) must be tried again.
const (
	// ResyncInterval is the time from the end of one run to the start of the next.
	ResyncInterval = 5 * time.Minute
	// ResyncBootDelay is the time from boot to the first run: the enabled daemons start on
	// their own at boot, the agent comes after them and re-converges.
	ResyncBootDelay = 2 * time.Minute
	// ResyncService and ResyncTimer are the unit names (one agent per host).
	ResyncService = "cso-agent.service"
	ResyncTimer   = "cso-agent.timer"
	// ResyncStepName is the step that installs them.
	ResyncStepName = "agent timer"
)

// DefaultMySQLAdminUser is the default of `cso agent --mysql-admin-user` (the RDS master
// user that Terraform creates); the timer passes the flag only when it differs.
const DefaultMySQLAdminUser = "cso_admin"

// ResyncSteps returns the step that installs the agent's systemd timer on Amazon Linux, or
// nothing: the local platform has no systemd (the local target re-runs with `cso local up`)
// and a runtime without an executable (tests) has no binary to run. Roles put it first, so
// that a first run that fails half-way is retried by the timer.
func ResyncSteps(rt *Runtime) []Step {
	al, ok := rt.Platform.(*AL2023)
	if !ok || rt.Executable == "" {
		return nil
	}
	return []Step{{Name: ResyncStepName, Tasks: []Task{resyncTask(al, rt)}}}
}

// resyncTask keeps the service and timer units written and the timer enabled and running.
// A changed unit file is followed by daemon-reload, so the next run uses it.
func resyncTask(al *AL2023, rt *Runtime) Task {
	files := []File{
		{Path: filepath.Join(al.UnitDir, ResyncService), Content: []byte(RenderResyncService(rt)), Mode: 0o644},
		{Path: filepath.Join(al.UnitDir, ResyncTimer), Content: []byte(RenderResyncTimer()), Mode: 0o644},
	}
	systemctl := func(ctx context.Context, args ...string) error {
		_, err := al.Runner.Run(ctx, Command{Args: append([]string{"systemctl"}, args...), Timeout: time.Minute})
		return err
	}
	return FuncTask{
		TaskName: "timer " + ResyncTimer,
		CheckFunc: func(ctx context.Context, rt *Runtime) (Change, error) {
			var why []string
			for _, f := range files {
				c, err := f.Check(ctx, rt)
				if err != nil {
					return Change{}, err
				}
				if c.Needed {
					why = append(why, filepath.Base(f.Path))
				}
			}
			for _, q := range []string{"is-enabled", "is-active"} {
				if systemctl(ctx, q, "--quiet", ResyncTimer) != nil {
					why = append(why, "not "+strings.TrimPrefix(q, "is-"))
				}
			}
			if len(why) == 0 {
				return NoChange, nil
			}
			return Change{Needed: true, Summary: fmt.Sprintf("install and start %s: the agent %s after boot, then %s after each run (%s)",
				ResyncTimer, ResyncBootDelay, ResyncInterval, strings.Join(why, ", "))}, nil
		},
		ApplyFunc: func(ctx context.Context, rt *Runtime) error {
			changed := false
			for _, f := range files {
				c, err := f.Check(ctx, rt)
				if err != nil {
					return err
				}
				if c.Needed {
					if err := f.Apply(ctx, rt); err != nil {
						return err
					}
					changed = true
				}
			}
			for _, args := range ResyncCommands(changed) {
				if err := systemctl(ctx, args[1:]...); err != nil {
					return err
				}
			}
			return nil
		},
		// A fresh host has neither unit: both are written, hence the daemon-reload.
		RenderFunc: func(_ context.Context, _ *Runtime, r *Rendering) error {
			for _, f := range files {
				r.AddFile(f)
			}
			for _, args := range ResyncCommands(true) {
				r.AddCommand(Command{Args: args})
			}
			return nil
		},
	}
}

// ResyncCommands are the systemctl calls after the unit files were written: daemon-reload
// when one of them changed, then enable --now (a no-op when enabled and running).
func ResyncCommands(reload bool) [][]string {
	var cmds [][]string
	if reload {
		cmds = append(cmds, []string{"systemctl", "daemon-reload"})
	}
	return append(cmds, []string{"systemctl", "enable", "--now", ResyncTimer})
}

// masterSecretNamer is a secret store that names the RDS master user secret: AWSSecrets on
// the jump server, RenderSecrets in the jump server's rendering.
type masterSecretNamer interface{ MasterSecret() string }

// MasterSecret implements masterSecretNamer.
func (s *AWSSecrets) MasterSecret() string { return s.MasterSecretID }

// ResyncArgs is this host's agent command line as user data ran it
// (terraform/modules/compute/templates/user-data.sh.tftpl), plus --skip-if-running: a timer
// run that finds another run holding the host's lock exits 0 at once. The diagnostic log is
// JSON: the CloudWatch agent ships it and Logs Insights splits it into fields.
func ResyncArgs(rt *Runtime) []string {
	args := []string{rt.Executable, "agent", "--env", rt.Env.Name, "--account-id", rt.Env.AccountID, "--role", string(rt.Host.Role),
		"--index", strconv.Itoa(rt.Host.Index), "--region", rt.Env.Region, "--log-format", "json"}
	// Only the jump server's user data names the RDS master secret (by ARN, not a secret).
	if s, ok := rt.Secrets.(masterSecretNamer); ok && s.MasterSecret() != "" {
		args = append(args, "--mysql-admin-secret", s.MasterSecret())
	}
	if rt.MySQLAdminUser != "" && rt.MySQLAdminUser != DefaultMySQLAdminUser {
		args = append(args, "--mysql-admin-user", rt.MySQLAdminUser)
	}
	return append(args, "--skip-if-running")
}

// RenderResyncService is the oneshot unit that runs the agent once. It waits for the
// network and for remote file systems (the EFS mounts in /etc/fstab are _netdev, hence
// remote-fs.target): the agent reads and writes the shared stores.
func RenderResyncService(rt *Runtime) string {
	var b strings.Builder
	b.WriteString("# Managed by cso agent: changes are overwritten on the next run.\n")
	fmt.Fprintf(&b, "[Unit]\nDescription=CSO agent: re-converge %s (role %s)\n", rt.Host.Name, rt.Host.Role)
	b.WriteString("After=network-online.target remote-fs.target\nWants=network-online.target\n\n")
	b.WriteString("[Service]\nType=oneshot\nNice=10\n")
	fmt.Fprintf(&b, "ExecStart=%s\n", systemdCommand(ResyncArgs(rt)))
	return b.String()
}

// RenderResyncTimer is the timer: ResyncBootDelay after boot, then ResyncInterval after the
// end of each run (OnUnitInactiveSec, so a long run, such as a first pip install, is not
// followed at once by the next). No Persistent=: it applies to OnCalendar= timers only.
func RenderResyncTimer() string {
	return fmt.Sprintf(`# Managed by cso agent: changes are overwritten on the next run.
[Unit]
Description=CSO agent %s after boot, then every %s

[Timer]
OnBootSec=%s
OnUnitInactiveSec=%s
RandomizedDelaySec=30s

[Install]
WantedBy=timers.target
`, ResyncBootDelay, ResyncInterval, systemdSpan(ResyncBootDelay), systemdSpan(ResyncInterval))
}

// systemdSpan writes d as a systemd time span in whole minutes or seconds ("5min", "90s").
func systemdSpan(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dmin", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}
