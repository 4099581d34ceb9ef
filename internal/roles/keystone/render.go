package keystone

import (
	"context"
	"path/filepath"

	"github.com/cso-ssp/platform/internal/agent"
)

// Render implements agent.Renderer: a fresh host has no virtual environment.
func (t venvTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.AddCommand(agent.Command{Args: VenvCommand(t.venv)})
	r.AddCommand(agent.Command{Args: PipInstallCommand(t.venv)})
	return nil
}

// Render implements agent.Renderer: a fresh venv has no mod_wsgi, so pip builds it and the
// link is made. The link's target is the one module the build produced, matched by the
// glob (its name carries the Python version and machine, e.g. mod_wsgi-py39.cpython-39-
// x86_64-linux-gnu.so); Apply refuses more than one.
func (t modWSGITask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.AddCommand(agent.Command{Args: ModWSGIPipCommand(t.venv)})
	r.AddDir(agent.Dir{Path: filepath.Dir(t.module)})
	r.Note("the link target is the module the build produced, the one match of %s", modWSGIBuiltGlob(t.venv))
	r.AddShell("ln -sfn " + modWSGIBuiltGlob(t.venv) + " " + agent.ShellQuote(t.module))
	return nil
}
