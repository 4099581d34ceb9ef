package agent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type recordRunner struct {
	calls  [][]string
	active bool // answer of systemctl is-active / is-enabled and rpm -q
}

func (r *recordRunner) Run(_ context.Context, c Command) ([]byte, error) {
	r.calls = append(r.calls, c.Args)
	switch {
	case len(c.Args) > 1 && (c.Args[1] == "is-active" || c.Args[1] == "is-enabled" || c.Args[0] == "rpm"):
		if !r.active {
			return []byte("inactive\n"), os.ErrNotExist
		}
		return []byte("active\n"), nil
	}
	return nil, nil
}

func TestRenderUnitGolden(t *testing.T) {
	spec := ServiceSpec{
		Name:        "keystone-httpd",
		Command:     []string{"/usr/sbin/httpd", "-f", "/etc/httpd/keystone httpd.conf", "-DFOREGROUND"},
		Env:         []string{"LANG=C.UTF-8", "PATH=/usr/bin:$HOME"},
		SecretEnv:   []string{"OS_BOOTSTRAP_PASSWORD=x"},
		User:        "keystone",
		Dir:         "/var/lib/keystone",
		StopCommand: []string{"/usr/sbin/httpd", "-k", "graceful-stop"},
		StopTimeout: 30 * time.Second,
	}
	want := `# Managed by cso agent: changes are overwritten on the next run.
[Unit]
Description=CSO keystone-httpd
After=network-online.target remote-fs.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/usr/sbin/httpd -f "/etc/httpd/keystone httpd.conf" -DFOREGROUND
ExecStop=/usr/sbin/httpd -k graceful-stop
User=keystone
WorkingDirectory=/var/lib/keystone
Environment=LANG=C.UTF-8
Environment=PATH=/usr/bin:$$HOME
EnvironmentFile=/etc/cso/env/keystone-httpd.env
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`
	if got := RenderUnit(spec, "/etc/cso/env/keystone-httpd.env"); got != want {
		t.Errorf("unit differs:\n--- got\n%s\n--- want\n%s", got, want)
	}
	if got := RenderEnvFile([]string{"A=b c", "B=100%"}); got != "\"A=b c\"\nB=100%%\n" {
		t.Errorf("env file = %q", got)
	}
}

func TestDNFCommands(t *testing.T) {
	if got := strings.Join(DNFInstallCommand([]string{"httpd", "mod_ssl"}), " "); got != "dnf install -y --setopt=install_weak_deps=False httpd mod_ssl" {
		t.Errorf("dnf command = %q", got)
	}
	r := &recordRunner{}
	p := &AL2023{Runner: r}
	task := p.Packages("httpd", "mod_ssl")
	c, err := task.Check(context.Background(), &Runtime{})
	if err != nil || !c.Needed || c.Summary != "install packages httpd mod_ssl" {
		t.Fatalf("Check = %+v, %v", c, err)
	}
	if err := task.Apply(context.Background(), &Runtime{}); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"rpm", "-q", "--quiet", "httpd"}, {"rpm", "-q", "--quiet", "mod_ssl"}, DNFInstallCommand([]string{"httpd", "mod_ssl"})}
	if strings.Join(flat(r.calls), "|") != strings.Join(flat(want), "|") {
		t.Errorf("commands:\n%v\nwant\n%v", r.calls, want)
	}
}

func flat(cs [][]string) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(c, " "))
	}
	return out
}

func TestAL2023Service(t *testing.T) {
	dir := t.TempDir()
	r := &recordRunner{}
	p := &AL2023{Runner: r, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
	spec := ServiceSpec{Name: "cso-admin", Command: []string{"/usr/local/bin/cso", "admin", "serve"}, SecretEnv: []string{"TOKEN=abc"}}
	task := p.Service(spec)
	ctx := context.Background()
	c, err := task.Check(ctx, &Runtime{})
	if err != nil || !c.Needed {
		t.Fatalf("fresh host: Check = %+v, %v; want a change", c, err)
	}
	r.calls = nil
	if err := task.Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl daemon-reload", "systemctl enable cso-admin.service", "systemctl restart cso-admin.service"}
	if got := flat(r.calls); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands %v, want %v", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, "env", "cso-admin.env"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("environment file: %v, mode %v; want 0600", err, st)
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "units", "cso-admin.service"))
	if strings.Contains(string(unit), "abc") {
		t.Error("the unit file holds a secret; it belongs in the 0600 EnvironmentFile")
	}
	// Converged: enabled, active, same configuration.
	r.active = true
	if c, err := task.Check(ctx, &Runtime{}); err != nil || c.Needed {
		t.Errorf("converged: Check = %+v, %v; want no change", c, err)
	}
	// A changed configuration restarts without daemon-reload (the unit is the same).
	cfg := filepath.Join(dir, "app.conf")
	os.WriteFile(cfg, []byte("a"), 0o644)
	spec.ConfigFiles = []string{cfg}
	task = p.Service(spec)
	if c, _ := task.Check(ctx, &Runtime{}); !c.Needed || !strings.Contains(c.Summary, "configuration changed") {
		t.Errorf("config change: Check = %+v", c)
	}
	r.calls = nil
	if err := task.Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	if got := flat(r.calls); strings.Join(got, "|") != "systemctl enable cso-admin.service|systemctl restart cso-admin.service" {
		t.Errorf("commands %v", got)
	}
}

// runtimeSpec has runtime directories of every kind: two that the unit creates (below
// /run, the unit's user, one mode) and three that need tmpfiles.d (another mode, another
// owner, not directly below /run).
func runtimeSpec(daemon string) ServiceSpec {
	return ServiceSpec{
		Name:    "demo",
		Command: []string{daemon, "-f", "/etc/demo.conf"},
		RuntimeDirs: []RuntimeDir{
			{Path: "/run/demo", Mode: 0o755},
			{Path: "/run/demo-sockets"},
			{Path: "/run/demo-private", Mode: 0o700},
			{Path: "/run/demo-daemon", Owner: "daemon", Mode: 0o750},
			{Path: "/var/run-not/demo/deep", Owner: "daemon", Group: "root", Mode: 0o710},
		},
	}
}

func TestRuntimeDirsInUnitAndTmpfiles(t *testing.T) {
	spec := runtimeSpec("/usr/sbin/demo")
	unit, tmp := UnitRuntimeDirs(spec)
	if len(unit) != 2 || unit[0].Path != "/run/demo" || unit[1].Path != "/run/demo-sockets" || len(tmp) != 3 {
		t.Fatalf("unit %v, tmpfiles %v", unit, tmp)
	}
	got := RenderUnit(spec, "")
	if !strings.Contains(got, "\nRuntimeDirectory=demo demo-sockets\nRuntimeDirectoryMode=0755\n") {
		t.Errorf("unit lacks the RuntimeDirectory lines:\n%s", got)
	}
	if strings.Contains(got, "RuntimeDirectoryPreserve") || strings.Contains(got, "demo-private") {
		t.Errorf("unit:\n%s", got)
	}
	wantTmp := "d /run/demo-private 0700 root root -\nd /run/demo-daemon 0750 daemon daemon -\nd /var/run-not/demo/deep 0710 daemon root -\n"
	if got := RenderTmpfiles(tmp); got != wantTmp {
		t.Errorf("tmpfiles:\n%s\nwant\n%s", got, wantTmp)
	}
	// A daemon running as its own user gets its directory from the unit.
	spec = ServiceSpec{Name: "mq", Command: []string{"/usr/sbin/rabbitmq-server"}, User: "rabbitmq",
		RuntimeDirs: []RuntimeDir{{Path: "/run/rabbitmq", Owner: "rabbitmq"}}}
	if unit, tmp := UnitRuntimeDirs(spec); len(unit) != 1 || len(tmp) != 0 {
		t.Errorf("rabbitmq: unit %v, tmpfiles %v", unit, tmp)
	}
	// No runtime directory: the unit is as before.
	if strings.Contains(RenderUnit(ServiceSpec{Name: "x", Command: []string{"/bin/x"}}, ""), "RuntimeDirectory") {
		t.Error("RuntimeDirectory without runtime directories")
	}
}

// TestRenderedUnitVerifies runs systemd-analyze verify (systemd 252, as on Amazon Linux
// 2023) on a rendered unit whose ExecStart is a stand-in binary in a temporary directory:
// it must accept every line without a warning.
func TestRenderedUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze on this machine")
	}
	dir := t.TempDir()
	daemon := filepath.Join(dir, "demo")
	if err := os.WriteFile(daemon, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := runtimeSpec(daemon)
	spec.Env = []string{"LANG=C.UTF-8"}
	spec.StopCommand = []string{daemon, "stop"}
	unitPath := filepath.Join(dir, "demo.service")
	if err := os.WriteFile(unitPath, []byte(RenderUnit(spec, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", unitPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check catches a bad line (systemd-analyze exits 0 on those, it only warns).
	bad := strings.Replace(RenderUnit(spec, ""), "RuntimeDirectoryMode=0755", "RuntimeDirectoryMode=rwx", 1)
	os.WriteFile(unitPath, []byte(bad), 0o644)
	if out, _ := exec.CommandContext(ctx, "systemd-analyze", "verify", unitPath).CombinedOutput(); len(bytes.TrimSpace(out)) == 0 {
		t.Error("systemd-analyze verify printed nothing on a bad RuntimeDirectoryMode")
	}
}

// TestTmpfilesLinesCreateTheDirs applies the rendered tmpfiles.d file with this machine's
// systemd-tmpfiles under a temporary root (with this machine's accounts), as
// systemd-tmpfiles-setup.service does at boot, and checks owner and mode.
func TestTmpfilesLinesCreateTheDirs(t *testing.T) {
	if _, err := exec.LookPath("systemd-tmpfiles"); err != nil {
		t.Skip("no systemd-tmpfiles on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("creating directories for other owners needs root")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc", "tmpfiles.d"), 0o755)
	for _, f := range []string{"passwd", "group"} {
		data, err := os.ReadFile("/etc/" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "etc", f), data, 0o644)
	}
	_, tmp := UnitRuntimeDirs(runtimeSpec("/usr/sbin/demo"))
	conf := filepath.Join(root, "etc", "tmpfiles.d", "cso-demo.conf")
	os.WriteFile(conf, []byte(RenderTmpfiles(tmp)), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "systemd-tmpfiles", "--root="+root, "--create", conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	for _, d := range tmp {
		assertDir(t, filepath.Join(root, d.Path), d)
	}
}

// assertDir checks that path is a directory with d's mode, owner and group.
func assertDir(t *testing.T, path string, d RuntimeDir) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		t.Errorf("%s: %v", path, err)
		return
	}
	if st.Mode().Perm() != d.mode() {
		t.Errorf("%s: mode %o, want %o", path, st.Mode().Perm(), d.mode())
	}
	owner, group := d.Owner, d.Group
	if owner == "" {
		owner = "root"
	}
	uid, gid, err := lookupOwner(owner, group)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != uid || int(s.Gid) != gid {
		t.Errorf("%s: owner %d:%d, want %s(%d):%s(%d)", path, s.Uid, s.Gid, owner, uid, group, gid)
	}
}

func TestAL2023ServiceWritesAndAppliesTmpfiles(t *testing.T) {
	dir := t.TempDir()
	r := &recordRunner{}
	p := &AL2023{Runner: r, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"),
		StateDir: filepath.Join(dir, "state"), TmpfilesDir: filepath.Join(dir, "tmpfiles.d")}
	spec := runtimeSpec("/usr/sbin/demo")
	ctx := context.Background()
	if err := p.Service(spec).Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "tmpfiles.d", "cso-demo.conf")
	want := []string{"systemd-tmpfiles --create " + conf, "systemctl daemon-reload", "systemctl enable demo.service", "systemctl restart demo.service"}
	if got := flat(r.calls); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands %v, want %v (tmpfiles applied before the start)", got, want)
	}
	_, tmp := UnitRuntimeDirs(spec)
	if data, err := os.ReadFile(conf); err != nil || string(data) != RenderTmpfiles(tmp) {
		t.Errorf("%s: %q, %v", conf, data, err)
	}
	r.active = true
	if c, err := p.Service(spec).Check(ctx, &Runtime{}); err != nil || c.Needed {
		t.Errorf("converged: %+v %v", c, err)
	}
	// The directories moved into the unit: the tmpfiles.d file goes.
	spec.RuntimeDirs = spec.RuntimeDirs[:2]
	c, _ := p.Service(spec).Check(ctx, &Runtime{})
	if !c.Needed || !strings.Contains(c.Summary, "runtime directories") {
		t.Errorf("Check = %+v", c)
	}
	if err := p.Service(spec).Apply(ctx, &Runtime{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(conf); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", conf, err)
	}
}
