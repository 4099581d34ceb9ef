package logs

import "github.com/cso-ssp/platform/internal/inventory"

// ec2LogNames: cwagent does not build on Windows (see staticLogNames).
func ec2LogNames(h inventory.Host) []string { return staticLogNames(h) }
