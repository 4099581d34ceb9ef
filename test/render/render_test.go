// Package render checks `cso agent --render` for every host of environments/env.prod-ha.yaml:
// each rendering equals its golden copy under testdata/, and the files in it pass the real
// tools of this machine (systemd-analyze verify, apache2 -t, nginx -t).
//
// After a change to a role's Amazon Linux output, regenerate the goldens and review the diff:
//
//	go test ./test/render -run TestGolden -update
//	git diff test/render/testdata
package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/cli"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite testdata/<env>/<host> from the current renderings")

const envName = "prod-ha"

var envDir = filepath.Join("..", "..", "environments")

// hosts returns every host of the environment.
func hosts(t *testing.T) []inventory.Host {
	t.Helper()
	env, err := envfile.Load(envfile.PathFor(envDir, envName))
	if err != nil {
		t.Fatal(err)
	}
	return inventory.Hosts(env)
}

// runCSO runs cso in-process.
func runCSO(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// render renders h into a new directory and returns it.
func render(t *testing.T, h inventory.Host) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), h.Name)
	code, out, stderr := runCSO("agent", "--render", dir, "--env", envName, "--env-dir", envDir,
		"--role", string(h.Role), "--index", strconv.Itoa(h.Index))
	if code != cli.ExitOK {
		t.Fatalf("cso agent --render for %s: exit %d\n%s%s", h.Name, code, out, stderr)
	}
	return dir
}

// tree returns every regular file under dir by its slash-separated relative path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}

func TestGolden(t *testing.T) {
	if *update { // hosts that are gone lose their golden rendering too
		if err := os.RemoveAll(filepath.Join("testdata", envName)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hosts(t) {
		t.Run(h.Name, func(t *testing.T) {
			got := render(t, h)
			golden := filepath.Join("testdata", envName, h.Name)
			if *update {
				if err := os.RemoveAll(golden); err != nil {
					t.Fatal(err)
				}
				if err := os.CopyFS(golden, os.DirFS(got)); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, have := tree(t, golden), tree(t, got)
			if len(want) == 0 {
				t.Fatalf("no golden rendering in %s: run go test ./test/render -run TestGolden -update", golden)
			}
			same := true
			for name := range want {
				if _, ok := have[name]; !ok {
					same = false
					t.Errorf("%s: in the golden rendering, no longer rendered", name)
				}
			}
			for name, data := range have {
				w, ok := want[name]
				switch {
				case !ok:
					same = false
					t.Errorf("%s: rendered, not in the golden rendering", name)
				case !bytes.Equal(w, data):
					same = false
					t.Errorf("%s differs from the golden rendering:\n%s", name, diff(name, w, data))
				}
			}
			if !same {
				t.Log("if the change is intended: go test ./test/render -run TestGolden -update, and review git diff test/render/testdata")
			}
		})
	}
}

// diff returns a unified diff of want and got (diff(1) when there is one, else both).
func diff(name string, want, got []byte) string {
	dir, err := os.MkdirTemp("", "render-diff-")
	if err == nil {
		defer os.RemoveAll(dir)
		a, b := filepath.Join(dir, "golden"), filepath.Join(dir, "rendered")
		if os.WriteFile(a, want, 0o644) == nil && os.WriteFile(b, got, 0o644) == nil {
			out, _ := exec.Command("diff", "-u", "--label", "golden/"+name, "--label", "rendered/"+name, a, b).CombinedOutput()
			if len(out) > 0 {
				return string(out)
			}
		}
	}
	return fmt.Sprintf("--- golden\n%s\n+++ rendered\n%s", want, got)
}

// The rendering is the role's: files under files/ at their absolute paths with a manifest
// entry each, packages, commands in order, and every wait on a live host named.
func TestRenderingShape(t *testing.T) {
	var keystone inventory.Host
	for _, h := range hosts(t) {
		if h.Name == "keystone01" {
			keystone = h
		}
	}
	dir := render(t, keystone)
	files := tree(t, dir)
	manifest := string(files["manifest.txt"])
	for _, want := range []string{
		"/etc/httpd/keystone-httpd.conf 0644 root:root\n",
		"/etc/keystone/keystone.conf 0640 root:keystone\n",
		"/etc/systemd/system/keystone-httpd.service 0644 root:root\n",
		"/etc/keystone/ 0750 root:keystone\n",
	} {
		if !strings.Contains(manifest, want) {
			t.Errorf("manifest.txt has no line %q:\n%s", want, manifest)
		}
	}
	for line := range strings.SplitSeq(strings.TrimSpace(manifest), "\n") {
		path, _, _ := strings.Cut(line, " ")
		if !strings.HasSuffix(path, "/") {
			if _, ok := files["files"+path]; !ok {
				t.Errorf("manifest lists %s but files%s is not written", path, path)
			}
		}
	}
	conf := string(files["files/etc/keystone/keystone.conf"])
	if !strings.Contains(conf, "<secret:keystone-db-password>") {
		t.Errorf("keystone.conf does not show where the database password goes:\n%s", conf)
	}
	if !strings.Contains(string(files["packages.txt"]), "httpd\n") {
		t.Errorf("packages.txt: %s", files["packages.txt"])
	}
	cmds := string(files["commands.txt"])
	install := strings.Index(cmds, "dnf install -y --setopt=install_weak_deps=False httpd")
	start := strings.Index(cmds, "systemctl restart keystone-httpd.service")
	if install < 0 || start < 0 || install > start {
		t.Errorf("commands.txt: want the dnf install before the service start:\n%s", cmds)
	}
	if !strings.Contains(cmds, "runuser -u keystone -- env --chdir=/var/lib/keystone OS_BOOTSTRAP_PASSWORD=<secret:keystone-admin-password> /opt/keystone-venv/bin/keystone-manage --config-file /etc/keystone/keystone.conf bootstrap ") {
		t.Errorf("commands.txt has no keystone-manage bootstrap as the keystone user, with the secret named:\n%s", cmds)
	}
	// The fernet key set of a fresh environment: created by the first node, keys as
	// placeholders, published to the shared store.
	if !strings.Contains(manifest, "/etc/keystone/fernet-keys/1 0600 keystone:keystone\n") ||
		!strings.Contains(manifest, "/opt/keystone-keys/fernet-keys/1 0600 root:root\n") ||
		string(files["files/etc/keystone/fernet-keys/1"]) != "<generated:fernet-key-1>" {
		t.Errorf("the fernet key set is not rendered:\n%s", manifest)
	}
	if !strings.Contains(cmds, "# then wait (at most ") || len(files["not-rendered.txt"]) != 0 {
		t.Errorf("the waits are not named, or a step is not rendered:\n%s\n%s", cmds, files["not-rendered.txt"])
	}
}

// Bad input: exit 2, a message that names the problem, nothing written.
func TestRenderBadInput(t *testing.T) {
	badEnv := t.TempDir()
	if err := os.WriteFile(envfile.PathFor(badEnv, envName), []byte("prod: true\nha: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, want string
		args            []string
	}{
		{"index the environment does not have", "", "environment prod-ha (../../environments/env.prod-ha.yaml) has no keystone host 3 (counts.keystone is 2)",
			[]string{"--role", "keystone", "--index", "3", "--env-dir", envDir}},
		{"unknown role", "", "role", []string{"--role", "database", "--index", "1", "--env-dir", envDir}},
		{"directory not empty", full, "the directory exists and is not empty", []string{"--role", "keystone", "--index", "1", "--env-dir", envDir}},
		{"invalid env file", "", "env.prod-ha.yaml:2:", []string{"--role", "keystone", "--index", "1", "--env-dir", badEnv}},
		{"missing env file", "", "environment prod-ha", []string{"--role", "keystone", "--index", "1", "--env-dir", t.TempDir()}},
		{"no index", "", "--render DIR needs --env, --role and --index", []string{"--role", "keystone", "--env-dir", envDir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := c.dir
			if dir == "" {
				dir = filepath.Join(parent, "out")
			}
			code, _, stderr := runCSO(append([]string{"agent", "--render", dir, "--env", envName}, c.args...)...)
			if code != cli.ExitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, cli.ExitUsage, c.want, stderr)
			}
			if c.dir == "" {
				if entries, _ := os.ReadDir(parent); len(entries) > 0 {
					t.Errorf("something was written: %v", entries)
				}
			} else if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the non-empty directory was changed: %v", entries)
			}
		})
	}
}

// notRenderedAllowed are the tasks that may appear in not-rendered.txt, by the start of
// their name, each with the reason it cannot be rendered. A task that drops out of the
// rendering (a new task without a Render or RenderFunc) fails TestEverythingRendered
// until it renders or is added here with its reason.
var notRenderedAllowed = map[string]string{
	// Only with application.package set (not in env.prod-ha.yaml; the test adds it).
	"unpack application package: ": "what is unpacked, and where, is the package's content, which a rendering does not open",
	"application services (":       "the services are those of the package's manifest (cso-app.yaml)",
	"application bindings: ":       "the bindings written are those the package's manifest lists (docs/application-packages.md)",
}

// withPackage returns an env directory holding env.prod-ha.yaml with an application
// package set, as an operator would upload it.
func withPackage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(envfile.PathFor(envDir, envName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("\napplication:")) {
		t.Fatal("env.prod-ha.yaml sets application: adapt withPackage")
	}
	dir := t.TempDir()
	data = append(data, []byte("application:\n  package: s3://prod-ha-cso-files-111122223333/packages/app-1.0.tar.gz\n")...)
	if err := os.WriteFile(envfile.PathFor(dir, envName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEverythingRendered(t *testing.T) {
	pkgEnv := withPackage(t)
	type rendering struct {
		name string
		dir  string
	}
	var all []rendering
	for _, h := range hosts(t) {
		all = append(all, rendering{h.Name, render(t, h)})
		if h.Role == envfile.RoleFrontend || h.Role == envfile.RoleBackend {
			dir := filepath.Join(t.TempDir(), h.Name)
			code, out, stderr := runCSO("agent", "--render", dir, "--env", envName, "--env-dir", pkgEnv,
				"--role", string(h.Role), "--index", strconv.Itoa(h.Index))
			if code != cli.ExitOK {
				t.Fatalf("cso agent --render for %s with a package: exit %d\n%s%s", h.Name, code, out, stderr)
			}
			all = append(all, rendering{h.Name + " (with application.package)", dir})
		}
	}
	for _, h := range all {
		files := tree(t, h.dir)
		for line := range strings.SplitSeq(strings.TrimSpace(string(files["not-rendered.txt"])), "\n") {
			if line == "" {
				continue
			}
			allowed := false
			for name := range notRenderedAllowed {
				if strings.HasPrefix(line, name) {
					allowed = true
				}
			}
			if !allowed {
				t.Errorf("%s: not rendered and not on notRenderedAllowed: %s", h.name, line)
			}
		}
		// commands.txt names the same steps in place.
		listed := strings.Count(string(files["not-rendered.txt"]), "\n")
		if named := strings.Count(string(files["commands.txt"]), "# NOT RENDERED: "); named != listed {
			t.Errorf("%s: commands.txt names %d step(s) NOT RENDERED, not-rendered.txt %d", h.name, named, listed)
		}
	}
}

// Every host runs the agent timer and the CloudWatch agent: their files and commands are
// in the rendering, and the agent's configuration is JSON.
func TestTimerAndCloudWatchRendered(t *testing.T) {
	for _, h := range hosts(t) {
		files := tree(t, render(t, h))
		for _, p := range []string{"files/etc/systemd/system/cso-agent.service", "files/etc/systemd/system/cso-agent.timer"} {
			if _, ok := files[p]; !ok {
				t.Errorf("%s: no %s", h.Name, p)
			}
		}
		conf, ok := files["files/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"]
		if !ok {
			t.Errorf("%s: no CloudWatch agent configuration", h.Name)
		}
		var doc struct {
			Logs struct {
				LogsCollected struct {
					Files struct {
						CollectList []struct {
							FilePath     string `json:"file_path"`
							LogGroupName string `json:"log_group_name"`
						} `json:"collect_list"`
					} `json:"files"`
				} `json:"logs_collected"`
			} `json:"logs"`
		}
		if err := json.Unmarshal(conf, &doc); err != nil {
			t.Errorf("%s: the CloudWatch agent configuration is no JSON: %v", h.Name, err)
		} else if len(doc.Logs.LogsCollected.Files.CollectList) == 0 {
			t.Errorf("%s: the CloudWatch agent collects no log file:\n%s", h.Name, conf)
		}
		cmds := string(files["commands.txt"])
		for _, want := range []string{
			"systemctl enable --now cso-agent.timer\n",
			"amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json\n",
			"systemctl enable amazon-cloudwatch-agent.service\n",
		} {
			if !strings.Contains(cmds, want) {
				t.Errorf("%s: commands.txt has no %q", h.Name, want)
			}
		}
		if !strings.Contains(string(files["packages.txt"]), "amazon-cloudwatch-agent\n") {
			t.Errorf("%s: packages.txt has no amazon-cloudwatch-agent", h.Name)
		}
	}
}
