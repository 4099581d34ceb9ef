package jump

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/cso-ssp/platform/internal/agent"
)

// What the AWS PKI tasks would install on a fresh jump host (cso agent --render;
// agent.Renderer): the files of Terraform's TLS secrets with their modes, the PEM content
// being the secret store's (placeholders in a rendering). The checks of the material
// (chain, names, expiry) need the real secrets and are not rendered.

func (t tfCATask) Render(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	_, _, ca, ok, err := t.src.HostTLS(ctx, rt.Host.Name)
	if err != nil || !ok {
		return fmt.Errorf("%w: the root CA comes from %s", agent.ErrNeedsLiveHost, agent.HostTLSSecretID(rt.Env.Name, rt.Host.Name))
	}
	r.AddFile(agent.File{Path: t.store.CACert(), Content: pemText(ca), Mode: 0o644})
	r.AddCommand(agent.Command{Args: append([]string{"rm", "-f"}, staleCAFiles(rt.Paths)...)})
	return nil
}

func (t sharedKeysTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.Note("remove any host private key an earlier agent left in the shared store: each host installs its own from its secret")
	r.AddShell("rm -f " + filepath.Join(t.store.Dir, "*", "server.key"))
	return nil
}

// renderSQL records a statement the agent sends over its own MySQL connection (Go's
// driver, no mysql client): a comment line naming the server and the login, since it is
// no shell command.
func renderSQL(rt *agent.Runtime, r *agent.Rendering, stmt string) {
	r.Note("SQL on %s as %s (password %s): %s;", rt.MySQL, rt.MySQLAdminUser, agent.SecretPlaceholder(agent.SecretMySQLAdmin), stmt)
}

// Render implements agent.Renderer. What is copied is what the bucket holds when the agent
// runs (what cso deploy published), so the objects are not listed: the rendering says
// where each prefix goes and how the copies are made.
func (syncTask) Render(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	r.AddMkdirAll(rt.Paths.Log)
	prefixes := make([]string, 0, len(SyncPrefixes))
	for p := range SyncPrefixes {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		r.Note("copy each object under %s/%s to %s (*.sh mode 0755, others 0644), through a temporary file and a rename; the objects listed in the bucket at run time decide what is copied",
			rt.Bucket.Describe(), p, filepath.Join(rt.Paths.Scripts, SyncPrefixes[p]))
	}
	r.Note("then record each copied object's version in %s (an object whose version, size or copy is unchanged is not copied again), logging to %s",
		filepath.Join(rt.Paths.Scripts, syncManifest), filepath.Join(rt.Paths.Log, SyncLog))
	return nil
}
