package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Local is the platform of the local target: Debian packages through apt, daemons under
// the Supervisor (there is no systemd as PID 1 on these machines).
type Local struct {
	Supervisor Supervisor
}

// NewLocal returns the local platform keeping service state in runDir and logs in logDir.
func NewLocal(runDir, logDir string) *Local {
	return &Local{Supervisor: Supervisor{RunDir: runDir, LogDir: logDir}}
}

func (*Local) Name() string { return "local" }

func (*Local) Distro() Distro { return DebianDistro }

// Packages returns a task that installs the Debian packages that dpkg does not list as
// installed.
func (*Local) Packages(names ...string) Task { return aptTask{names: names} }

// Service returns a task that runs spec under the supervisor.
func (l *Local) Service(spec ServiceSpec) Task { return localService{sup: l.Supervisor, spec: spec} }

// Stop implements Platform.
func (l *Local) Stop(ctx context.Context, name string) error { return l.Supervisor.Stop(ctx, name) }

// Running implements Platform.
func (l *Local) Running(_ context.Context, name string) (bool, error) {
	ok, _, err := l.Supervisor.Running(name)
	return ok, err
}

type localService struct {
	sup  Supervisor
	spec ServiceSpec
}

func (t localService) Name() string { return "service " + t.spec.Name }
func (t localService) Check(_ context.Context, _ *Runtime) (Change, error) {
	return t.sup.Check(t.spec)
}
func (t localService) Apply(ctx context.Context, rt *Runtime) error {
	return t.sup.Ensure(ctx, rt, t.spec)
}

// aptMu serialises apt-get: several roles converge side by side on the local target and
// dpkg takes one lock for the whole machine.
var aptMu sync.Mutex

type aptTask struct{ names []string }

func (t aptTask) Name() string { return "packages " + strings.Join(t.names, " ") }

// missingDebs returns the packages dpkg does not report as installed.
func missingDebs(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil, errors.New("dpkg-query not found: the local platform needs Debian")
	}
	args := append([]string{"-W", "-f=${Package} ${db:Status-Abbrev}\n"}, names...)
	out, _ := Command{Args: append([]string{"dpkg-query"}, args...), Timeout: 30 * time.Second}.Run(ctx)
	installed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], "ii") {
			installed[strings.SplitN(f[0], ":", 2)[0]] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !installed[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

func (t aptTask) Check(ctx context.Context, _ *Runtime) (Change, error) {
	missing, err := missingDebs(ctx, t.names)
	if err != nil {
		return Change{}, err
	}
	if len(missing) == 0 {
		return NoChange, nil
	}
	return Change{Needed: true, Summary: "install packages " + strings.Join(missing, " ")}, nil
}

// AptInstallCommand is the apt-get command line that installs names.
func AptInstallCommand(names []string) []string {
	return append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, names...)
}

func (t aptTask) Apply(ctx context.Context, rt *Runtime) error {
	aptMu.Lock()
	defer aptMu.Unlock()
	missing, err := missingDebs(ctx, t.names)
	if err != nil || len(missing) == 0 {
		return err
	}
	// Debian's maintainer scripts would start the packaged daemons on their default ports;
	// policy-rc.d exit 101 tells invoke-rc.d not to (the supervisor starts our own).
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policy)
		}
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if _, err := (Command{Args: AptInstallCommand(missing), Env: env, Timeout: 20 * time.Minute}).Run(ctx); err != nil {
		// The package lists may be missing or stale on a fresh machine: update once, retry.
		if _, uerr := (Command{Args: []string{"apt-get", "update", "-q"}, Env: env, Timeout: 10 * time.Minute}).Run(ctx); uerr != nil {
			return fmt.Errorf("%w (and apt-get update failed: %v)", err, uerr)
		}
		if _, err := (Command{Args: AptInstallCommand(missing), Env: env, Timeout: 20 * time.Minute}).Run(ctx); err != nil {
			return fmt.Errorf("%w (run scripts/install-deps.sh --runtime as root)", err)
		}
	}
	return nil
}
