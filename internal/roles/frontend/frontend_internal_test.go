package frontend

import (
	"context"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

func frontendRuntime(t *testing.T, p agent.Platform) *agent.Runtime {
	t.Helper()
	env := &envfile.Env{Name: "dev", DomainSuffix: "cso.ss"}
	hosts := inventory.Hosts(env)
	h, ok := inventory.Find(hosts, "frontend-server-1")
	if !ok {
		t.Fatal("no frontend-server-1 in the inventory")
	}
	dir := t.TempDir()
	return &agent.Runtime{Env: env, Host: h, Hosts: hosts, Platform: p,
		Paths: agent.Paths{Root: dir, SSLCerts: dir + "/opt/ssl-certs", Scripts: dir + "/opt/scripts", Etc: dir + "/etc",
			Data: dir + "/var/lib", Log: dir + "/var/log", Run: dir + "/run"}}
}

// plannedWorker returns the step names, the worker account written into nginx.conf and the
// owner planned for nginx's temporary directory.
func plannedWorker(t *testing.T, rt *agent.Runtime) (steps []string, confUser, tempOwner string, userTask agent.Task) {
	t.Helper()
	plan, err := New().Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NginxFor(rt)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan {
		steps = append(steps, s.Name)
		for _, task := range s.Tasks {
			switch v := task.(type) {
			case agent.File:
				if v.Path == n.Conf {
					for _, line := range strings.Split(string(v.Content), "\n") {
						if strings.HasPrefix(line, "user ") {
							confUser = strings.TrimSuffix(strings.TrimPrefix(line, "user "), ";")
						}
					}
				}
			case agent.Dir:
				if v.Path == n.TempDir {
					tempOwner = v.Owner
				}
			case agent.SystemUser:
				userTask = v
			}
		}
	}
	return steps, confUser, tempOwner, userTask
}

// TestWorkerUserPlannedBeforeItExists: on a fresh EC2 host the nginx user does not exist
// when the steps are planned (the nginx package creates it in the first step). The plan
// must still name nginx in nginx.conf and as owner of its temporary files, never leave
// them to root, and make sure the user exists right after the packages.
func TestWorkerUserPlannedBeforeItExists(t *testing.T) {
	defer func(e func() int, l func(string) error) { geteuid, lookupUser = e, l }(geteuid, lookupUser)
	geteuid = func() int { return 0 }
	lookupUser = func(name string) error { return user.UnknownUserError(name) }

	dir := t.TempDir()
	al := &agent.AL2023{UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
	steps, confUser, tempOwner, ut := plannedWorker(t, frontendRuntime(t, al))
	if confUser != "nginx" || tempOwner != "nginx" {
		t.Errorf("al2023 plan: nginx.conf user %q, temporary directory owner %q; want nginx for both", confUser, tempOwner)
	}
	if len(steps) < 2 || steps[0] != "packages" || steps[1] != "user" {
		t.Errorf("steps %v: want packages, user, ...", steps)
	}
	if ut == nil {
		t.Fatal("no user task")
	}
	if c, err := ut.Check(context.Background(), nil); err != nil || !c.Needed || c.Summary != "create system user and group nginx" {
		t.Errorf("user task on a host without nginx: %+v, %v", c, err)
	}

	// Debian: www-data, which base-passwd always has.
	_, confUser, tempOwner, _ = plannedWorker(t, frontendRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir())))
	if confUser != "www-data" || tempOwner != "www-data" {
		t.Errorf("local plan: nginx.conf user %q, temporary directory owner %q; want www-data", confUser, tempOwner)
	}

	// An agent that is not root cannot switch users: no user directive, no user step.
	geteuid = func() int { return 1000 }
	steps, confUser, tempOwner, ut = plannedWorker(t, frontendRuntime(t, al))
	if confUser != "" || tempOwner != "" || ut != nil || steps[1] == "user" {
		t.Errorf("non-root plan: user %q, owner %q, steps %v", confUser, tempOwner, steps)
	}
}
