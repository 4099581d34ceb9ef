// Package backend is the backend role of the host agent (LLD 3.2): a Java runtime and the
// backend services of the application package, one per port of LLD 3.2.1, each ready when
// its health path answers. It waits (LLD 2.4.3) for Keystone and RabbitMQ first.
package backend

import (
	"fmt"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/envfile"
)

// Role converges a backend host.
type Role struct {
	Options apppkg.HostOptions
}

// New returns the backend role with its default waits.
func New() agent.Role { return Role{} }

// Role names the role.
func (Role) Role() envfile.Role { return envfile.RoleBackend }

// JavaPackage is the headless Java runtime package of platform p (agent.Distro: Amazon
// Corretto 21 on Amazon Linux 2023, the LLD's 2.4.2; OpenJDK 17 on Debian 12).
func JavaPackage(p agent.Platform) string { return p.Distro().JavaPackage }

// Steps plans the host: Java, the application package, the dependencies, the services.
// Without an application package the last step says so.
func (r Role) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	if rt.Host.Role != envfile.RoleBackend {
		return nil, fmt.Errorf("backend role given host %s of role %s", rt.Host.Name, rt.Host.Role)
	}
	// The agent timer first (Amazon Linux only): a failed first run is retried.
	steps := append(append(agent.ResyncSteps(rt), agent.OwnTLSSteps(rt)...), agent.Step{Name: "packages", Tasks: []agent.Task{rt.Platform.Packages(JavaPackage(rt.Platform))}})
	app, err := apppkg.NewApp(rt)
	if err == apppkg.ErrNotConfigured {
		return append(steps, agent.Step{Name: "application package",
			Tasks: []agent.Task{apppkg.NoPackageTask(rt.Env, envfile.RoleBackend)}}), nil
	}
	if err != nil {
		return nil, err
	}
	steps = append(steps, agent.Step{Name: "directories", Tasks: []agent.Task{
		agent.MkdirAll{Paths: []string{rt.Paths.Data, rt.Paths.Log, rt.Paths.Run}}}})
	steps = append(steps, app.PackageSteps(r.Options)...)
	steps = append(steps, apppkg.DependencySteps(rt, r.Options)...)
	steps = append(steps, app.BindingSteps()...)
	steps = append(steps, app.ServiceSteps(envfile.RoleBackend, r.Options)...)
	return steps, nil
}
