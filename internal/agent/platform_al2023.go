package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs an external command; the al2023 platform takes one so that its command lines
// can be tested where there is no dnf or systemd.
type Runner interface {
	Run(ctx context.Context, c Command) ([]byte, error)
}

// ExecRunner runs commands for real.
type ExecRunner struct{}

func (ExecRunner) Run(ctx context.Context, c Command) ([]byte, error) { return c.Run(ctx) }

// AL2023 is the platform of the EC2 hosts: Amazon Linux 2023 with dnf and systemd. Units
// are written to UnitDir (/etc/systemd/system), secret environments to EnvDir (0600), the
// configuration hash of each service to StateDir, the tmpfiles.d lines of the runtime
// directories a unit cannot create itself to TmpfilesDir (/etc/tmpfiles.d; "" = a
// tmpfiles.d directory beside UnitDir, for tests).
type AL2023 struct {
	Runner      Runner
	UnitDir     string
	EnvDir      string
	StateDir    string
	TmpfilesDir string
}

// NewAL2023 returns the platform with the standard directories.
func NewAL2023() *AL2023 {
	return &AL2023{Runner: ExecRunner{}, UnitDir: "/etc/systemd/system", EnvDir: "/etc/cso/env",
		StateDir: "/var/lib/cso/services", TmpfilesDir: "/etc/tmpfiles.d"}
}

func (*AL2023) Name() string { return "al2023" }

func (*AL2023) Distro() Distro { return AL2023Distro }

// DNFInstallCommand is the dnf command line that installs names.
func DNFInstallCommand(names []string) []string {
	return append([]string{"dnf", "install", "-y", "--setopt=install_weak_deps=False"}, names...)
}

// Packages implements Platform.
func (p *AL2023) Packages(names ...string) Task {
	return FuncTask{
		TaskName: "packages " + strings.Join(names, " "),
		CheckFunc: func(ctx context.Context, _ *Runtime) (Change, error) {
			var missing []string
			for _, n := range names {
				if _, err := p.Runner.Run(ctx, Command{Args: []string{"rpm", "-q", "--quiet", n}, Timeout: time.Minute}); err != nil {
					missing = append(missing, n)
				}
			}
			if len(missing) == 0 {
				return NoChange, nil
			}
			return Change{Needed: true, Summary: "install packages " + strings.Join(missing, " ")}, nil
		},
		ApplyFunc: func(ctx context.Context, _ *Runtime) error {
			_, err := p.Runner.Run(ctx, Command{Args: DNFInstallCommand(names), Timeout: 30 * time.Minute})
			return err
		},
		RenderFunc: func(_ context.Context, _ *Runtime, r *Rendering) error {
			r.AddPackages(DNFInstallCommand(names), names...)
			return nil
		},
	}
}

// UnitName is the systemd unit of a service.
func UnitName(name string) string { return name + ".service" }

// RenderUnit returns the systemd unit of spec; envFile is the 0600 file holding SecretEnv
// ("" when there is none). The runtime directories that UnitRuntimeDirs gives the unit are
// RuntimeDirectory= lines; the others are RenderTmpfiles's.
func RenderUnit(spec ServiceSpec, envFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by cso agent: changes are overwritten on the next run.\n")
	fmt.Fprintf(&b, "[Unit]\nDescription=CSO %s\nAfter=network-online.target remote-fs.target\nWants=network-online.target\n\n", spec.Name)
	b.WriteString("[Service]\nType=simple\n")
	fmt.Fprintf(&b, "ExecStart=%s\n", systemdCommand(spec.Command))
	if len(spec.StopCommand) > 0 {
		fmt.Fprintf(&b, "ExecStop=%s\n", systemdCommand(spec.StopCommand))
	}
	// `systemctl reload` of a renewed certificate: $MAINPID is systemd's, not quoted.
	if spec.Reload.Signal != "" {
		fmt.Fprintf(&b, "ExecReload=/bin/kill -s %s $MAINPID\n", spec.Reload.Signal)
	}
	if len(spec.Reload.Command) > 0 {
		fmt.Fprintf(&b, "ExecReload=%s\n", systemdCommand(spec.Reload.Command))
	}
	if spec.User != "" {
		fmt.Fprintf(&b, "User=%s\n", spec.User)
	}
	if spec.Dir != "" {
		fmt.Fprintf(&b, "WorkingDirectory=%s\n", spec.Dir)
	}
	if spec.LimitNOFILE > 0 {
		fmt.Fprintf(&b, "LimitNOFILE=%d\n", spec.LimitNOFILE)
	}
	writeRuntimeDirectory(&b, spec)
	for _, e := range spec.Env {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote(e))
	}
	if envFile != "" {
		fmt.Fprintf(&b, "EnvironmentFile=%s\n", envFile)
	}
	if spec.LogFile != "" {
		fmt.Fprintf(&b, "StandardOutput=append:%s\nStandardError=inherit\n", spec.LogFile)
	}
	stop := spec.StopTimeout
	if stop == 0 {
		stop = 20 * time.Second
	}
	fmt.Fprintf(&b, "TimeoutStopSec=%d\nRestart=on-failure\nRestartSec=5\n\n", int(stop.Seconds()))
	b.WriteString("[Install]\nWantedBy=multi-user.target\n")
	return b.String()
}

// UnitRuntimeDirs splits spec.RuntimeDirs by who creates them at every start and boot.
// systemd creates a unit's RuntimeDirectory= below /run, owned by the unit's User= and its
// primary group, with the one RuntimeDirectoryMode= of the unit, and removes it when the
// unit stops (no RuntimeDirectoryPreserve=: the directories hold only what the daemon
// writes again at start, pid files and sockets). A directory that does not fit (not
// directly below /run, another owner or group, or a second mode) becomes a tmpfiles.d
// line instead, which systemd-tmpfiles-setup.service applies at every boot before the
// services start (docs/decisions/agent.md).
func UnitRuntimeDirs(spec ServiceSpec) (unit []RuntimeDir, tmpfiles []RuntimeDir) {
	user := spec.User
	if user == "" {
		user = "root"
	}
	for _, d := range spec.RuntimeDirs {
		owner := d.Owner
		if owner == "" {
			owner = "root"
		}
		fits := filepath.Dir(d.Path) == "/run" && owner == user && d.Group == "" &&
			(len(unit) == 0 || unit[0].mode() == d.mode())
		if fits {
			unit = append(unit, d)
		} else {
			tmpfiles = append(tmpfiles, d)
		}
	}
	return unit, tmpfiles
}

func writeRuntimeDirectory(b *strings.Builder, spec ServiceSpec) {
	unit, _ := UnitRuntimeDirs(spec)
	if len(unit) == 0 {
		return
	}
	names := make([]string, len(unit))
	for i, d := range unit {
		names[i] = filepath.Base(d.Path)
	}
	fmt.Fprintf(b, "RuntimeDirectory=%s\nRuntimeDirectoryMode=%04o\n", strings.Join(names, " "), unit[0].mode())
}

// RenderTmpfiles returns the tmpfiles.d lines ("d PATH MODE USER GROUP -": created when
// missing, owner and mode set, never cleaned by age) of dirs. An empty owner is root; an
// empty group is the owner's own (system accounts get a group of their name: useradd
// --user-group, and the distributions' packages do the same).
func RenderTmpfiles(dirs []RuntimeDir) string {
	var b strings.Builder
	for _, d := range dirs {
		owner, group := d.Owner, d.Group
		if owner == "" {
			owner = "root"
		}
		if group == "" {
			group = owner
		}
		fmt.Fprintf(&b, "d %s %04o %s %s -\n", d.Path, d.mode(), owner, group)
	}
	return b.String()
}

// RenderEnvFile returns the EnvironmentFile content of SecretEnv.
func RenderEnvFile(secretEnv []string) string {
	var b strings.Builder
	for _, e := range secretEnv {
		b.WriteString(systemdQuote(e))
		b.WriteByte('\n')
	}
	return b.String()
}

func systemdCommand(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = systemdQuote(a)
	}
	return strings.Join(q, " ")
}

// systemdQuote quotes one word for a unit file: specifiers (%) and variables ($) are
// escaped so the word reaches the process as written.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

func (p *AL2023) unitPath(name string) string { return filepath.Join(p.UnitDir, UnitName(name)) }
func (p *AL2023) envPath(name string) string  { return filepath.Join(p.EnvDir, name+".env") }
func (p *AL2023) hashPath(name string) string { return filepath.Join(p.StateDir, name+".hash") }

// reloadHashPath keeps ReloadHash of what the unit last (re)loaded.
func (p *AL2023) reloadHashPath(name string) string {
	return filepath.Join(p.StateDir, name+".reload-hash")
}

// reloadNeeded reports whether the unit's ReloadFiles changed since it last loaded them.
func (p *AL2023) reloadNeeded(spec ServiceSpec) bool {
	old, err := os.ReadFile(p.reloadHashPath(spec.Name))
	want := ReloadHash(spec)
	if err != nil {
		return want != ""
	}
	return strings.TrimSpace(string(old)) != want
}

// TmpfilesPath is the tmpfiles.d file of a service's runtime directories.
func (p *AL2023) TmpfilesPath(name string) string {
	dir := p.TmpfilesDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(p.UnitDir), "tmpfiles.d")
	}
	return filepath.Join(dir, "cso-"+name+".conf")
}

// tmpfilesTask keeps the tmpfiles.d file of spec: written and applied at once
// (systemd-tmpfiles --create) when it changed, so the directories exist before the unit
// starts now, and at every boot; removed when the service has no such directory any more.
type tmpfilesTask struct {
	p    *AL2023
	spec ServiceSpec
}

func (t tmpfilesTask) file() (File, bool) {
	_, dirs := UnitRuntimeDirs(t.spec)
	return File{Path: t.p.TmpfilesPath(t.spec.Name), Content: []byte(RenderTmpfiles(dirs)), Mode: 0o644}, len(dirs) > 0
}

// check says whether the file must be written (or removed).
func (t tmpfilesTask) check(ctx context.Context, rt *Runtime) (bool, error) {
	f, want := t.file()
	if !want {
		_, err := os.Stat(f.Path)
		return err == nil, nil
	}
	c, err := f.Check(ctx, rt)
	return c.Needed, err
}

func (t tmpfilesTask) apply(ctx context.Context, rt *Runtime) error {
	f, want := t.file()
	if !want {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	if err := f.Apply(ctx, rt); err != nil {
		return err
	}
	_, err := t.p.Runner.Run(ctx, Command{Args: []string{"systemd-tmpfiles", "--create", f.Path}, Timeout: time.Minute})
	return err
}

// Service implements Platform.
func (p *AL2023) Service(spec ServiceSpec) Task {
	envFile := ""
	if len(spec.SecretEnv) > 0 {
		envFile = p.envPath(spec.Name)
	}
	u := unitTask{p: p, spec: spec, name: UnitName(spec.Name), envFile: envFile,
		unit:     File{Path: p.unitPath(spec.Name), Content: []byte(RenderUnit(spec, envFile)), Mode: 0o644},
		env:      File{Path: envFile, Content: []byte(RenderEnvFile(spec.SecretEnv)), Mode: 0o600, Secret: true},
		tmpfiles: tmpfilesTask{p: p, spec: spec}}
	return FuncTask{TaskName: "service " + spec.Name, CheckFunc: u.check, ApplyFunc: u.apply, RenderFunc: u.render}
}

// unitTask keeps one systemd unit as its ServiceSpec says: the unit file, its environment
// file (secrets; envFile "" when there are none), its runtime directories, enabled and
// running with the current configuration.
type unitTask struct {
	p         *AL2023
	spec      ServiceSpec
	name      string // the unit's name (cso-<service>.service)
	unit, env File
	envFile   string
	tmpfiles  tmpfilesTask
}

func (u unitTask) check(ctx context.Context, rt *Runtime) (Change, error) {
	why, err := u.differences(ctx, rt)
	if err != nil {
		return Change{}, err
	}
	if len(why) == 0 {
		if u.p.reloadNeeded(u.spec) {
			return Change{Needed: true, Summary: fmt.Sprintf("reload %s gracefully (certificate changed)", u.name)}, nil
		}
		return NoChange, nil
	}
	return Change{Needed: true, Summary: fmt.Sprintf("(re)start %s (%s)", u.name, strings.Join(why, ", "))}, nil
}

// differences says what makes a (re)start needed: files, state or configuration.
func (u unitTask) differences(ctx context.Context, rt *Runtime) ([]string, error) {
	var why []string
	if c, err := u.unit.Check(ctx, rt); err != nil {
		return nil, err
	} else if c.Needed {
		why = append(why, "unit file")
	}
	if needed, err := u.tmpfiles.check(ctx, rt); err != nil {
		return nil, err
	} else if needed {
		why = append(why, "runtime directories")
	}
	if u.envFile != "" {
		if c, err := u.env.Check(ctx, rt); err != nil {
			return nil, err
		} else if c.Needed {
			why = append(why, "environment file")
		}
	}
	if _, err := u.p.Runner.Run(ctx, Command{Args: []string{"systemctl", "is-enabled", "--quiet", u.name}, Timeout: time.Minute}); err != nil {
		why = append(why, "not enabled")
	}
	if _, err := u.p.Runner.Run(ctx, Command{Args: []string{"systemctl", "is-active", "--quiet", u.name}, Timeout: time.Minute}); err != nil {
		why = append(why, "not running")
	}
	if !u.configApplied() {
		why = append(why, "configuration changed")
	}
	return why, nil
}

// configApplied: the unit last (re)started with the spec's current configuration hash.
func (u unitTask) configApplied() bool {
	old, err := os.ReadFile(u.p.hashPath(u.spec.Name))
	return err == nil && strings.TrimSpace(string(old)) == Hash(u.spec)
}

func (u unitTask) apply(ctx context.Context, rt *Runtime) error {
	if u.onlyReload(ctx, rt) {
		return u.reload(ctx, rt)
	}
	return u.restart(ctx, rt)
}

// reload applies changed ReloadFiles with `systemctl reload` and waits for the service.
func (u unitTask) reload(ctx context.Context, rt *Runtime) error {
	hash := ReloadHash(u.spec)
	if _, err := u.p.Runner.Run(ctx, Command{Args: []string{"systemctl", "reload", u.name}, Timeout: 2 * time.Minute}); err != nil {
		return err
	}
	if u.spec.Ready != nil {
		if err := WaitFor(ctx, rt, u.spec.Name+" after its reload", u.spec.readyWait(), u.spec.Ready); err != nil {
			return err
		}
	}
	return u.p.writeReloadHash(u.spec.Name, hash)
}

// restart writes what differs, (re)starts the unit, records its configuration and waits
// for the service.
func (u unitTask) restart(ctx context.Context, rt *Runtime) error {
	changedUnit, err := u.writeFiles(ctx, rt)
	if err != nil {
		return err
	}
	for _, args := range u.p.applyCommands(u.name, changedUnit) {
		if _, err := u.p.Runner.Run(ctx, Command{Args: args, Timeout: 5 * time.Minute}); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(u.p.StateDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(u.p.hashPath(u.spec.Name), []byte(Hash(u.spec)+"\n"), 0o644); err != nil {
		return err
	}
	// A restart loads the current ReloadFiles too.
	if err := u.p.writeReloadHash(u.spec.Name, ReloadHash(u.spec)); err != nil {
		return err
	}
	if u.spec.Ready == nil {
		return nil
	}
	return WaitFor(ctx, rt, u.spec.Name, u.spec.readyWait(), u.spec.Ready)
}

// writeFiles writes the unit file, the log and environment files' directories, the
// environment file and the runtime directories where they differ; changedUnit says whether
// systemd must reload its units.
func (u unitTask) writeFiles(ctx context.Context, rt *Runtime) (changedUnit bool, err error) {
	if c, err := u.unit.Check(ctx, rt); err != nil {
		return false, err
	} else if c.Needed {
		if err := u.unit.Apply(ctx, rt); err != nil {
			return false, err
		}
		changedUnit = true
	}
	// systemd creates the log file but not its directory.
	if u.spec.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(u.spec.LogFile), 0o755); err != nil {
			return changedUnit, err
		}
	}
	if u.envFile != "" {
		if err := os.MkdirAll(u.p.EnvDir, 0o700); err != nil {
			return changedUnit, err
		}
		if c, err := u.env.Check(ctx, rt); err != nil {
			return changedUnit, err
		} else if c.Needed {
			if err := u.env.Apply(ctx, rt); err != nil {
				return changedUnit, err
			}
		}
	}
	if needed, err := u.tmpfiles.check(ctx, rt); err != nil {
		return changedUnit, err
	} else if needed {
		if err := u.tmpfiles.apply(ctx, rt); err != nil {
			return changedUnit, err
		}
	}
	return changedUnit, nil
}

// render: a fresh host: the unit and its environment file are new, so the unit is loaded,
// enabled and started; the configuration hash (internal bookkeeping of this machine's
// files) is left out.
func (u unitTask) render(_ context.Context, _ *Runtime, r *Rendering) error {
	r.AddFile(u.unit)
	if u.spec.LogFile != "" {
		r.AddMkdirAll(filepath.Dir(u.spec.LogFile))
	}
	if u.envFile != "" {
		r.AddDir(Dir{Path: u.p.EnvDir, Mode: 0o700})
		r.AddFile(u.env)
	}
	if f, want := u.tmpfiles.file(); want {
		r.AddFile(f)
		r.AddCommand(Command{Args: []string{"systemd-tmpfiles", "--create", f.Path}})
	}
	for _, args := range u.p.applyCommands(u.name, true) {
		r.AddCommand(Command{Args: args})
	}
	if u.spec.Ready != nil {
		r.NoteWait(u.spec.Name+" to be ready", u.spec.readyWait())
	}
	return nil
}

// onlyReload reports whether the unit runs with its current unit file, environment,
// runtime directories and configuration, so that only its ReloadFiles changed: then
// `systemctl reload` (the unit's ExecReload) applies them without a restart.
func (u unitTask) onlyReload(ctx context.Context, rt *Runtime) bool {
	if u.spec.Reload.IsZero() || !u.p.reloadNeeded(u.spec) {
		return false
	}
	if c, err := u.unit.Check(ctx, rt); err != nil || c.Needed {
		return false
	}
	if u.envFile != "" {
		if c, err := u.env.Check(ctx, rt); err != nil || c.Needed {
			return false
		}
	}
	if needed, err := u.tmpfiles.check(ctx, rt); err != nil || needed {
		return false
	}
	if !u.configApplied() {
		return false
	}
	_, err := u.p.Runner.Run(ctx, Command{Args: []string{"systemctl", "is-active", "--quiet", u.name}, Timeout: time.Minute})
	return err == nil
}

func (p *AL2023) writeReloadHash(name, hash string) error {
	if hash == "" {
		if err := os.Remove(p.reloadHashPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(p.StateDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(p.reloadHashPath(name), []byte(hash+"\n"), 0o644)
}

// applyCommands are the systemctl calls that bring a unit up with its current configuration.
func (p *AL2023) applyCommands(unitName string, reload bool) [][]string {
	var cmds [][]string
	if reload {
		cmds = append(cmds, []string{"systemctl", "daemon-reload"})
	}
	return append(cmds, []string{"systemctl", "enable", unitName}, []string{"systemctl", "restart", unitName})
}

// Stop implements Platform.
func (p *AL2023) Stop(ctx context.Context, name string) error {
	if _, err := os.Stat(p.unitPath(name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	_, err := p.Runner.Run(ctx, Command{Args: []string{"systemctl", "stop", UnitName(name)}, Timeout: 5 * time.Minute})
	return err
}

// Running implements Platform.
func (p *AL2023) Running(ctx context.Context, name string) (bool, error) {
	out, err := p.Runner.Run(ctx, Command{Args: []string{"systemctl", "is-active", UnitName(name)}, Timeout: time.Minute})
	if err != nil && len(bytes.TrimSpace(out)) == 0 {
		return false, err
	}
	return strings.TrimSpace(string(out)) == "active", nil
}
