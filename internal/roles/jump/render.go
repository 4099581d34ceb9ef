package jump

import (
	"context"
	"fmt"

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

func (t tfCertTask) Render(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	cert, key, _, ok, err := t.src.HostTLS(ctx, t.host.Name)
	if err != nil || !ok {
		return fmt.Errorf("%w: the pair comes from %s", agent.ErrNeedsLiveHost, agent.HostTLSSecretID(rt.Env.Name, t.host.Name))
	}
	r.AddDir(agent.Dir{Path: t.store.HostDir(t.host.Name)})
	// The key's group is the daemon's when that group exists on the jump host (none of
	// them does on a fresh one), else root.
	r.AddFile(agent.File{Path: t.store.ServerKey(t.host.Name), Content: pemText(key), Mode: 0o640, Secret: true})
	if g, ok := keyGroup[t.host.Role]; ok {
		r.Note("%s: group %s instead of root once a group %s exists on this host", t.store.ServerKey(t.host.Name), g, g)
	}
	r.AddFile(agent.File{Path: t.store.ServerCert(t.host.Name), Content: pemText(cert), Mode: 0o644})
	return nil
}
