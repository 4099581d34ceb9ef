package keystone

import (
	"context"

	"github.com/cso-ssp/platform/internal/agent"
)

// Render implements agent.Renderer: a fresh host has no virtual environment.
func (t venvTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.AddCommand(agent.Command{Args: VenvCommand(t.venv)})
	r.AddCommand(agent.Command{Args: PipInstallCommand(t.venv)})
	return nil
}
