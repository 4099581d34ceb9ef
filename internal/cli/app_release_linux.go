//go:build linux

package cli

import (
	"io"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/release"
)

func init() {
	localRelease = func(g *Globals, dir string, out io.Writer) (*releaseTarget, error) {
		envName, _, _, err := local.TargetShape(dir)
		if err != nil {
			return nil, err
		}
		env, err := loadLocalEnv(g, envName)
		if err != nil {
			return nil, err
		}
		r, err := local.OpenRollout(dir, env, out)
		if err != nil {
			return nil, err
		}
		return &releaseTarget{
			Store:  release.Store{Objects: deploy.DirStore{Dir: r.L.Bucket()}, Bucket: agent.DirBucket{Dir: r.L.Bucket()}},
			Status: r.StatusStore(), Hosts: r.Hosts, Driver: r, App: apppkg.ConfiguredName(env),
		}, nil
	}
}
