package frontend

import (
	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
)

// Facts publishes the application package the host runs (name, version, checksum):
// `cso app deploy` waits for it on AWS and `cso app status` shows it.
func (Role) Facts(rt *agent.Runtime) map[string]string { return apppkg.Facts(rt) }
