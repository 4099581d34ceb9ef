package keystone

import (
	"context"
	"fmt"
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

// Render implements agent.Renderer for a fresh host, where the shared store decides: the
// first node finds no published set (a fresh environment) and creates one, every other
// node waits for it. The keys are random (32 bytes in URL-safe base64, as keystone-manage
// writes them), shown as placeholders; the marker holds the hash of the set.
func (t keySetTask) Render(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	names := []string{"0", "1"} // the staged and the primary key of a new set
	key := func(name string) []byte {
		return []byte(fmt.Sprintf("<generated:%s-key-%s>", t.kind, name))
	}
	if first(rt.Host) {
		r.Note("%s key set: the first node creates it when %s holds none (as keystone-manage %s would), else installs the published one", t.kind, t.shared, t.setup)
	} else {
		r.NoteWait(fmt.Sprintf("the %s key set the first node publishes to %s", t.kind, t.shared), rt.PeerWait(KeyWaitTimeout))
	}
	for _, n := range names {
		r.AddFile(agent.File{Path: filepath.Join(t.local, n), Content: key(n), Mode: 0o600, Owner: User, Group: Group, Secret: true})
	}
	if first(rt.Host) {
		// Published as a directory written aside and renamed into place.
		r.AddDir(agent.Dir{Path: t.shared, Mode: 0o700})
		for _, n := range names {
			r.AddFile(agent.File{Path: filepath.Join(t.shared, n), Content: key(n), Mode: 0o600, Secret: true})
		}
	}
	if t.marker != "" {
		r.AddFile(agent.File{Path: t.marker, Content: []byte(fmt.Sprintf("<hash of the %s key set>\n", t.kind)), Mode: 0o600})
	}
	return nil
}
