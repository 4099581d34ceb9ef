package cwagent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

var ec2Paths = agent.Paths{Root: "/", SSLCerts: "/opt/ssl-certs", Scripts: "/opt/scripts", Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run"}

func loadEnv(t *testing.T, name string) *envfile.Env {
	t.Helper()
	env, err := envfile.Load(filepath.Join("..", "..", "environments", "env."+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestConfigPerRole: the JSON every host of dev-ha gets publishes the alarms' metrics and
// ships the role's logs of LLD 6.2 to /cso/<env>/<log>, one stream per host.
func TestConfigPerRole(t *testing.T) {
	env := loadEnv(t, "dev-ha")
	want := map[envfile.Role]map[string]string{
		envfile.RoleJump: {LogS3Sync: "/var/log/efs-s3-sync.log", LogAdmin: "/var/log/cso/cso-admin.log"},
		envfile.RoleKeystone: {LogKeystone: "/var/log/keystone/keystone.log", LogKeystoneHTTPD: "/var/log/httpd/keystone.log",
			LogKeystoneError: "/var/log/httpd/keystone-error.log"},
		envfile.RoleRabbitMQ: {LogRabbitMQ: "/var/log/rabbitmq/rabbit@rabbitmq-server-2.dev-ha.cso.ss.log"},
		envfile.RoleFrontend: {LogNginxAccess: "/var/log/nginx/access.log", LogNginxError: "/var/log/nginx/error.log",
			LogApplication: "/var/log/cso/application.log"},
		envfile.RoleBackend: {LogApplication: "/var/log/cso/application.log"},
	}
	for _, h := range inventory.Hosts(env) {
		var c struct {
			Agent   map[string]any
			Metrics struct {
				Namespace        string            `json:"namespace"`
				AppendDimensions map[string]string `json:"append_dimensions"`
				MetricsCollected map[string]struct {
					Measurement []string `json:"measurement"`
					Resources   []string `json:"resources"`
					DropDevice  bool     `json:"drop_device"`
					Interval    int      `json:"metrics_collection_interval"`
				} `json:"metrics_collected"`
			}
			Logs struct {
				LogsCollected struct {
					Files struct {
						CollectList []map[string]string `json:"collect_list"`
					} `json:"files"`
				} `json:"logs_collected"`
			}
		}
		data := ConfigFor(env.Name, h, ec2Paths).JSON()
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v\n%s", h.Name, err, data)
		}
		m := c.Metrics
		if m.Namespace != "CWAgent" || m.AppendDimensions["InstanceId"] != "${aws:InstanceId}" || len(m.AppendDimensions) != 1 {
			t.Errorf("%s: namespace %q, append_dimensions %v", h.Name, m.Namespace, m.AppendDimensions)
		}
		mem, disk := m.MetricsCollected["mem"], m.MetricsCollected["disk"]
		if !slices.Equal(mem.Measurement, []string{"mem_used_percent"}) || mem.Interval != 60 {
			t.Errorf("%s: mem %+v", h.Name, mem)
		}
		if !slices.Equal(disk.Measurement, []string{"disk_used_percent"}) || !slices.Equal(disk.Resources, []string{"/"}) || !disk.DropDevice {
			t.Errorf("%s: disk %+v, want disk_used_percent of / without the device dimension", h.Name, disk)
		}
		files := map[string]string{}
		for _, e := range c.Logs.LogsCollected.Files.CollectList {
			name, ok := strings.CutPrefix(e["log_group_name"], "/cso/dev-ha/")
			if !ok || e["log_stream_name"] != h.Name {
				t.Errorf("%s: %s goes to group %q stream %q", h.Name, e["file_path"], e["log_group_name"], e["log_stream_name"])
			}
			files[name] = e["file_path"]
		}
		wantFiles := map[string]string{
			LogSetup: "/var/log/cso-setup.log", LogCloudInit: "/var/log/cloud-init-output.log",
			LogAgent: "/var/log/" + string(h.Role) + "-setup-progress.log",
		}
		for k, v := range want[h.Role] {
			wantFiles[k] = v
		}
		if h.Role == envfile.RoleRabbitMQ && h.Index != 2 {
			wantFiles[LogRabbitMQ] = "/var/log/rabbitmq/rabbit@" + h.FQDN + ".log"
		}
		for k, v := range wantFiles {
			if files[k] != v {
				t.Errorf("%s: log %s ships %q, want %q", h.Name, k, files[k], v)
			}
		}
		if len(files) != len(wantFiles) {
			t.Errorf("%s: ships %v, want %v", h.Name, files, wantFiles)
		}
	}
}

type recordRunner struct {
	calls  []string
	active bool
}

func (r *recordRunner) Run(_ context.Context, c agent.Command) ([]byte, error) {
	r.calls = append(r.calls, strings.Join(c.Args, " "))
	if c.Args[0] == "rpm" || (c.Args[0] == "systemctl" && (c.Args[1] == "is-active" || c.Args[1] == "is-enabled")) {
		if !r.active {
			return nil, os.ErrNotExist
		}
	}
	return nil, nil
}

// TestStepAL2023: the package, the configuration file and the commands that load it and
// start the agent; re-running changes nothing; a new configuration reloads it.
func TestStepAL2023(t *testing.T) {
	env := loadEnv(t, "dev")
	dir := t.TempDir()
	r := &recordRunner{}
	p := &agent.AL2023{Runner: r, UnitDir: filepath.Join(dir, "units"), EnvDir: filepath.Join(dir, "env"), StateDir: filepath.Join(dir, "state")}
	h, _ := inventory.Find(inventory.Hosts(env), "keystone01")
	rt := &agent.Runtime{Env: env, Host: h, Paths: ec2Paths, Platform: p}
	step, ok := Step(rt)
	if !ok || step.Name != StepName || len(step.Tasks) != 2 {
		t.Fatalf("Step = %+v, %v", step, ok)
	}
	ctx := context.Background()
	pkg := step.Tasks[0]
	if c, err := pkg.Check(ctx, rt); err != nil || c.Summary != "install packages amazon-cloudwatch-agent" {
		t.Fatalf("package check %+v, %v", c, err)
	}
	r.calls = nil
	if err := pkg.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if want := "dnf install -y --setopt=install_weak_deps=False amazon-cloudwatch-agent"; !slices.Contains(r.calls, want) {
		t.Errorf("install commands %v, want %q", r.calls, want)
	}

	conf := filepath.Join(dir, "amazon-cloudwatch-agent.json")
	content := ConfigFor(env.Name, h, ec2Paths).JSON()
	task := runTask(p, conf, content)
	if c, err := task.Check(ctx, rt); err != nil || !c.Needed {
		t.Fatalf("fresh host: %+v, %v", c, err)
	}
	r.calls = nil
	if err := task.Apply(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{
		"/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:" + conf,
		"systemctl enable amazon-cloudwatch-agent.service",
	}
	if !slices.Equal(r.calls, wantCalls) {
		t.Errorf("commands %q, want %q", r.calls, wantCalls)
	}
	if got, _ := os.ReadFile(conf); string(got) != string(content) {
		t.Errorf("configuration file:\n%s\nwant\n%s", got, content)
	}
	if !strings.Contains(string(content), `"file_path": "/var/log/keystone/keystone.log"`) || !strings.Contains(string(content), `"log_group_name": "/cso/dev/keystone"`) {
		t.Errorf("keystone01's configuration lacks its Keystone log:\n%s", content)
	}
	r.active = true
	if c, err := task.Check(ctx, rt); err != nil || c.Needed {
		t.Errorf("converged: %+v, %v", c, err)
	}
	// The default path is the one the documentation names.
	if got := FetchConfigCommand(ConfigFile); got[len(got)-1] != "file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json" {
		t.Errorf("fetch-config %v", got)
	}
	task = runTask(p, conf, append(content, ' '))
	if c, _ := task.Check(ctx, rt); !c.Needed || !strings.Contains(c.Summary, "configuration file") {
		t.Errorf("changed configuration: %+v", c)
	}
}

type fakeRole struct{}

func (fakeRole) Role() envfile.Role                         { return envfile.RoleBackend }
func (fakeRole) Steps(*agent.Runtime) ([]agent.Step, error) { return []agent.Step{{Name: "app"}}, nil }
func (fakeRole) Facts(*agent.Runtime) map[string]string     { return map[string]string{"k": "v"} }

// TestWithCloudWatch: first step on al2023, none on the local platform; facts pass through.
func TestWithCloudWatch(t *testing.T) {
	env := loadEnv(t, "dev")
	h, _ := inventory.Find(inventory.Hosts(env), "backend-server-1")
	role := WithCloudWatch(fakeRole{})
	al := &agent.Runtime{Env: env, Host: h, Paths: ec2Paths, Platform: agent.NewAL2023()}
	steps, err := role.Steps(al)
	if err != nil || len(steps) != 2 || steps[0].Name != StepName || steps[1].Name != "app" {
		t.Errorf("al2023 steps %+v, %v", steps, err)
	}
	loc := &agent.Runtime{Env: env, Host: h, Paths: ec2Paths, Platform: agent.NewLocal(t.TempDir(), t.TempDir())}
	if steps, _ := role.Steps(loc); len(steps) != 1 || steps[0].Name != "app" {
		t.Errorf("local steps %+v: the local target has no CloudWatch", steps)
	}
	if role.Role() != envfile.RoleBackend {
		t.Errorf("role %s", role.Role())
	}
	if fr, ok := role.(agent.FactReporter); !ok || fr.Facts(al)["k"] != "v" {
		t.Error("facts of the wrapped role are lost")
	}
}
