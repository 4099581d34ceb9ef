package jump

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/target"
)

// AdminService is the supervisor/systemd name of the admin dashboard.
const AdminService = "cso-admin"

// adminTask runs the admin dashboard (`cso admin serve`, LLD 3.5.1) on the jump host's
// admin port (8081, docs/decisions/agent.md) with TLS from the project CA. It needs the target
// description and the cso executable; without them the role has no admin step.
//
// Behind the ALB (an ha environment) the dashboard must trust the load balancer's user
// header and check the Cognito group; what it needs is in the target description, which
// the s3-sync step of this same run may only just have put in place. The service's command
// is therefore worked out when the step runs, not when the role is built.
func adminTask(rt *agent.Runtime) agent.Task {
	// Without the cso binary (a test binary is not one) there is nothing to run.
	if rt.TargetFile == "" || rt.Executable == "" {
		return nil
	}
	return &adminService{}
}

// adminService is the dashboard's service task, built from the target description when
// it is checked.
type adminService struct{ svc agent.Task }

func (a *adminService) Name() string { return "service " + AdminService }

func (a *adminService) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	spec, err := adminSpec(rt)
	if err != nil {
		return agent.Change{}, err
	}
	a.svc = rt.Platform.Service(spec)
	return a.svc.Check(ctx, rt)
}

func (a *adminService) Apply(ctx context.Context, rt *agent.Runtime) error {
	if a.svc == nil {
		if _, err := a.Check(ctx, rt); err != nil {
			return err
		}
	}
	return a.svc.Apply(ctx, rt)
}

// adminSpec is the dashboard's service: `cso admin serve` with the flags the target
// description calls for.
func adminSpec(rt *agent.Runtime) (agent.ServiceSpec, error) {
	flags, err := albFlags(rt)
	if err != nil {
		return agent.ServiceSpec{}, err
	}
	return adminSpecWith(rt, flags), nil
}

// adminSpecWith is the dashboard's service with the given ALB flags.
func adminSpecWith(rt *agent.Runtime, flags []string) agent.ServiceSpec {
	exe := rt.Executable
	port := rt.Host.Ports[inventory.PortAdmin]
	own := rt.Paths.OwnTLS(rt.Host.Name)
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	if rt.Host.Address == "127.0.0.1" {
		listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return agent.ServiceSpec{
		Name: AdminService,
		Command: append([]string{exe, "admin", "serve", "--target", rt.TargetFile, "--listen", listen,
			"--cert", own.Cert, "--key", own.Key}, append(logFormat(rt), flags...)...),
		// Not the certificate and key: the dashboard re-reads them when they change
		// (admin.KeyPair), so a renewal needs no restart.
		ConfigFiles: []string{exe, own.CA},
		// A file the CloudWatch agent ships (log group /cso/<env>/admin, internal/cwagent).
		LogFile: agent.ServiceLog(rt.Paths, AdminService),
		Ready: func(ctx context.Context) error {
			pool, err := pki.PoolFile(own.CA)
			if err != nil {
				return err
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: rt.Host.FQDN}, DisableKeepAlives: true}}
			return agent.HTTPGetOK(ctx, c, fmt.Sprintf("https://127.0.0.1:%d/health", port))
		},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  15 * time.Second,
	}
}

// Render implements agent.Renderer: the dashboard's unit as a fresh host gets it. Its ALB
// and Cognito flags come from the target description that cso deploy publishes, so in an
// ha environment the rendering shows where each value comes from.
func (a *adminService) Render(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	var flags []string
	if rt.Env.HA {
		from := func(field string) string { return "<" + rt.TargetFile + " alb." + field + ">" }
		flags = []string{"--alb-signer", from("signer"), "--alb-region", from("region"),
			"--cognito-user-pool", from("user_pool_id"), "--cognito-region", from("user_pool_region"),
			"--cognito-client-id", from("client_id"), "--admin-group", from("admin_group")}
	}
	svc, ok := rt.Platform.Service(adminSpecWith(rt, flags)).(agent.Renderer)
	if !ok {
		return fmt.Errorf("%w: the platform's service task cannot be rendered", agent.ErrNeedsLiveHost)
	}
	return svc.Render(ctx, rt, r)
}

// albFlags are the ALB and Cognito flags of `cso admin serve` from the target description
// (none when it has no ALB settings, or is not written yet: the local target has no ALB).
// An ha AWS environment whose description lacks them is an error: the dashboard behind
// the ALB would refuse every user.
func albFlags(rt *agent.Runtime) ([]string, error) {
	t, err := target.Load(rt.TargetFile)
	if errors.Is(err, fs.ErrNotExist) {
		// The local target writes it after the hosts are up; on AWS cso deploy publishes
		// it before the agent binary, and the s3-sync step has copied it by now.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a := t.ALB
	if a == nil {
		if rt.Env.HA && t.Kind == target.KindAWS {
			return nil, fmt.Errorf("%s has no alb settings for the ha environment %s: run cso deploy again (Terraform output admin_dashboard)", rt.TargetFile, t.Env)
		}
		return nil, nil
	}
	return []string{"--alb-signer", a.Signer, "--alb-region", a.Region,
		"--cognito-user-pool", a.UserPoolID, "--cognito-region", a.UserPoolRegion,
		"--cognito-client-id", a.ClientID, "--admin-group", a.AdminGroup}, nil
}

// logFormat is --log-format json on EC2, where the CloudWatch agent ships the dashboard's
// log (/cso/<env>/admin) and Logs Insights splits JSON lines into fields; the local
// target keeps the text an operator reads in its log file.
func logFormat(rt *agent.Runtime) []string {
	if !rt.Distro().EC2 {
		return nil
	}
	return []string{"--log-format", "json"}
}
