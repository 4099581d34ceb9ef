//go:build !windows

package logs

import (
	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/cwagent"
	"github.com/cso-ssp/platform/internal/inventory"
)

// ec2Paths are the EC2 hosts' paths (only the log names derive from them here).
var ec2Paths = agent.Paths{Root: "/", SSLCerts: "/opt/ssl-certs", Scripts: "/opt/scripts", Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run"}

// ec2LogNames are the logs host h ships to CloudWatch Logs (cwagent.Logs).
func ec2LogNames(h inventory.Host) []string {
	var names []string
	for _, l := range cwagent.Logs(h, ec2Paths) {
		names = append(names, l.Name)
	}
	return names
}
