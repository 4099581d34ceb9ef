package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// agentCheckTimeout bounds each probe of the jump server's check run.
const agentCheckTimeout = 10 * time.Second

// publishChecks runs the check engine on the environment's description (targetFile) from
// the jump server, which reaches every host, and publishes the report to the status store,
// where `cso deploy` (on a workstation that reaches none) waits for it. Every run of the
// jump server's agent does it, the resync timer's included; a problem is reported, never
// a failure of the agent's own setup.
func publishChecks(ctx context.Context, g *Globals, rt *agent.Runtime, store status.Store, targetFile string) {
	cs, ok := store.(status.CheckStore)
	if rt.Host.Role != envfile.RoleJump || !ok || rt.DryRun {
		return
	}
	t, err := target.Load(targetFile)
	if err != nil {
		fmt.Fprintf(g.Stderr, "warning: checks not run: %v\n", err)
		return
	}
	rep := check.New(t, check.Options{Timeout: agentCheckTimeout, Status: store}).Run(ctx)
	data, err := json.Marshal(rep)
	if err == nil {
		err = cs.PutCheck(ctx, status.CheckReport{Host: rt.Host.Name, Env: rt.Env.Name, Started: rep.Started, Published: time.Now(), Report: data})
	}
	if err != nil {
		fmt.Fprintf(g.Stderr, "warning: publishing the checks: %v\n", err)
		return
	}
	s := rep.Summary
	fmt.Fprintf(g.Stdout, "%s: checks published: %d ok, %d warn, %d fail, %d skipped\n", rt.Host.Name, s.OK, s.Warn, s.Fail, s.Skipped)
}
