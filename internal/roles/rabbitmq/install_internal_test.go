package rabbitmq

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// fakeRPM stands in for rpm and dnf on Amazon Linux 2023: it records every command and
// keeps a small RPM database (imported keys, installed package versions).
type fakeRPM struct {
	calls    []string
	keys     map[string]bool   // gpg-pubkey versions
	packages map[string]string // name -> version
	repoFile string            // must exist when dnf runs
	t        *testing.T
}

func (f *fakeRPM) Run(_ context.Context, c agent.Command) ([]byte, error) {
	a := c.Args
	f.calls = append(f.calls, strings.Join(a, " "))
	switch {
	case len(a) == 4 && a[0] == "rpm" && a[1] == "-q" && a[2] == "--quiet" && strings.HasPrefix(a[3], "gpg-pubkey-"):
		if f.keys[strings.TrimPrefix(a[3], "gpg-pubkey-")] {
			return nil, nil
		}
		return nil, errors.New("exit status 1")
	case len(a) == 3 && a[0] == "rpm" && a[1] == "--import":
		for _, k := range SigningKeys {
			if k.URL == a[2] {
				f.keys[k.RPMVersion] = true
			}
		}
		return nil, nil
	case len(a) == 5 && a[0] == "rpm" && a[1] == "-q" && a[2] == "--queryformat":
		if v, ok := f.packages[a[4]]; ok {
			return []byte(v), nil
		}
		return []byte("package " + a[4] + " is not installed\n"), errors.New("exit status 1")
	case a[0] == "dnf":
		if _, err := os.Stat(f.repoFile); err != nil {
			f.t.Errorf("dnf ran before the repository file was written: %v", err)
		}
		for _, spec := range a[len(agent.DNFInstallCommand(nil)):] {
			switch spec {
			case "erlang-" + ErlangMajor + ".*":
				f.packages["erlang"] = ErlangMajor + ".3.4.1"
			case "rabbitmq-server-" + RabbitMQSeries + ".*":
				f.packages["rabbitmq-server"] = RabbitMQSeries + ".4"
			}
		}
		return nil, nil
	}
	f.t.Errorf("unexpected command %q", strings.Join(a, " "))
	return nil, errors.New("unexpected command")
}

// awsRuntime is the runtime of rabbitmq-server-1 of an HA environment on EC2, its tree in a
// temporary directory.
func awsRuntime(t *testing.T, p agent.Platform) *agent.Runtime {
	t.Helper()
	env := &envfile.Env{Name: "dev-ha", DomainSuffix: "cso.ss", HA: true}
	hosts := inventory.Hosts(env)
	h, ok := inventory.Find(hosts, "rabbitmq-server-1")
	if !ok {
		t.Fatal("no rabbitmq-server-1 in the HA inventory")
	}
	dir := t.TempDir()
	return &agent.Runtime{Env: env, Host: h, Hosts: hosts, Platform: p,
		Secrets: &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")},
		Paths: agent.Paths{Root: dir, SSLCerts: dir + "/opt/ssl-certs", Scripts: dir + "/opt/scripts", Etc: dir + "/etc",
			Data: dir + "/var/lib", Log: dir + "/var/log", Run: dir + "/run"}}
}

// converge checks and applies tasks in order, as agent.Run does within a step.
func converge(t *testing.T, rt *agent.Runtime, tasks []agent.Task) (changed []string) {
	t.Helper()
	ctx := context.Background()
	for _, task := range tasks {
		c, err := task.Check(ctx, rt)
		if err != nil {
			t.Fatalf("check %s: %v", task.Name(), err)
		}
		if !c.Needed {
			continue
		}
		changed = append(changed, task.Name())
		if err := task.Apply(ctx, rt); err != nil {
			t.Fatalf("apply %s: %v", task.Name(), err)
		}
	}
	return changed
}

func TestRenderRepo(t *testing.T) {
	repo := string(RenderRepo())
	var sections []string
	for _, line := range strings.Split(repo, "\n") {
		if strings.HasPrefix(line, "[") {
			sections = append(sections, strings.Trim(line, "[]"))
		}
	}
	if want := []string{"modern-erlang", "modern-erlang-noarch", "rabbitmq-el9", "rabbitmq-el9-noarch"}; !slices.Equal(sections, want) {
		t.Errorf("repositories %v, want %v", sections, want)
	}
	for _, want := range []string{
		"baseurl=https://yum1.rabbitmq.com/erlang/el/9/$basearch\n        https://yum2.rabbitmq.com/erlang/el/9/$basearch\n",
		"baseurl=https://yum2.rabbitmq.com/rabbitmq/el/9/$basearch\n        https://yum1.rabbitmq.com/rabbitmq/el/9/$basearch\n",
		"baseurl=https://yum1.rabbitmq.com/erlang/el/9/noarch\n",
		"baseurl=https://yum2.rabbitmq.com/rabbitmq/el/9/noarch\n",
		"gpgkey=https://github.com/rabbitmq/signing-keys/releases/download/3.0/cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key\n",
		"gpgkey=https://github.com/rabbitmq/signing-keys/releases/download/3.0/cloudsmith.rabbitmq-server.9F4587F226208342.key\n" +
			"       https://github.com/rabbitmq/signing-keys/releases/download/3.0/rabbitmq-release-signing-key.asc\n",
	} {
		if !strings.Contains(repo, want) {
			t.Errorf("rabbitmq.repo lacks %q:\n%s", want, repo)
		}
	}
	// Every repository checks the signatures of its metadata and of its packages.
	for _, key := range []string{"enabled=1", "gpgcheck=1", "repo_gpgcheck=1", "sslverify=1"} {
		if n := strings.Count(repo, "\n"+key+"\n"); n != len(sections) {
			t.Errorf("%s in %d of %d repositories", key, n, len(sections))
		}
	}
	for _, bad := range []string{"el/8", "gpgcheck=0", "SRPMS", "http://", "pkg_gpgcheck", "autorefresh"} {
		if strings.Contains(repo, bad) {
			t.Errorf("rabbitmq.repo contains %q", bad)
		}
	}
	// The pins are a compatible pair (which-erlang: RabbitMQ 4.1.x runs on Erlang 26.2 to 27.x).
	if RabbitMQSeries != "4.1" || ErlangMajor != "27" {
		t.Errorf("pins moved to RabbitMQ %s / Erlang %s: check the compatibility matrix and update this test and docs/decisions/roles.md", RabbitMQSeries, ErlangMajor)
	}
}

// TestInstallOnAL2023: the packages step imports the signing keys, writes the repository
// file and only then installs the pinned Erlang and RabbitMQ; a second run runs no import
// and no dnf; another series already installed is refused with the pin named.
func TestInstallOnAL2023(t *testing.T) {
	f := &fakeRPM{keys: map[string]bool{}, packages: map[string]string{}, t: t}
	dir := t.TempDir()
	rt := awsRuntime(t, &agent.AL2023{Runner: f, UnitDir: dir + "/units", EnvDir: dir + "/env", StateDir: dir + "/state"})
	f.repoFile = RepoFile(rt.Paths)
	if f.repoFile != rt.Paths.Etc+"/yum.repos.d/rabbitmq.repo" {
		t.Errorf("repository file %s", f.repoFile)
	}
	steps, err := New().Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Name != "packages" {
		t.Fatalf("first step %q", steps[0].Name)
	}
	changed := converge(t, rt, steps[0].Tasks)
	if len(changed) != 3 {
		t.Errorf("fresh host changed %v, want keys, repository file and packages", changed)
	}
	var mutating []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, "rpm --import ") || strings.HasPrefix(c, "dnf ") {
			mutating = append(mutating, c)
		}
	}
	want := []string{
		"rpm --import https://github.com/rabbitmq/signing-keys/releases/download/3.0/rabbitmq-release-signing-key.asc",
		"rpm --import https://github.com/rabbitmq/signing-keys/releases/download/3.0/cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key",
		"rpm --import https://github.com/rabbitmq/signing-keys/releases/download/3.0/cloudsmith.rabbitmq-server.9F4587F226208342.key",
		"dnf install -y --setopt=install_weak_deps=False erlang-27.* rabbitmq-server-4.1.*",
	}
	if !slices.Equal(mutating, want) {
		t.Errorf("commands:\n%s\nwant\n%s\n(all: %q)", strings.Join(mutating, "\n"), strings.Join(want, "\n"), f.calls)
	}
	if got, err := os.ReadFile(f.repoFile); err != nil || string(got) != string(RenderRepo()) {
		t.Errorf("repository file: %v\n%s", err, got)
	}
	if st, err := os.Stat(f.repoFile); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("repository file mode: %v %v", st, err)
	}

	f.calls = nil
	if changed := converge(t, rt, steps[0].Tasks); len(changed) != 0 {
		t.Errorf("second run changed %v", changed)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "rpm --import") || strings.HasPrefix(c, "dnf") {
			t.Errorf("second run ran %q", c)
		}
	}

	f.packages["rabbitmq-server"] = "4.2.1"
	_, err = pinnedPackagesTask{run: f}.Check(context.Background(), rt)
	if err == nil || !strings.Contains(err.Error(), "rabbitmq-server 4.2.1 is installed, but this agent pins 4.1.x") {
		t.Errorf("another series installed: %v", err)
	}

	// Debian (the local target) installs its own rabbitmq-server: no repository file.
	local := awsRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	if tasks := installTasks(local); len(tasks) != 1 || tasks[0].Name() != "packages rabbitmq-server" {
		t.Errorf("local install tasks: %v", tasks)
	}
}

// recordingPlatform is Amazon Linux 2023 that also records the services it is asked for.
type recordingPlatform struct {
	*agent.AL2023
	specs []agent.ServiceSpec
}

func (p *recordingPlatform) Service(s agent.ServiceSpec) agent.Task {
	p.specs = append(p.specs, s)
	return p.AL2023.Service(s)
}

// TestOwnerPlannedBeforeTheUserExists: on a fresh EC2 host the rabbitmq user does not exist
// when the steps are planned (the package creates it in the first step). The plan must
// still give the node's files and unit to rabbitmq, never to root, and make sure the user
// exists right after the packages.
func TestOwnerPlannedBeforeTheUserExists(t *testing.T) {
	defer func(e func() int, l func(string) error) { geteuid, lookupUser = e, l }(geteuid, lookupUser)
	geteuid = func() int { return 0 }
	lookupUser = func(name string) error { return user.UnknownUserError(name) }

	dir := t.TempDir()
	p := &recordingPlatform{AL2023: &agent.AL2023{Runner: &fakeRPM{t: t}, UnitDir: dir + "/units", EnvDir: dir + "/env", StateDir: dir + "/state"}}
	rt := awsRuntime(t, p)
	steps, err := Role{}.Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	if len(names) < 3 || names[0] != "packages" || names[1] != "user" || names[2] != "certificates" {
		t.Fatalf("steps %v: want packages, user, certificates, ...", names)
	}
	if c, err := steps[1].Tasks[0].Check(context.Background(), rt); err != nil || !c.Needed || !strings.Contains(c.Summary, "create system user and group rabbitmq") {
		t.Errorf("user step on a host without the user: %+v, %v", c, err)
	}

	self := NodeFor(rt.Host, rt.Paths)
	owners := map[string]string{} // path -> owner the plan gives it
	var waits []time.Duration
	for _, s := range steps {
		for _, task := range s.Tasks {
			switch v := task.(type) {
			case agent.Dir:
				owners[v.Path] = v.Owner
			case CopyFile:
				owners[v.Dst] = v.Owner
			case SecretFile:
				owners[v.Path] = v.Owner
			case DefinitionsFile:
				owners[v.Path] = v.Owner
			case Reachable:
				owners["reachable "+v.Path] = v.User
			case agent.WaitFiles:
				waits = append(waits, v.Timeout)
			}
		}
	}
	// The pid directory is the service's runtime directory, created by the platform at
	// every start (a reboot empties /run), not once by a task.
	if _, ok := owners[filepath.Dir(self.PidFile)]; ok {
		t.Errorf("%s is created by a task; it is a runtime directory of the service", filepath.Dir(self.PidFile))
	}
	for _, s := range p.specs {
		owners["runtime "+filepath.Dir(self.PidFile)] = "(none)"
		for _, d := range s.RuntimeDirs {
			if d.Path == filepath.Dir(self.PidFile) {
				owners["runtime "+d.Path] = d.Owner
			}
		}
	}
	for _, path := range []string{self.SSLDir, self.Key(), self.Cert(), self.CACert(), self.Home, self.MnesiaBase, self.LogBase,
		"runtime " + filepath.Dir(self.PidFile), filepath.Join(self.Home, ".erlang.cookie"), self.Definitions, "reachable " + self.Home} {
		if got, ok := owners[path]; !ok || got != ServiceUser {
			t.Errorf("%s: planned owner %q (present %v), want %s", path, got, ok, ServiceUser)
		}
	}
	if len(p.specs) != 1 || p.specs[0].User != ServiceUser {
		t.Errorf("service specs %+v: want one, running as %s", p.specs, ServiceUser)
	}
	if len(waits) != 1 || waits[0] != 45*time.Minute {
		t.Errorf("certificate waits on al2023 %v, want [45m]", waits)
	}

	// An agent that is not root cannot switch users: it owns everything, and plans no user step.
	geteuid = func() int { return 1000 }
	steps, err = Role{}.Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	if steps[1].Name != "certificates" {
		t.Errorf("non-root agent: second step %q, want certificates", steps[1].Name)
	}
	if p.specs[len(p.specs)-1].User != "" {
		t.Errorf("non-root agent: service user %q", p.specs[len(p.specs)-1].User)
	}
}

// TestCertWaitLocal: the local target keeps its 10-minute certificate wait.
func TestCertWaitLocal(t *testing.T) {
	rt := awsRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
	steps, err := Role{}.Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		for _, task := range s.Tasks {
			if w, ok := task.(agent.WaitFiles); ok && w.Timeout != 10*time.Minute {
				t.Errorf("local certificate wait %s, want 10m", w.Timeout)
			}
		}
	}
	if got := (Role{CertWait: time.Second}); orDefault(got.CertWait, rt.PeerWait(localCertWait)) != time.Second {
		t.Error("an explicit CertWait is not used")
	}
}
