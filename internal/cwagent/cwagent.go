// Package cwagent runs the Amazon CloudWatch agent on every al2023 host: it publishes the
// memory and disk metrics that the host alarms of terraform/modules/monitoring read
// (namespace CWAgent) and ships the logs of LLD 6.2 to CloudWatch Logs, one log group per
// log and environment (/cso/<env>/<log>), one stream per host.
//
// It is one step that WithCloudWatch adds in front of every role's steps, so that no role
// can forget it and a run that fails later has already shipped its progress log. The local
// platform has no CloudWatch: there the step is left out.
package cwagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
)

// Package is the Amazon Linux 2023 package of the agent (in the AL2023 repositories since
// release 2022.0.20220728: amazonlinux/amazon-linux-2023 issues #132 and #335).
const Package = "amazon-cloudwatch-agent"

// Where the package puts the agent, and the configuration file its documentation names.
const (
	Ctl        = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
	ConfigFile = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
	Unit       = "amazon-cloudwatch-agent.service"
	StepName   = "cloudwatch agent"
)

// Namespace and metric names of the host alarms (terraform/modules/monitoring).
const (
	Namespace     = "CWAgent"
	MemoryMetric  = "mem_used_percent"
	DiskMetric    = "disk_used_percent"
	RootMountPath = "/"
)

// Log names: the last part of the log group /cso/<env>/<name>. terraform/modules/monitoring
// creates one group per name; test/terraform checks the two lists agree.
const (
	// The agent and the dashboard run with --log-format json on EC2: their diagnostic
	// lines (in setup and admin) are JSON objects, whose fields Logs Insights discovers
	// by itself; the files need no parser setting here.
	LogSetup         = "setup"          // /var/log/cso-setup.log (user data)
	LogCloudInit     = "cloud-init"     // /var/log/cloud-init-output.log
	LogAgent         = "agent"          // /var/log/<role>-setup-progress.log (cso agent)
	LogS3Sync        = "efs-s3-sync"    // jump: /var/log/efs-s3-sync.log
	LogAdmin         = "admin"          // jump: cso admin serve
	LogKeystone      = "keystone"       // /var/log/keystone/keystone.log
	LogKeystoneHTTPD = "keystone-httpd" // Apache access log of Keystone
	LogKeystoneError = "keystone-httpd-error"
	LogRabbitMQ      = "rabbitmq" // /var/log/rabbitmq/<node>.log
	LogNginxAccess   = "nginx-access"
	LogNginxError    = "nginx-error"
	LogApplication   = "application" // the application services (frontend, backend)
)

// LogGroup is the CloudWatch Logs group of log name in environment env.
func LogGroup(env, name string) string { return "/cso/" + env + "/" + name }

// Log is one file shipped to CloudWatch Logs.
type Log struct {
	Name string // LogSetup, LogAgent, ...
	File string
}

// Logs returns the files host h ships, at the paths p of its platform.
func Logs(h inventory.Host, p agent.Paths) []Log {
	logs := []Log{
		{LogSetup, filepath.Join(p.Log, "cso-setup.log")},
		{LogCloudInit, filepath.Join(p.Log, "cloud-init-output.log")},
		{LogAgent, agent.ProgressLog(p, h.Role)},
	}
	switch h.Role {
	case envfile.RoleJump:
		logs = append(logs,
			Log{LogS3Sync, filepath.Join(p.Log, jump.SyncLog)},
			Log{LogAdmin, agent.ServiceLog(p, jump.AdminService)})
	case envfile.RoleKeystone:
		l := keystone.PathsOn(p, h.Name, agent.AL2023Distro)
		// The names renderConfig and renderHTTPD give keystone.conf's log_file and
		// Apache's CustomLog and ErrorLog.
		logs = append(logs,
			Log{LogKeystone, filepath.Join(l.LogDir, "keystone.log")},
			Log{LogKeystoneHTTPD, filepath.Join(l.HTTPDLogDir, "keystone.log")},
			Log{LogKeystoneError, filepath.Join(l.HTTPDLogDir, "keystone-error.log")})
	case envfile.RoleRabbitMQ:
		// RabbitMQ's log file is $RABBITMQ_LOG_BASE/$RABBITMQ_NODENAME.log.
		n := rabbitmq.NodeFor(h, p)
		logs = append(logs, Log{LogRabbitMQ, filepath.Join(n.LogBase, n.Name+".log")})
	case envfile.RoleFrontend:
		n, err := frontend.NginxFor(&agent.Runtime{Host: h, Paths: p})
		if err == nil {
			logs = append(logs, Log{LogNginxAccess, n.AccessLog}, Log{LogNginxError, n.ErrorLog})
		}
		logs = append(logs, Log{LogApplication, agent.ServiceLog(p, apppkg.ApplicationLog)})
	case envfile.RoleBackend:
		logs = append(logs, Log{LogApplication, agent.ServiceLog(p, apppkg.ApplicationLog)})
	}
	return logs
}

// Config is the agent's JSON configuration (the documented schema, the parts we use).
type Config struct {
	Agent   AgentSection   `json:"agent"`
	Metrics MetricsSection `json:"metrics"`
	Logs    LogsSection    `json:"logs"`
}

type AgentSection struct {
	MetricsCollectionInterval int    `json:"metrics_collection_interval"`
	RunAsUser                 string `json:"run_as_user"`
}

type MetricsSection struct {
	Namespace        string            `json:"namespace"`
	AppendDimensions map[string]string `json:"append_dimensions"`
	MetricsCollected MetricsCollected  `json:"metrics_collected"`
}

type MetricsCollected struct {
	Mem  *Plugin `json:"mem,omitempty"`
	Disk *Plugin `json:"disk,omitempty"`
}

// Plugin is one input of metrics_collected.
type Plugin struct {
	Measurement               []string `json:"measurement"`
	Resources                 []string `json:"resources,omitempty"`
	DropDevice                bool     `json:"drop_device,omitempty"`
	MetricsCollectionInterval int      `json:"metrics_collection_interval"`
}

type LogsSection struct {
	LogsCollected LogsCollected `json:"logs_collected"`
}

type LogsCollected struct {
	Files Files `json:"files"`
}

type Files struct {
	CollectList []CollectEntry `json:"collect_list"`
}

// CollectEntry ships one file to one stream of one group.
type CollectEntry struct {
	FilePath      string `json:"file_path"`
	LogGroupName  string `json:"log_group_name"`
	LogStreamName string `json:"log_stream_name"`
	Timezone      string `json:"timezone"`
}

// ConfigFor returns the agent configuration of host h of environment env at paths p.
// Metrics are collected every 60 s, the period of the memory alarms; InstanceId is the
// alarms' dimension, and the disk metric of "/" keeps path and fstype but not device.
func ConfigFor(env string, h inventory.Host, p agent.Paths) Config {
	c := Config{
		// root: the logs of Keystone and RabbitMQ are readable by their users only.
		Agent: AgentSection{MetricsCollectionInterval: 60, RunAsUser: "root"},
		Metrics: MetricsSection{
			Namespace:        Namespace,
			AppendDimensions: map[string]string{"InstanceId": "${aws:InstanceId}"},
			MetricsCollected: MetricsCollected{
				Mem:  &Plugin{Measurement: []string{MemoryMetric}, MetricsCollectionInterval: 60},
				Disk: &Plugin{Measurement: []string{DiskMetric}, Resources: []string{RootMountPath}, DropDevice: true, MetricsCollectionInterval: 60},
			},
		},
	}
	for _, l := range Logs(h, p) {
		c.Logs.LogsCollected.Files.CollectList = append(c.Logs.LogsCollected.Files.CollectList, CollectEntry{
			FilePath: l.File, LogGroupName: LogGroup(env, l.Name), LogStreamName: h.Name, Timezone: "UTC",
		})
	}
	return c
}

// JSON is the configuration file's content.
func (c Config) JSON() []byte {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err) // only strings, ints and bools: cannot fail
	}
	return append(data, '\n')
}

// FetchConfigCommand loads the configuration file path into the agent and (re)starts it
// (amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:<path>).
func FetchConfigCommand(path string) []string {
	return []string{Ctl, "-a", "fetch-config", "-m", "ec2", "-s", "-c", "file:" + path}
}

// Step installs, configures and runs the agent on an al2023 host; ok is false on any
// other platform (the local target has no CloudWatch).
func Step(rt *agent.Runtime) (step agent.Step, ok bool) {
	p, isAL := rt.Platform.(*agent.AL2023)
	if !isAL {
		return agent.Step{}, false
	}
	conf := ConfigFor(rt.Env.Name, rt.Host, rt.Paths)
	return agent.Step{Name: StepName, Tasks: []agent.Task{
		p.Packages(Package),
		runTask(p, ConfigFile, conf.JSON()),
	}}, true
}

// runTask writes the configuration and (re)loads the agent when the file differs, when
// the agent does not run or is not enabled, or when the last load did not finish (the
// hash of the loaded configuration is kept in the platform's state directory).
func runTask(p *agent.AL2023, path string, content []byte) agent.Task {
	file := agent.File{Path: path, Content: content, Mode: 0o644}
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	hashPath := filepath.Join(p.StateDir, "amazon-cloudwatch-agent.hash")
	return agent.FuncTask{
		TaskName: "configure and run " + Unit,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			var why []string
			if c, err := file.Check(ctx, rt); err != nil {
				return agent.Change{}, err
			} else if c.Needed {
				why = append(why, "configuration file")
			}
			if old, err := os.ReadFile(hashPath); err != nil || strings.TrimSpace(string(old)) != want {
				why = append(why, "configuration not loaded")
			}
			if _, err := p.Runner.Run(ctx, agent.Command{Args: []string{"systemctl", "is-enabled", "--quiet", Unit}, Timeout: time.Minute}); err != nil {
				why = append(why, "not enabled")
			}
			if _, err := p.Runner.Run(ctx, agent.Command{Args: []string{"systemctl", "is-active", "--quiet", Unit}, Timeout: time.Minute}); err != nil {
				why = append(why, "not running")
			}
			if len(why) == 0 {
				return agent.NoChange, nil
			}
			return agent.Change{Needed: true, Summary: fmt.Sprintf("load %s into the CloudWatch agent and (re)start it (%s)", path, strings.Join(why, ", "))}, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			if err := file.Apply(ctx, rt); err != nil {
				return err
			}
			for _, args := range [][]string{FetchConfigCommand(path), {"systemctl", "enable", Unit}} {
				if _, err := p.Runner.Run(ctx, agent.Command{Args: args, Timeout: 5 * time.Minute}); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(p.StateDir, 0o755); err != nil {
				return err
			}
			return os.WriteFile(hashPath, []byte(want+"\n"), 0o644)
		},
		// A fresh host has no configuration loaded: Apply writes the file and loads it.
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.AddFile(file)
			for _, args := range [][]string{FetchConfigCommand(path), {"systemctl", "enable", Unit}} {
				r.AddCommand(agent.Command{Args: args})
			}
			// The hash of the loaded configuration (the agent's own bookkeeping) is left
			// out, as for services.
			return nil
		},
	}
}

// WithCloudWatch returns role with the CloudWatch agent step in front of its steps on
// al2023 (unchanged elsewhere).
func WithCloudWatch(role agent.Role) agent.Role { return withCloudWatch{inner: role} }

type withCloudWatch struct{ inner agent.Role }

func (w withCloudWatch) Role() envfile.Role { return w.inner.Role() }

func (w withCloudWatch) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	steps, err := w.inner.Steps(rt)
	if err != nil {
		return nil, err
	}
	if s, ok := Step(rt); ok {
		steps = append([]agent.Step{s}, steps...)
	}
	return steps, nil
}

// Facts passes on the wrapped role's facts (agent.FactReporter).
func (w withCloudWatch) Facts(rt *agent.Runtime) map[string]string {
	if fr, ok := w.inner.(agent.FactReporter); ok {
		return fr.Facts(rt)
	}
	return nil
}
