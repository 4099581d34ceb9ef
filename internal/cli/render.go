//go:build linux

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// RenderedExecutable is where the EC2 user data installs cso (terraform/modules/compute/
// templates/user-data.sh.tftpl); services that run cso name it.
const RenderedExecutable = "/usr/local/bin/cso"

// renderRuntime builds the Runtime of host index of role in env as on EC2 (the LLD's paths,
// Amazon Linux 2023) but for a rendering: secrets are placeholders, the command runner runs
// nothing and answers as a fresh host, there is no bucket.
func renderRuntime(env *envfile.Env, r envfile.Role, index int, mysqlAdmin string) (*agent.Runtime, error) {
	hosts := inventory.Hosts(env)
	h, ok := inventory.Find(hosts, inventory.HostName(r, index))
	if !ok {
		return nil, fmt.Errorf("environment %s (%s) has no %s host %d (counts.%s is %d)", env.Name, env.Path, r, index, r, env.Count(r))
	}
	secrets := agent.RenderSecrets{}
	if r == envfile.RoleJump { // as the compute module's user data (db_master_secret)
		secrets.MasterSecretID = agent.RenderedMasterSecretARN
	}
	al := agent.NewAL2023()
	al.Runner = &agent.FreshHostRunner{}
	return &agent.Runtime{
		// Renderings assume a host of RenderedCPUs processors; on the host the agent counts.
		CPUs: RenderedCPUs,
		Env:  env, Host: h, Hosts: hosts, Paths: EC2Paths, Platform: al,
		Secrets: secrets,
		// A rendering knows no RDS endpoint (the agent reads it from the published target
		// description): the LLD's name stands in for it.
		MySQL:          env.FQDN("mysql") + ":3306",
		MySQLAdminUser: mysqlAdmin,
		MySQLCAFile:    target.RDSCABundle,
		Bucket:         agent.NoBucket{},
		TargetFile:     filepath.Join(EC2Paths.Scripts, target.FileName),
		Executable:     RenderedExecutable,
	}, nil
}

// RenderedCPUs is the processor count a rendering assumes (worker pools sized from it):
// 2, the vCPUs of the smallest instance types of LLD 2.4.1 (t2.medium, t2.large).
const RenderedCPUs = 2

// renderHost writes the rendering of one host into dir, which must not exist or be empty.
// Bad input (flags, env file, host, dir) is ExitUsage and nothing is written; the rendering
// is made in memory and written to a sibling directory that is renamed into place.
func renderHost(ctx context.Context, g *Globals, dir, envName, roleName string, index int, mysqlAdmin string) error {
	if envName == "" || roleName == "" || index < 1 {
		return Exit(ExitUsage, errors.New("--render DIR needs --env, --role and --index"))
	}
	r, err := envfile.ParseRole(roleName)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return Exit(ExitUsage, fmt.Errorf("--render %s: the directory exists and is not empty; give a new or empty directory", dir))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Exit(ExitUsage, fmt.Errorf("--render %s: %w", dir, err))
	}
	path := envfile.PathFor(g.EnvDir, envName)
	// Placeholders are accepted: a rendering contacts no AWS API and no role uses the
	// account, the ALB's ARNs or the alarm e-mail (docs/decisions/agent.md).
	env, err := envfile.Load(path)
	if err != nil {
		return Exit(ExitUsage, fmt.Errorf("environment %s: %w (check --env and --env-dir)", envName, err))
	}
	rt, err := renderRuntime(env, r, index, mysqlAdmin)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	role, err := roleFor(r)
	if err != nil {
		return err
	}
	rendering, err := agent.Render(ctx, rt, role)
	if err != nil {
		return Exit(ExitFailure, err)
	}
	if err := writeRendering(dir, rendering); err != nil {
		return Exit(ExitFailure, err)
	}
	fmt.Fprintf(g.Stdout, "%s: rendered to %s: %d path(s), %d package(s), %d command line(s), %d step(s) need a live host\n",
		rt.Host.Name, dir, len(rendering.Manifest()), len(rendering.Packages), len(rendering.Commands), len(rendering.NotRendered))
	return nil
}

// writeRendering writes files/<absolute path>, manifest.txt, packages.txt, commands.txt and
// not-rendered.txt into dir, all or nothing.
func writeRendering(dir string, r *agent.Rendering) (err error) {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".render-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, f := range r.Manifest() {
		p := filepath.Join(tmp, "files", filepath.FromSlash(f.Path))
		if f.Dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// The rendered content holds placeholders, never a secret: readable by whoever
		// reviews it; the real mode is in the manifest.
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return err
		}
	}
	var manifest strings.Builder
	if err := r.WriteManifest(&manifest); err != nil {
		return err
	}
	lines := func(l []string) []byte {
		if len(l) == 0 {
			return nil
		}
		return []byte(strings.Join(l, "\n") + "\n")
	}
	for name, data := range map[string][]byte{
		"manifest.txt":     []byte(manifest.String()),
		"packages.txt":     lines(r.Packages),
		"commands.txt":     lines(r.Commands),
		"not-rendered.txt": lines(r.NotRendered),
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// Rename replaces an empty directory; a non-empty one was refused before.
	return os.Rename(tmp, dir)
}
