package jump

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// AdminService is the supervisor/systemd name of the admin dashboard.
const AdminService = "cso-admin"

// adminTask runs the admin dashboard (`cso admin serve`, LLD 3.5.1) on the jump host's
// admin port (8081, ARCHITECTURE.md) with TLS from the project CA. It needs the target
// description and the cso executable; without them the role has no admin step.
func adminTask(rt *agent.Runtime) agent.Task {
	// Without the cso binary (a test binary is not one) there is nothing to run.
	if rt.TargetFile == "" || rt.Executable == "" {
		return nil
	}
	exe := rt.Executable
	port := rt.Host.Ports[inventory.PortAdmin]
	store := pki.Store{Dir: rt.Paths.SSLCerts}
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	if rt.Host.Address == "127.0.0.1" {
		listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	spec := agent.ServiceSpec{
		Name: AdminService,
		Command: []string{exe, "admin", "serve", "--target", rt.TargetFile, "--listen", listen,
			"--cert", store.ServerCert(rt.Host.Name), "--key", store.ServerKey(rt.Host.Name)},
		ConfigFiles: []string{exe, store.ServerCert(rt.Host.Name), store.ServerKey(rt.Host.Name), store.CACert()},
		// A file the CloudWatch agent ships (log group /cso/<env>/admin, internal/cwagent).
		LogFile: agent.ServiceLog(rt.Paths, AdminService),
		Ready: func(ctx context.Context) error {
			caPEM, err := os.ReadFile(store.CACert())
			if err != nil {
				return err
			}
			pool, err := pki.Pool(caPEM)
			if err != nil {
				return err
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: rt.Host.FQDN}, DisableKeepAlives: true}}
			return agent.HTTPGetOK(ctx, c, fmt.Sprintf("https://127.0.0.1:%d/health", port))
		},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  15 * time.Second,
	}
	return rt.Platform.Service(spec)
}
