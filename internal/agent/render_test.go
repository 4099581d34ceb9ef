package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

type renderRole []Step

func (renderRole) Role() envfile.Role               { return envfile.RoleKeystone }
func (s renderRole) Steps(*Runtime) ([]Step, error) { return s, nil }
func (failing) Name() string                        { return "failing" }
func (failing) Check(context.Context, *Runtime) (Change, error) {
	return Change{}, errors.New("Check must not be called in a rendering")
}
func (failing) Apply(context.Context, *Runtime) error {
	return errors.New("Apply must not be called in a rendering")
}

// failing is a task that is neither a File nor a Renderer: it must be named, not run.
type failing struct{}

// Render walks steps in order without checking or applying anything: files and
// directories at their real paths, the platform's packages and units, guarded useradd,
// and every task it cannot render named.
func TestRender(t *testing.T) {
	root := t.TempDir()
	runner := &FreshHostRunner{}
	al := &AL2023{Runner: runner, UnitDir: filepath.Join(root, "units"), EnvDir: "/etc/cso/env", StateDir: filepath.Join(root, "state")}
	ready := func(context.Context) error { return errors.New("must not be probed") }
	role := renderRole{
		{Name: "packages", Tasks: []Task{al.Packages("httpd", "mod_ssl"), al.Packages("httpd")}},
		{Name: "files", Tasks: []Task{
			MkdirAll{Paths: []string{"/var/log"}},
			Parallel{TaskName: "p", Tasks: []Task{
				File{Path: "/etc/x.conf", Content: []byte("url = mysql://u:%3Csecret%3Adb-pw%3E@h\n"), Mode: 0o640, Owner: "root", Group: "x"},
				Dir{Path: "/var/lib/x", Mode: 0o700, Owner: "x"},
			}},
			SystemUser{User: "x", Home: "/var/lib/x", Comment: "X daemon"},
			failing{},
			FuncTask{TaskName: "grant", CheckFunc: failing{}.Check, ApplyFunc: failing{}.Apply},
		}},
		{Name: "service", Tasks: []Task{al.Service(ServiceSpec{Name: "x", Command: []string{"/usr/sbin/x", "-f", "/etc/x.conf"},
			SecretEnv: []string{"PW=<secret:db-pw>"}, Ready: ready, ReadyTimeout: time.Minute})}},
	}
	rt := &Runtime{Host: inventory.Host{Name: "x01"}, Platform: al, Secrets: RenderSecrets{}}
	r, err := Render(context.Background(), rt, role)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Packages, " "); got != "httpd mod_ssl" {
		t.Errorf("packages %q", got)
	}
	var man strings.Builder
	if err := r.WriteManifest(&man); err != nil {
		t.Fatal(err)
	}
	wantManifest := "/etc/cso/env/ 0700 root:root\n" +
		"/etc/cso/env/x.env 0600 root:root\n" +
		"/etc/x.conf 0640 root:x\n" +
		filepath.Join(root, "units", "x.service") + " 0644 root:root\n" +
		"/var/lib/x/ 0700 x:x\n" +
		"/var/log/ 0755 root:root\n"
	if man.String() != wantManifest {
		t.Errorf("manifest:\n%s\nwant:\n%s", man.String(), wantManifest)
	}
	for _, f := range r.Files {
		if f.Path == "/etc/x.conf" && string(f.Content) != "url = mysql://u:<secret:db-pw>@h\n" {
			t.Errorf("an escaped placeholder is not shown plainly: %q", f.Content)
		}
		if f.Path == "/etc/cso/env/x.env" && string(f.Content) != "PW=<secret:db-pw>\n" {
			t.Errorf("environment file %q", f.Content)
		}
	}
	wantCmds := []string{
		"# step 1/3 packages",
		"dnf install -y --setopt=install_weak_deps=False httpd mod_ssl",
		"dnf install -y --setopt=install_weak_deps=False httpd",
		"# step 2/3 files",
		"id -u x >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /var/lib/x --shell /usr/sbin/nologin --comment 'X daemon' x",
		"# NOT RENDERED: failing: needs a live host: what it does depends on what it finds there",
		"# NOT RENDERED: grant: needs a live host: what it does depends on what it finds there",
		"# step 3/3 service",
		"systemctl daemon-reload",
		"systemctl enable x.service",
		"systemctl restart x.service",
		"# then wait (at most 1m0s) for x to be ready: not rendered, it probes a live host",
	}
	if got := strings.Join(r.Commands, "\n"); got != strings.Join(wantCmds, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", got, strings.Join(wantCmds, "\n"))
	}
	if len(r.NotRendered) != 2 {
		t.Errorf("not rendered: %v", r.NotRendered)
	}
	if len(runner.Asked) != 0 {
		t.Errorf("the runner was asked %v; a rendering runs nothing", runner.Asked)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("the rendering wrote to the machine: %v", entries)
	}
}

func TestRenderCommandLine(t *testing.T) {
	r := &Rendering{}
	r.AddCommand(Command{Args: []string{"keystone-manage", "bootstrap", "--bootstrap-region-id", "eu west"}, User: "keystone",
		Dir: "/var/lib/keystone", Env: []string{"A=1"}, SecretEnv: []string{"OS_BOOTSTRAP_PASSWORD=hunter2"}, Stdin: []byte("sql")})
	want := "runuser -u keystone -- env --chdir=/var/lib/keystone A=1 OS_BOOTSTRAP_PASSWORD=<secret> keystone-manage bootstrap --bootstrap-region-id 'eu west' <<< '<3 bytes of input>'"
	if r.Commands[0] != want {
		t.Errorf("got  %s\nwant %s", r.Commands[0], want)
	}
}

// A fresh host: nothing installed, nothing active; the render secrets are placeholders.
func TestFreshHostAndPlaceholders(t *testing.T) {
	al := &AL2023{Runner: &FreshHostRunner{}}
	if c, err := al.Packages("httpd").Check(context.Background(), nil); err != nil || !c.Needed {
		t.Errorf("a fresh host has httpd: %+v %v", c, err)
	}
	if ok, _ := al.Running(context.Background(), "x"); ok {
		t.Error("a fresh host runs x")
	}
	v, err := RenderSecrets{}.Get(context.Background(), SecretKeystoneDB)
	if err != nil || v != "<secret:keystone-db-password>" {
		t.Errorf("Get: %q %v", v, err)
	}
	cert, key, ca, ok, err := RenderSecrets{}.HostTLS(context.Background(), "keystone01")
	if !ok || err != nil || !strings.Contains(string(cert), "<secret:tls/keystone01/certificate>") || !strings.Contains(string(key), "private_key") || !strings.Contains(string(ca), "ca_certificate") {
		t.Errorf("HostTLS: %s %s %s %v %v", cert, key, ca, ok, err)
	}
}

// A service's log directory (created only when missing) and its runtime directories: a
// RuntimeDirectory= line in the unit, a tmpfiles.d file applied at once for the others.
func TestRenderServiceRuntimeDirsAndLog(t *testing.T) {
	al := &AL2023{Runner: &FreshHostRunner{}, UnitDir: "/etc/systemd/system", StateDir: "/var/lib/cso/services", TmpfilesDir: "/etc/tmpfiles.d"}
	spec := ServiceSpec{Name: "x", Command: []string{"/usr/sbin/x"}, LogFile: "/var/log/x/x.log",
		RuntimeDirs: []RuntimeDir{{Path: "/run/x"}, {Path: "/run/x/sock", Owner: "x", Mode: 0o750}}}
	role := renderRole{{Name: "service", Tasks: []Task{
		Dir{Path: "/var/log/x", Mode: 0o750, Owner: "x"}, al.Service(spec)}}}
	r, err := Render(context.Background(), &Runtime{Host: inventory.Host{Name: "x01"}, Platform: al, Secrets: RenderSecrets{}}, role)
	if err != nil {
		t.Fatal(err)
	}
	var man strings.Builder
	r.WriteManifest(&man)
	for _, want := range []string{"/var/log/x/ 0750 x:x\n", "/etc/tmpfiles.d/cso-x.conf 0644 root:root\n"} {
		if !strings.Contains(man.String(), want) {
			t.Errorf("manifest has no %q:\n%s", want, man.String())
		}
	}
	files := map[string]string{}
	for _, f := range r.Manifest() {
		files[f.Path] = string(f.Content)
	}
	if unit := files["/etc/systemd/system/x.service"]; !strings.Contains(unit, "RuntimeDirectory=x\n") || !strings.Contains(unit, "StandardOutput=append:/var/log/x/x.log\n") {
		t.Errorf("unit:\n%s", unit)
	}
	if tf := files["/etc/tmpfiles.d/cso-x.conf"]; tf != RenderTmpfiles([]RuntimeDir{{Path: "/run/x/sock", Owner: "x", Mode: 0o750}}) || tf == "" {
		t.Errorf("tmpfiles.d: %q", tf)
	}
	cmds := strings.Join(r.Commands, "\n")
	if i, j := strings.Index(cmds, "systemd-tmpfiles --create /etc/tmpfiles.d/cso-x.conf"), strings.Index(cmds, "systemctl restart x.service"); i < 0 || j < i {
		t.Errorf("the tmpfiles.d file is not applied before the start:\n%s", cmds)
	}
}

// The agent timer: both units written, then loaded and the timer enabled and started; the
// jump server's rendering names the RDS master secret as its user data passes it.
func TestRenderResyncTimer(t *testing.T) {
	al := &AL2023{Runner: &FreshHostRunner{}, UnitDir: "/etc/systemd/system"}
	env := &envfile.Env{Name: "dev", Region: "eu-west-2", AccountID: "111122223333"}
	for _, c := range []struct {
		secrets RenderSecrets
		role    envfile.Role
		want    string
	}{
		{RenderSecrets{}, envfile.RoleKeystone, "ExecStart=/usr/local/bin/cso agent --env dev --account-id 111122223333 --role keystone --index 1 --region eu-west-2 --log-format json --skip-if-running\n"},
		{RenderSecrets{MasterSecretID: RenderedMasterSecretARN}, envfile.RoleJump,
			"--region eu-west-2 --log-format json --mysql-admin-secret <database_master_secret_arn> --skip-if-running\n"},
	} {
		rt := &Runtime{Env: env, Host: inventory.Host{Name: "h", Role: c.role, Index: 1}, Platform: al, Secrets: c.secrets, Executable: "/usr/local/bin/cso"}
		r, err := Render(context.Background(), rt, renderRole(ResyncSteps(rt)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, f := range r.Manifest() {
			files[f.Path] = string(f.Content)
		}
		if !strings.Contains(files["/etc/systemd/system/"+ResyncService], c.want) {
			t.Errorf("%s: service:\n%s", c.role, files["/etc/systemd/system/"+ResyncService])
		}
		if files["/etc/systemd/system/"+ResyncTimer] != RenderResyncTimer() {
			t.Errorf("%s: timer:\n%s", c.role, files["/etc/systemd/system/"+ResyncTimer])
		}
		got := strings.Join(r.Commands, "\n")
		if want := "# step 1/1 agent timer\nsystemctl daemon-reload\nsystemctl enable --now cso-agent.timer"; got != want {
			t.Errorf("%s: commands:\n%s\nwant:\n%s", c.role, got, want)
		}
		if len(r.NotRendered) != 0 {
			t.Errorf("not rendered: %v", r.NotRendered)
		}
	}
}
