package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
