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
// system Python (the Python that mod_wsgi, built into the same venv, embeds), every
// dependency pinned by that release's upper constraints.
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
// mysql+pymysql) and the memcached client of oslo_cache.memcache_pool (oslo.cache's
// "dogpile" extra, which Keystone itself does not require).
var pipPackages = []string{"PyMySQL", "python-memcached"}

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

// venvDists returns the lower-cased names of the *.dist-info and *.egg-info directories in
// venv's site-packages, e.g. "keystone-25.0.0.dist-info" (a wheel) or
// "mod_wsgi-5.0.2-py3.9.egg-info" (pip's legacy setup.py install of an sdist, which is how a
// venv without the wheel package installs mod_wsgi).
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
			if e.IsDir() && (strings.HasSuffix(e.Name(), ".dist-info") || strings.HasSuffix(e.Name(), ".egg-info")) {
				out = append(out, strings.ToLower(e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// distVersion is the version of the distribution name among dists ("" when absent).
func distVersion(dists []string, name string) string {
	// A wheel's metadata directory spells the project name with "_" for "-"
	// (python_memcached-1.62.dist-info).
	lower := strings.ToLower(name)
	for _, d := range dists {
		v, ok := strings.CutPrefix(d, lower+"-")
		if !ok {
			v, ok = strings.CutPrefix(d, strings.ReplaceAll(lower, "-", "_")+"-")
		}
		if ok {
			v = strings.TrimSuffix(strings.TrimSuffix(v, ".dist-info"), ".egg-info")
			v, _, _ = strings.Cut(v, "-") // the -py3.9 of an egg-info
			return v
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

// mod_wsgi on Amazon Linux 2023, which has no mod_wsgi package (amazon-linux-2023 issues
// #267 and #532; docs/decisions/roles.md): pip builds it from PyPI into the Keystone venv,
// against the system Python the venv is made of and the system Apache (apxs from
// httpd-devel), and Apache loads the module that build produces through a stable path.
const (
	// ModWSGIRelease is the newest mod_wsgi line that still supports Python 3.9: 5.0.x
	// requires Python >= 3.8 and Apache 2.4; 6.x requires Python 3.10.
	ModWSGIRelease = "5.0.2"
	// ModWSGIBuildTimeout bounds the download and the compile.
	ModWSGIBuildTimeout = 10 * time.Minute
)

// ModWSGIPath is where Apache loads mod_wsgi from on Amazon Linux: a symbolic link, kept by
// modWSGITask, to the module pip built in venv
// (site-packages/mod_wsgi/server/mod_wsgi-py39.cpython-39-x86_64-linux-gnu.so on x86_64).
func ModWSGIPath(venv string) string { return filepath.Join(venv, "apache", "mod_wsgi.so") }

// ModWSGIPipCommand builds and installs the pinned mod_wsgi into venv. Without the OpenStack
// constraints: mod_wsgi is no Keystone dependency and has no dependencies of its own.
func ModWSGIPipCommand(venv string) []string {
	return []string{filepath.Join(venv, "bin", "pip"), "install", "--no-cache-dir", "mod_wsgi==" + ModWSGIRelease}
}

// modWSGIBuiltGlob matches the module that the mod_wsgi build puts in venv: setup.py names
// the extension mod_wsgi.server.mod_wsgi-py<major><minor>, and the build adds the
// interpreter's suffix (.cpython-39-x86_64-linux-gnu.so).
func modWSGIBuiltGlob(venv string) string {
	return filepath.Join(venvSitePackagesGlob(venv), "mod_wsgi", "server", "mod_wsgi-py*.so")
}

// modWSGITask keeps the pinned mod_wsgi built in venv and module (ModWSGIPath) pointing at
// the built Apache module. Current when venv holds mod_wsgi ModWSGIRelease, exactly one
// built module, and module links to it; otherwise it runs pip (only when the version is not
// the pin) and (re)links.
type modWSGITask struct {
	venv, module string
	runner       agent.Runner
}

func (t modWSGITask) Name() string { return "mod_wsgi in " + t.venv }

// state returns the built module and what is not current ("" when all is).
func (t modWSGITask) state() (built, why string, err error) {
	dists, err := venvDists(t.venv)
	if err != nil {
		return "", "", err
	}
	switch have := distVersion(dists, "mod_wsgi"); have {
	case ModWSGIRelease:
	case "":
		return "", "no mod_wsgi installed", nil
	default:
		return "", "has mod_wsgi " + have, nil
	}
	found, err := filepath.Glob(modWSGIBuiltGlob(t.venv))
	if err != nil {
		return "", "", err
	}
	switch len(found) {
	case 0:
		return "", "no built module " + modWSGIBuiltGlob(t.venv), nil
	case 1:
	default:
		return "", "", fmt.Errorf("more than one built mod_wsgi module in %s: %s", t.venv, strings.Join(found, ", "))
	}
	if target, err := os.Readlink(t.module); err != nil || target != found[0] {
		return found[0], t.module + " does not link to " + found[0], nil
	}
	return found[0], "", nil
}

func (t modWSGITask) Check(context.Context, *agent.Runtime) (agent.Change, error) {
	_, why, err := t.state()
	if err != nil {
		return agent.Change{}, err
	}
	if why == "" {
		return agent.NoChange, nil
	}
	return agent.Change{Needed: true, Summary: fmt.Sprintf("build mod_wsgi %s into %s with pip and link %s (%s)",
		ModWSGIRelease, t.venv, t.module, why)}, nil
}

func (t modWSGITask) Apply(ctx context.Context, rt *agent.Runtime) error {
	dists, err := venvDists(t.venv)
	if err != nil {
		return err
	}
	if distVersion(dists, "mod_wsgi") != ModWSGIRelease {
		rt.Progressf("  pip install mod_wsgi==%s into %s (compiled against httpd and Python %s; bounded by %s)",
			ModWSGIRelease, t.venv, SystemPython, ModWSGIBuildTimeout)
		if _, err := t.runner.Run(ctx, agent.Command{Args: ModWSGIPipCommand(t.venv), Timeout: ModWSGIBuildTimeout}); err != nil {
			return fmt.Errorf("build mod_wsgi %s into %s (needs httpd-devel, python3-devel, gcc): %w", ModWSGIRelease, t.venv, err)
		}
	}
	built, why, err := t.state()
	if err != nil {
		return err
	}
	if built == "" {
		return fmt.Errorf("pip install finished but %s has no usable mod_wsgi: %s", t.venv, why)
	}
	if why != "" {
		if err := os.MkdirAll(filepath.Dir(t.module), 0o755); err != nil {
			return err
		}
		// Replace atomically: Apache may start while the link is swapped.
		tmp := t.module + ".new"
		os.Remove(tmp)
		if err := os.Symlink(built, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, t.module); err != nil {
			return err
		}
	}
	if _, why, err := t.state(); err != nil || why != "" {
		return fmt.Errorf("mod_wsgi in %s is not current after the install: %s %v", t.venv, why, err)
	}
	return nil
}
