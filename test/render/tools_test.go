package render

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tool returns the path of a checking tool; missing, the test fails under CI=true and is
// skipped elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name)
			}
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: scripts/install-deps.sh installs it", name)
		}
		t.Skipf("%s is missing: run scripts/install-deps.sh", name)
	}
	return p
}

// renderedFiles renders every host and returns, per host, the rendering's directory and its
// files under files/ by their absolute path on the host.
func renderedFiles(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, h := range hosts(t) {
		dirs[h.Name] = render(t, h)
	}
	return dirs
}

func hostFiles(t *testing.T, dir string, match func(path string) bool) []string {
	t.Helper()
	var out []string
	files := filepath.Join(dir, "files")
	err := filepath.WalkDir(files, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		abs := "/" + filepath.ToSlash(strings.TrimPrefix(p, files+string(filepath.Separator)))
		if match(abs) {
			out = append(out, abs)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// notExecutableRE is the one complaint of systemd-analyze verify accepted here: the
// programs the units start are Amazon Linux's (httpd, rabbitmq-server, cso) and are not on
// this machine. Everything else it says fails the test.
var notExecutableRE = regexp.MustCompile(`^(\S+): Command (/\S+) is not executable: No such file or directory$`)

// verifyUnit runs systemd-analyze verify on one unit file and returns what it objects to.
func verifyUnit(t *testing.T, bin, unit string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "verify", "--man=no", unit).CombinedOutput()
	var bad []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		if m := notExecutableRE.FindStringSubmatch(line); m != nil && m[1] == filepath.Base(unit) {
			data, _ := os.ReadFile(unit)
			if strings.Contains(string(data), "="+m[2]) {
				continue // a command the unit names, absolute, missing only here
			}
		}
		bad = append(bad, line)
	}
	if ctx.Err() != nil {
		bad = append(bad, "systemd-analyze timed out: "+err.Error())
	}
	return bad
}

func TestUnitsVerify(t *testing.T) {
	bin := tool(t, "systemd-analyze")
	// The check itself: a unit with a bad Type= and Restart= is objected to.
	bad := filepath.Join(t.TempDir(), "bad.service")
	os.WriteFile(bad, []byte("[Service]\nType=bogus\nExecStart=/usr/bin/true\nRestart=sometimes\n"), 0o644)
	if got := verifyUnit(t, bin, bad); len(got) < 2 {
		t.Fatalf("systemd-analyze verify accepts a broken unit (%v): the check cannot judge", got)
	}
	n := 0
	for host, dir := range renderedFiles(t) {
		for _, u := range hostFiles(t, dir, func(p string) bool {
			return strings.HasPrefix(p, "/etc/systemd/system/") && (strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".timer"))
		}) {
			n++
			if objections := verifyUnit(t, bin, filepath.Join(dir, "files", u)); len(objections) > 0 {
				t.Errorf("%s %s: systemd-analyze verify:\n  %s", host, u, strings.Join(objections, "\n  "))
			}
		}
	}
	if n == 0 {
		t.Fatal("no unit in any rendering")
	}
}

// Paths of the host in a rendered configuration, moved under a scratch root so that the
// tool finds (or may create) what the configuration names.
var hostPathRE = regexp.MustCompile(`/(?:run|var|opt|etc|srv|home)/[^\s"';(),]*`)

// scratchConfig rewrites conf for this machine: every host path under root, the parent
// directory of each created, and each path that is named but not rendered created empty
// (a certificate from the shared store, a log file: a one-line comment) or as a directory (no dot in its name).
func scratchConfig(t *testing.T, conf, root, rendered string) string {
	t.Helper()
	return hostPathRE.ReplaceAllStringFunc(conf, func(p string) string {
		local := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(filepath.Join(rendered, "files", p)); err == nil {
			os.WriteFile(local, data, 0o644)
		} else if _, err := os.Stat(local); err != nil {
			if strings.Contains(filepath.Base(p), ".") {
				// Not empty (Apache refuses an empty certificate file); a comment for
				// the configuration languages.
				os.WriteFile(local, []byte("# stand-in: not part of the rendering\n"), 0o644)
			} else {
				os.MkdirAll(local, 0o755)
			}
		}
		return local
	})
}

// apacheModulesBuiltIn are the modules Debian's apache2 has compiled in (apache2 -l): their
// LoadModule lines, needed on Amazon Linux, are refused by Debian's.
func apacheModulesBuiltIn(t *testing.T, bin string) map[string]bool {
	out, err := exec.Command(bin, "-l").Output()
	if err != nil {
		t.Fatalf("%s -l: %v", bin, err)
	}
	m := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "mod_") && strings.HasSuffix(f, ".c") {
			m[strings.TrimSuffix(f, ".c")+".so"] = true
		}
	}
	return m
}

var (
	loadModuleRE = regexp.MustCompile(`(?m)^LoadModule\s+\S+\s+(\S+)\s*$`)
	apacheUserRE = regexp.MustCompile(`(?m)^(\s*(?:User|Group))\s+\S+`)
	wsgiUserRE   = regexp.MustCompile(`(\s)(user|group)=\S+`)
	nginxUserRE  = regexp.MustCompile(`(?m)^(\s*user)\s+[^;]+;`)
)

// debianApache maps an Amazon Linux httpd configuration to Debian's apache2: module
// paths (/usr/lib64/httpd/modules -> /usr/lib/apache2/modules, mod_wsgi_python3 ->
// mod_wsgi), built-in modules not loaded, accounts -> www-data.
func debianApache(conf string, builtIn map[string]bool) string {
	conf = loadModuleRE.ReplaceAllStringFunc(conf, func(line string) string {
		so := filepath.Base(loadModuleRE.FindStringSubmatch(line)[1])
		if builtIn[so] {
			return "# built into Debian's apache2: " + line
		}
		if so == "mod_wsgi_python3.so" {
			so = "mod_wsgi.so"
		}
		return strings.Replace(line, loadModuleRE.FindStringSubmatch(line)[1], "/usr/lib/apache2/modules/"+so, 1)
	})
	conf = apacheUserRE.ReplaceAllString(conf, "$1 www-data")
	return wsgiUserRE.ReplaceAllString(conf, "${1}${2}=www-data")
}

func TestApacheConfigs(t *testing.T) {
	bin := tool(t, "apache2")
	builtIn := apacheModulesBuiltIn(t, bin)
	check := func(conf string) (string, error) {
		f := filepath.Join(t.TempDir(), "httpd.conf")
		os.WriteFile(f, []byte(conf), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-t", "-f", f).CombinedOutput()
		return string(out), err
	}
	// The check itself: a directive Apache does not know is refused.
	if out, err := check("ServerRoot /tmp\nListen 127.0.0.1:1\nNoSuchDirective on\n"); err == nil {
		t.Fatalf("apache2 -t accepts an unknown directive: the check cannot judge\n%s", out)
	}
	n := 0
	for host, dir := range renderedFiles(t) {
		for _, c := range hostFiles(t, dir, func(p string) bool {
			return strings.HasPrefix(p, "/etc/httpd/") && strings.HasSuffix(p, ".conf")
		}) {
			n++
			data, _ := os.ReadFile(filepath.Join(dir, "files", c))
			conf := scratchConfig(t, debianApache(string(data), builtIn), t.TempDir(), dir)
			if out, err := check(conf); err != nil || !strings.Contains(out, "Syntax OK") {
				t.Errorf("%s %s: apache2 -t: %v\n%s\n--- as checked:\n%s", host, c, err, out, conf)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Apache configuration in any rendering")
	}
}

func TestNginxConfigs(t *testing.T) {
	bin := tool(t, "nginx")
	check := func(conf string) (string, error) {
		f := filepath.Join(t.TempDir(), "nginx.conf")
		os.WriteFile(f, []byte(conf), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// -e: its own error log before the configuration's is read (not /var/log/nginx).
		out, err := exec.CommandContext(ctx, bin, "-t", "-q", "-e", "stderr", "-p", filepath.Dir(f), "-c", f).CombinedOutput()
		return string(out), err
	}
	if out, err := check("events {}\nhttp { no_such_directive on; }\n"); err == nil {
		t.Fatalf("nginx -t accepts an unknown directive: the check cannot judge\n%s", out)
	}
	n := 0
	for host, dir := range renderedFiles(t) {
		for _, c := range hostFiles(t, dir, func(p string) bool {
			return strings.HasPrefix(p, "/etc/nginx/") && strings.HasSuffix(p, ".conf")
		}) {
			n++
			data, _ := os.ReadFile(filepath.Join(dir, "files", c))
			conf := nginxUserRE.ReplaceAllString(string(data), "$1 www-data;")
			conf = scratchConfig(t, conf, t.TempDir(), dir)
			if out, err := check(conf); err != nil {
				t.Errorf("%s %s: nginx -t: %v\n%s\n--- as checked:\n%s", host, c, err, out, conf)
			}
		}
	}
	if n == 0 {
		t.Fatal("no nginx configuration in any rendering")
	}
}
