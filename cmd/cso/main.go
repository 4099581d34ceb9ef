// Command cso is the CSO Shared Services Portal platform tool: environment files,
// Terraform deployment, the host agent, health checks, the admin dashboard and the local target.
package main

import (
	"os"

	"github.com/cso-ssp/platform/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
