//go:build linux

package cli

import (
	"fmt"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/target"
)

// loadLocalKeysTarget is the local target in localDir: its hosts, its status store and the
// shared store of key sets (the local target runs on Linux only).
func loadLocalKeysTarget(g *Globals, localDir string) (keysTarget, error) {
	l, err := local.NewLayout(localDir)
	if err != nil {
		return keysTarget{}, Exit(ExitUsage, err)
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return keysTarget{}, Exit(ExitUsage, fmt.Errorf("%w (is %s a local target that cso local up created?)", err, localDir))
	}
	env, err := loadLocalEnv(g, t.Env)
	if err != nil {
		return keysTarget{}, err
	}
	first := inventory.HostName(envfile.RoleKeystone, 1)
	lk := &localKeys{dir: l.Dir, shared: keystone.Paths(l.Paths(first), first)}
	return keysTarget{env: env, hosts: t.Hosts, local: lk, store: l.Store()}, nil
}
