package keystone

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// fakeRunner records the commands of the al2023 platform and simulates their effect.
type fakeRunner struct {
	cmds []agent.Command
	run  func(args []string) error
}

func (r *fakeRunner) Run(_ context.Context, c agent.Command) ([]byte, error) {
	r.cmds = append(r.cmds, c)
	if r.run != nil {
		return nil, r.run(c.Args)
	}
	return nil, nil
}

func (r *fakeRunner) lines() []string {
	var out []string
	for _, c := range r.cmds {
		out = append(out, strings.Join(c.Args, " "))
	}
	return out
}

func al2023(t *testing.T, r agent.Runner) *agent.AL2023 {
	dir := t.TempDir()
	return &agent.AL2023{Runner: r, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
}

// taskNames lists the tasks of steps depth-first, in the order they are converged.
func taskNames(steps []agent.Step) []string {
	var out []string
	var walk func(ts []agent.Task)
	walk = func(ts []agent.Task) {
		for _, t := range ts {
			out = append(out, t.Name())
			switch c := t.(type) {
			case agent.Sequence:
				walk(c.Tasks)
			case agent.Parallel:
				walk(c.Tasks)
			}
		}
	}
	for _, s := range steps {
		walk(s.Tasks)
	}
	return out
}

// fileContent is the content of the agent.File task for path among steps.
func fileContent(t *testing.T, steps []agent.Step, path string) string {
	t.Helper()
	for _, s := range steps {
		for _, task := range s.Tasks {
			if f, ok := task.(agent.File); ok && f.Path == path {
				return string(f.Content)
			}
		}
	}
	t.Fatalf("no file task for %s", path)
	return ""
}

func TestAL2023StepsInstallKeystoneInVenv(t *testing.T) {
	rt := testRuntimeFor(t, al2023(t, &fakeRunner{}), "keystone01")
	steps, err := New().Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Name != "packages" {
		t.Fatalf("first step %q, want packages", steps[0].Name)
	}
	names := taskNames(steps)
	// No mod_wsgi package on Amazon Linux 2023: pip builds it, so apxs, Python.h and gcc;
	// memcached for Keystone's cache.
	pkgs := "packages httpd mod_ssl python3-pip httpd-devel python3-devel gcc memcached"
	venv := "keystone in /opt/keystone-venv"
	wsgi := "mod_wsgi in /opt/keystone-venv"
	if got := taskNames(steps[:1]); !slices.Equal(got, []string{pkgs, venv, wsgi}) {
		t.Errorf("packages step %q, want %q, %q, %q", got, pkgs, venv, wsgi)
	}
	at := func(name string) int {
		i := slices.Index(names, name)
		if i < 0 {
			t.Fatalf("no task %q in %q", name, names)
		}
		return i
	}
	// The cache is up before Keystone starts.
	if at("service keystone-memcached") > at("service keystone-httpd") {
		t.Error("memcached starts after Apache")
	}
	for _, later := range []string{"keystone-manage db_sync", "keystone-manage bootstrap", "fernet key set", "service keystone-httpd"} {
		if at(venv) > at(later) || at(wsgi) > at(later) {
			t.Errorf("%q or %q comes after %q", venv, wsgi, later)
		}
	}
	l := PathsOn(rt.Paths, rt.Host.Name, agent.AL2023Distro)
	if httpd := fileContent(t, steps, l.HTTPDConf); !strings.Contains(httpd, `python-home="/opt/keystone-venv"`) ||
		!strings.Contains(httpd, "LoadModule wsgi_module /opt/keystone-venv/apache/mod_wsgi.so\n") ||
		!strings.Contains(httpd, "# mod_wsgi "+ModWSGIRelease+", built by pip") {
		t.Errorf("al2023 httpd config does not load the venv's mod_wsgi %s:\n%s", ModWSGIRelease, httpd)
	}
	if wsgi := fileContent(t, steps, l.WSGI); !strings.Contains(wsgi, `VENV = "/opt/keystone-venv"`) || !strings.Contains(wsgi, "Keystone "+KeystoneRelease) {
		t.Errorf("al2023 WSGI file does not import Keystone %s from the virtual environment:\n%s", KeystoneRelease, wsgi)
	}

	// The local platform keeps Debian's packages and installs nothing with pip.
	rt = testRuntimeFor(t, agent.NewLocal(t.TempDir(), t.TempDir()), "keystone01")
	steps, err = New().Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	want := "packages python3-keystone python3-pymysql apache2 libapache2-mod-wsgi-py3 memcached python3-memcache"
	if got := taskNames(steps[:1]); !slices.Equal(got, []string{want}) {
		t.Errorf("local packages step %q, want %q", got, want)
	}
}

func TestManageCommandLines(t *testing.T) {
	p := agent.Paths{Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run", SSLCerts: "/opt/ssl-certs"}
	al := PathsOn(p, "keystone01", agent.AL2023Distro)
	want := "/opt/keystone-venv/bin/keystone-manage --config-file /etc/keystone/keystone.conf db_sync"
	if got := strings.Join(manageCommand(al, "db_sync"), " "); got != want {
		t.Errorf("al2023: %q, want %q", got, want)
	}
	want = "keystone-manage --config-file /etc/keystone/keystone.conf bootstrap --bootstrap-username admin"
	if got := strings.Join(manageCommand(Paths(p, "keystone01"), "bootstrap", "--bootstrap-username", "admin"), " "); got != want {
		t.Errorf("local: %q, want %q", got, want)
	}
	if l := PathsOn(p, "keystone01", agent.DebianDistro); l != Paths(p, "keystone01") {
		t.Error("Paths differs from PathsOn(local)")
	}
	// db_sync is tied to the Keystone of the virtual environment.
	venv := t.TempDir()
	os.MkdirAll(filepath.Join(venv, "lib", "python3.9", "site-packages", "keystone-"+KeystoneRelease+".dist-info"), 0o755)
	if got := keystoneVersion(al.withVenv(venv)); got != "keystone-"+KeystoneRelease+".dist-info" {
		t.Errorf("keystoneVersion = %q", got)
	}
	if got := keystoneVersion(al.withVenv(t.TempDir())); got != "unknown" {
		t.Errorf("keystoneVersion of an empty venv = %q, want unknown", got)
	}
}

// simulatePip makes the fake runner act like python3 -m venv and pip install on venv,
// pip installing keystone version ver.
func simulatePip(venv, ver string) func(args []string) error {
	site := filepath.Join(venv, "lib", "python3.9", "site-packages")
	return func(args []string) error {
		switch {
		case slices.Equal(args, VenvCommand(venv)):
			os.MkdirAll(filepath.Join(venv, "bin"), 0o755)
			return os.WriteFile(filepath.Join(venv, "bin", "python3"), nil, 0o755)
		case len(args) > 1 && args[0] == filepath.Join(venv, "bin", "pip") && args[1] == "install":
			old, _ := filepath.Glob(filepath.Join(site, "keystone-*.dist-info"))
			for _, o := range old {
				os.RemoveAll(o)
			}
			os.MkdirAll(filepath.Join(site, "keystone-"+ver+".dist-info"), 0o755)
			os.MkdirAll(filepath.Join(site, "PyMySQL-1.1.0.dist-info"), 0o755)
			os.MkdirAll(filepath.Join(site, "python_memcached-1.62.dist-info"), 0o755) // a wheel's spelling
			os.MkdirAll(filepath.Join(site, "keystonemiddleware-10.6.0.dist-info"), 0o755)
			return os.WriteFile(filepath.Join(venv, "bin", "keystone-manage"), []byte("#!"+venv+"/bin/python3\n"), 0o755)
		}
		return errors.New("unexpected command " + strings.Join(args, " "))
	}
}

func TestVenvInstallTask(t *testing.T) {
	ctx := context.Background()
	venv := filepath.Join(t.TempDir(), "opt", "keystone-venv")
	r := &fakeRunner{run: simulatePip(venv, KeystoneRelease)}
	task := venvTask{venv: venv, runner: r}
	rt := &agent.Runtime{}

	c, err := task.Check(ctx, rt)
	want := "install keystone 25.0.0 (OpenStack 2024.1) into " + venv + " with pip (no keystone installed)"
	if err != nil || !c.Needed || c.Summary != want {
		t.Fatalf("fresh host: Check = %+v, %v; want %q", c, err, want)
	}
	if len(r.cmds) != 0 {
		t.Errorf("Check ran commands: %q", r.lines())
	}
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wantCmds := []string{
		"/usr/bin/python3 -m venv " + venv,
		venv + "/bin/pip install --no-cache-dir -c https://releases.openstack.org/constraints/upper/2024.1 keystone==25.0.0 PyMySQL python-memcached",
	}
	if !slices.Equal(r.lines(), wantCmds) {
		t.Errorf("commands:\n%q\nwant\n%q", r.lines(), wantCmds)
	}
	if r.cmds[1].Timeout != 20*time.Minute || r.cmds[0].Timeout <= 0 {
		t.Errorf("timeouts %s, %s; want bounded, pip 20m", r.cmds[0].Timeout, r.cmds[1].Timeout)
	}
	if c, err := task.Check(ctx, rt); err != nil || c.Needed {
		t.Errorf("after the install: Check = %+v, %v; want no change", c, err)
	}

	// Another Keystone in the venv (an older pin): pip again, the venv is reused.
	site := filepath.Join(venv, "lib", "python3.9", "site-packages")
	os.Rename(filepath.Join(site, "keystone-25.0.0.dist-info"), filepath.Join(site, "keystone-24.0.0.dist-info"))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "keystone 25.0.0") || !strings.Contains(c.Summary, "(has keystone 24.0.0)") {
		t.Errorf("older Keystone: Check = %+v", c)
	}
	r.cmds = nil
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.lines(), wantCmds[1:]) {
		t.Errorf("upgrade commands %q, want %q", r.lines(), wantCmds[1:])
	}
	if c, _ := task.Check(ctx, rt); c.Needed {
		t.Errorf("after the upgrade: Check = %+v", c)
	}

	// A missing driver or keystone-manage is not a current venv either.
	os.RemoveAll(filepath.Join(site, "PyMySQL-1.1.0.dist-info"))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "no PyMySQL installed") {
		t.Errorf("no PyMySQL: Check = %+v", c)
	}
	os.MkdirAll(filepath.Join(site, "pymysql-1.1.0.dist-info"), 0o755) // normalised name
	os.RemoveAll(filepath.Join(site, "python_memcached-1.62.dist-info"))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "no python-memcached installed") {
		t.Errorf("no python-memcached: Check = %+v", c)
	}
	os.MkdirAll(filepath.Join(site, "python_memcached-1.62.dist-info"), 0o755)
	os.Remove(filepath.Join(venv, "bin", "keystone-manage"))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "keystone-manage missing") {
		t.Errorf("no keystone-manage: Check = %+v", c)
	}
}

func TestVenvInstallFailures(t *testing.T) {
	ctx := context.Background()
	venv := filepath.Join(t.TempDir(), "keystone-venv")
	// pip fails (no route to PyPI): the error names the release and the venv.
	r := &fakeRunner{run: func(args []string) error {
		if strings.HasSuffix(args[0], "/bin/pip") {
			return errors.New("pip: exit status 1")
		}
		return simulatePip(venv, KeystoneRelease)(args)
	}}
	err := venvTask{venv: venv, runner: r}.Apply(ctx, &agent.Runtime{})
	if err == nil || !strings.Contains(err.Error(), "install keystone 25.0.0 into "+venv) {
		t.Errorf("pip failure: %v", err)
	}
	// pip succeeds but leaves another version (a constraints conflict would): an error, not green.
	r = &fakeRunner{run: simulatePip(venv, "24.0.0")}
	err = venvTask{venv: venv, runner: r}.Apply(ctx, &agent.Runtime{})
	if err == nil || !strings.Contains(err.Error(), "has keystone 24.0.0") {
		t.Errorf("wrong version after pip: %v", err)
	}
	// The venv cannot be created.
	r = &fakeRunner{run: func([]string) error { return errors.New("No module named venv") }}
	err = venvTask{venv: filepath.Join(t.TempDir(), "v"), runner: r}.Apply(ctx, &agent.Runtime{})
	if err == nil || !strings.Contains(err.Error(), "create the virtual environment") {
		t.Errorf("venv failure: %v", err)
	}
}

// TestWSGIFromVenv runs the rendered al2023 WSGI file with a stand-in Keystone package:
// it loads Keystone from the virtual environment and refuses one from elsewhere.
func TestWSGIFromVenv(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this machine")
	}
	dir := t.TempDir()
	venv := filepath.Join(dir, "keystone-venv")
	l := PathsOn(agent.Paths{Etc: filepath.Join(dir, "etc")}, "keystone01", agent.AL2023Distro).withVenv(venv)
	fakeKeystone := func(site string) {
		os.MkdirAll(filepath.Join(site, "keystone", "server"), 0o755)
		os.WriteFile(filepath.Join(site, "keystone", "__init__.py"), nil, 0o644)
		os.WriteFile(filepath.Join(site, "keystone", "server", "__init__.py"), nil, 0o644)
		os.WriteFile(filepath.Join(site, "keystone", "server", "wsgi.py"), []byte(
			"import os\n\ndef initialize_public_application():\n    return 'app for ' + os.environ['OS_KEYSTONE_CONFIG_DIR']\n"), 0o644)
	}
	inVenv := filepath.Join(venv, "lib", "python3.9", "site-packages")
	elsewhere := filepath.Join(dir, "usr", "lib", "python3", "site-packages")
	fakeKeystone(inVenv)
	fakeKeystone(elsewhere)
	wsgi := filepath.Join(dir, "keystone-wsgi-public.py")
	if err := os.WriteFile(wsgi, []byte(renderWSGI(l)), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(pythonPath string) (string, error) {
		cmd := exec.Command(py, "-c", "import runpy, sys; print(runpy.run_path(sys.argv[1])['application'])", wsgi)
		cmd.Env = []string{"PYTHONPATH=" + pythonPath, "PYTHONDONTWRITEBYTECODE=1", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// The stand-in has no revoke module, no token model and no oslo.context: the revocation
	// cache and the per-request scope say so and stay out.
	if out, err := load(inVenv); err != nil || !strings.HasSuffix(out, "\napp for "+l.ConfDir) || !strings.Contains(out, "revocation checks stay uncached") ||
		!strings.Contains(out, "stay as shipped") || !strings.Contains(out, "keep the previous request's context") {
		t.Errorf("Keystone from the venv: %v\n%s", err, out)
	}
	if out, err := load(elsewhere); err == nil || !strings.Contains(out, "not from "+venv) {
		t.Errorf("Keystone from elsewhere was accepted: %v\n%s", err, out)
	}
}

// simulateModWSGIBuild makes the fake runner act like pip building mod_wsgi version ver
// into venv the legacy way (an .egg-info, as a venv without the wheel package does).
func simulateModWSGIBuild(venv, ver string) func(args []string) error {
	site := filepath.Join(venv, "lib", "python3.9", "site-packages")
	return func(args []string) error {
		if !slices.Equal(args[:2], []string{filepath.Join(venv, "bin", "pip"), "install"}) {
			return errors.New("unexpected command " + strings.Join(args, " "))
		}
		old, _ := filepath.Glob(filepath.Join(site, "mod_wsgi-*"))
		for _, o := range old {
			os.RemoveAll(o)
		}
		os.MkdirAll(filepath.Join(site, "mod_wsgi-"+ver+"-py3.9.egg-info"), 0o755)
		os.MkdirAll(filepath.Join(site, "mod_wsgi", "server"), 0o755)
		return os.WriteFile(filepath.Join(site, "mod_wsgi", "server", "mod_wsgi-py39.cpython-39-x86_64-linux-gnu.so"), []byte("ELF"), 0o755)
	}
}

func TestModWSGIBuildTask(t *testing.T) {
	ctx := context.Background()
	venv := filepath.Join(t.TempDir(), "opt", "keystone-venv")
	module := ModWSGIPath(venv)
	built := filepath.Join(venv, "lib", "python3.9", "site-packages", "mod_wsgi", "server", "mod_wsgi-py39.cpython-39-x86_64-linux-gnu.so")
	r := &fakeRunner{run: simulateModWSGIBuild(venv, ModWSGIRelease)}
	task := modWSGITask{venv: venv, module: module, runner: r}
	rt := &agent.Runtime{}

	if got := strings.Join(ModWSGIPipCommand("/opt/keystone-venv"), " "); got != "/opt/keystone-venv/bin/pip install --no-cache-dir mod_wsgi==5.0.2" {
		t.Errorf("pip command %q", got)
	}
	c, err := task.Check(ctx, rt)
	want := "build mod_wsgi 5.0.2 into " + venv + " with pip and link " + module + " (no mod_wsgi installed)"
	if err != nil || !c.Needed || c.Summary != want {
		t.Fatalf("fresh host: Check = %+v, %v; want %q", c, err, want)
	}
	if len(r.cmds) != 0 {
		t.Errorf("Check ran commands: %q", r.lines())
	}
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if want := []string{strings.Join(ModWSGIPipCommand(venv), " ")}; !slices.Equal(r.lines(), want) {
		t.Errorf("commands %q, want %q", r.lines(), want)
	}
	if r.cmds[0].Timeout != ModWSGIBuildTimeout {
		t.Errorf("pip timeout %s, want %s", r.cmds[0].Timeout, ModWSGIBuildTimeout)
	}
	if target, err := os.Readlink(module); err != nil || target != built {
		t.Errorf("%s links to %q (%v), want %s", module, target, err, built)
	}
	if c, err := task.Check(ctx, rt); err != nil || c.Needed {
		t.Errorf("after the build: Check = %+v, %v; want no change", c, err)
	}
	// Idempotent: a second run builds nothing.
	r.cmds = nil
	if err := task.Apply(ctx, rt); err != nil || len(r.cmds) != 0 {
		t.Errorf("second Apply: %v, commands %q", err, r.lines())
	}

	// A lost link is put back without pip.
	os.Remove(module)
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, module+" does not link to "+built) {
		t.Errorf("no link: Check = %+v", c)
	}
	r.cmds = nil
	if err := task.Apply(ctx, rt); err != nil || len(r.cmds) != 0 {
		t.Errorf("relink: %v, commands %q", err, r.lines())
	}

	// Another mod_wsgi (an older pin): pip builds the pin again.
	site := filepath.Join(venv, "lib", "python3.9", "site-packages")
	os.Rename(filepath.Join(site, "mod_wsgi-5.0.2-py3.9.egg-info"), filepath.Join(site, "mod_wsgi-4.9.4-py3.9.egg-info"))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "(has mod_wsgi 4.9.4)") {
		t.Errorf("older mod_wsgi: Check = %+v", c)
	}
	r.cmds = nil
	if err := task.Apply(ctx, rt); err != nil || len(r.cmds) != 1 {
		t.Errorf("upgrade: %v, commands %q", err, r.lines())
	}
	if c, _ := task.Check(ctx, rt); c.Needed {
		t.Errorf("after the upgrade: Check = %+v", c)
	}
	// A wheel's .dist-info counts too (pip with the wheel package installed).
	os.Rename(filepath.Join(site, "mod_wsgi-5.0.2-py3.9.egg-info"), filepath.Join(site, "mod_wsgi-5.0.2.dist-info"))
	if c, _ := task.Check(ctx, rt); c.Needed {
		t.Errorf("dist-info: Check = %+v", c)
	}
}

func TestModWSGIBuildFailures(t *testing.T) {
	ctx := context.Background()
	venv := filepath.Join(t.TempDir(), "keystone-venv")
	// The compile fails (no httpd-devel: apxs missing): the error names what the build needs.
	r := &fakeRunner{run: func([]string) error { return errors.New("exit status 1") }}
	err := modWSGITask{venv: venv, module: ModWSGIPath(venv), runner: r}.Apply(ctx, &agent.Runtime{})
	if err == nil || !strings.Contains(err.Error(), "build mod_wsgi 5.0.2 into "+venv) || !strings.Contains(err.Error(), "httpd-devel") {
		t.Errorf("build failure: %v", err)
	}
	// pip reports success but no module was built: an error, not green.
	r = &fakeRunner{run: func(args []string) error {
		return os.MkdirAll(filepath.Join(venv, "lib", "python3.9", "site-packages", "mod_wsgi-5.0.2-py3.9.egg-info"), 0o755)
	}}
	err = modWSGITask{venv: venv, module: ModWSGIPath(venv), runner: r}.Apply(ctx, &agent.Runtime{})
	if err == nil || !strings.Contains(err.Error(), "no built module") {
		t.Errorf("no module after pip: %v", err)
	}
}

// specRecorder is Amazon Linux 2023 that also records the services it is asked for.
type specRecorder struct {
	*agent.AL2023
	specs []agent.ServiceSpec
}

func (r *specRecorder) Service(spec agent.ServiceSpec) agent.Task {
	r.specs = append(r.specs, spec)
	return r.AL2023.Service(spec)
}

// TestApacheRuntimeDirOnAL2023: Apache's runtime directory (pid file, WSGI sockets the
// keystone daemons connect to) is the unit's RuntimeDirectory, 0755, recreated by systemd
// at every start after a reboot emptied /run; no task creates it once.
func TestApacheRuntimeDirOnAL2023(t *testing.T) {
	p := &specRecorder{AL2023: al2023(t, &fakeRunner{})}
	rt := testRuntimeFor(t, p, "keystone01")
	rt.Paths.Run = "/run"
	steps, err := New().Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	l := PathsOn(rt.Paths, rt.Host.Name, agent.AL2023Distro)
	if l.RunDir != "/run/keystone-httpd" {
		t.Errorf("runtime directory %s", l.RunDir)
	}
	for _, s := range steps {
		for _, task := range s.Tasks {
			if d, ok := task.(agent.Dir); ok && d.Path == l.RunDir {
				t.Errorf("a task creates %s once; it must be the service's runtime directory", l.RunDir)
			}
		}
	}
	if !strings.Contains(fileContent(t, steps, l.HTTPDConf), `WSGISocketPrefix "/run/keystone-httpd/wsgi"`) {
		t.Error("WSGI sockets are not in the runtime directory")
	}
	if !strings.Contains(fileContent(t, steps, l.HTTPDConf), "\nWSGISocketRotation Off\n") {
		t.Error("WSGI socket paths rotate at a graceful restart: a certificate reload answers 503 to old workers' keep-alive requests")
	}
	i := slices.IndexFunc(p.specs, func(s agent.ServiceSpec) bool { return s.Name == "keystone-httpd" })
	if i < 0 {
		t.Fatalf("no keystone-httpd service among %d", len(p.specs))
	}
	if unit := agent.RenderUnit(p.specs[i], ""); !strings.Contains(unit, "\nRuntimeDirectory=keystone-httpd\nRuntimeDirectoryMode=0755\n") {
		t.Errorf("unit:\n%s", unit)
	}
}
