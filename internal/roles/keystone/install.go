package keystone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// Keystone on Amazon Linux 2023, which has no Keystone RPM (docs/decisions/roles.md):
// one OpenStack release, installed with pip from PyPI into a virtual environment of the
// system Python (the Python that Amazon Linux's mod_wsgi is built for), every dependency
// pinned by that release's upper constraints.
const (
	// KeystoneRelease is the Keystone of OpenStack 2024.1 "Caracal".
	KeystoneRelease = "25.0.0"
	// OpenStackSeries is the release whose upper constraints pin Keystone's dependencies.
	OpenStackSeries = "2024.1"
	// UpperConstraintsURL is that release's constraints file (pip -c).
	UpperConstraintsURL = "https://releases.openstack.org/constraints/upper/" + OpenStackSeries
	// VenvDir is the virtual environment on EC2 hosts.
	VenvDir = "/opt/keystone-venv"
	// SystemPython creates the virtual environment. An absolute path: mod_wsgi embeds this
	// Python (3.9 on Amazon Linux 2023), and the venv must be of the same version.
	SystemPython = "/usr/bin/python3"
	// InstallTimeout bounds the pip install (PyPI through the NAT gateway).
	InstallTimeout = 20 * time.Minute
	// VenvCreateTimeout bounds python3 -m venv.
	VenvCreateTimeout = 5 * time.Minute
)

// pipPackages are installed next to Keystone: its SQL driver (keystone.conf says
// mysql+pymysql). The configuration uses no memcache, so no memcache client.
var pipPackages = []string{"PyMySQL"}

// VenvCommand creates the virtual environment venv.
func VenvCommand(venv string) []string {
	return []string{SystemPython, "-m", "venv", venv}
}

// PipInstallCommand installs the pinned Keystone and its driver into venv.
func PipInstallCommand(venv string) []string {
	args := []string{filepath.Join(venv, "bin", "pip"), "install", "--no-cache-dir", "-c", UpperConstraintsURL,
		"keystone==" + KeystoneRelease}
	return append(args, pipPackages...)
}

// venvSitePackagesGlob matches the site-packages directory of venv (lib/python3.N).
func venvSitePackagesGlob(venv string) string {
	return filepath.Join(venv, "lib", "python3*", "site-packages")
}

// venvDists returns the lower-cased names of the *.dist-info directories in venv's
// site-packages, e.g. "keystone-25.0.0.dist-info".
func venvDists(venv string) ([]string, error) {
	dirs, err := filepath.Glob(venvSitePackagesGlob(venv))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasSuffix(e.Name(), ".dist-info") {
				out = append(out, strings.ToLower(e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// distVersion is the version of the distribution name among dists ("" when absent).
func distVersion(dists []string, name string) string {
	prefix := strings.ToLower(name) + "-"
	for _, d := range dists {
		if v, ok := strings.CutPrefix(d, prefix); ok {
			return strings.TrimSuffix(v, ".dist-info")
		}
	}
	return ""
}

// venvTask keeps the pinned Keystone installed in the virtual environment venv: current
// when the venv holds keystone-<KeystoneRelease>.dist-info, the pip packages and
// bin/keystone-manage; otherwise it creates the venv if needed and runs pip, which also
// upgrades or downgrades an installed Keystone to the pin.
type venvTask struct {
	venv   string
	runner agent.Runner
}

func (t venvTask) Name() string { return "keystone in " + t.venv }

// state says what is missing from the venv ("" when it is current).
func (t venvTask) state() (string, error) {
	dists, err := venvDists(t.venv)
	if err != nil {
		return "", err
	}
	switch have := distVersion(dists, "keystone"); have {
	case KeystoneRelease:
	case "":
		return "no keystone installed", nil
	default:
		return "has keystone " + have, nil
	}
	for _, p := range pipPackages {
		if distVersion(dists, p) == "" {
			return "no " + p + " installed", nil
		}
	}
	manage := filepath.Join(t.venv, "bin", "keystone-manage")
	if st, err := os.Stat(manage); err != nil || st.Mode().Perm()&0o111 == 0 {
		return manage + " missing", nil
	}
	return "", nil
}

func (t venvTask) Check(context.Context, *agent.Runtime) (agent.Change, error) {
	why, err := t.state()
	if err != nil {
		return agent.Change{}, err
	}
	if why == "" {
		return agent.NoChange, nil
	}
	return agent.Change{Needed: true, Summary: fmt.Sprintf("install keystone %s (OpenStack %s) into %s with pip (%s)",
		KeystoneRelease, OpenStackSeries, t.venv, why)}, nil
}

func (t venvTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	if _, err := os.Stat(filepath.Join(t.venv, "bin", "python3")); err != nil {
		if _, err := t.runner.Run(ctx, agent.Command{Args: VenvCommand(t.venv), Timeout: VenvCreateTimeout}); err != nil {
			return fmt.Errorf("create the virtual environment %s: %w", t.venv, err)
		}
	}
	rt.Progressf("  pip install keystone==%s into %s (constraints %s; bounded by %s)", KeystoneRelease, t.venv, UpperConstraintsURL, InstallTimeout)
	if _, err := t.runner.Run(ctx, agent.Command{Args: PipInstallCommand(t.venv), Timeout: InstallTimeout}); err != nil {
		return fmt.Errorf("install keystone %s into %s: %w", KeystoneRelease, t.venv, err)
	}
	why, err := t.state()
	if err != nil {
		return err
	}
	if why != "" {
		return fmt.Errorf("pip install finished but %s is not current: %s", t.venv, why)
	}
	return nil
}
