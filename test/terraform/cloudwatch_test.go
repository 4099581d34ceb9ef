package terraform_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/cwagent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// ec2Paths are the paths of an EC2 host (cli.EC2Paths).
var ec2Paths = agent.Paths{Root: "/", SSLCerts: "/opt/ssl-certs", Scripts: "/opt/scripts", Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run"}

// agentConfigs renders the CloudWatch agent configuration the Go agent writes on each host
// of the environment, decoded from its JSON as the agent reads it.
func (x *checker) agentConfigs(t *testing.T) (*envfile.Env, map[string]agentConfig) {
	t.Helper()
	env, err := envfile.Load(envFilePath(t, x.c.name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]agentConfig{}
	for _, h := range inventory.Hosts(env) {
		var c agentConfig
		if err := json.Unmarshal(cwagent.ConfigFor(env.Name, h, ec2Paths).JSON(), &c); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		out[h.Name] = c
	}
	return env, out
}

type agentConfig struct {
	Metrics struct {
		Namespace        string            `json:"namespace"`
		AppendDimensions map[string]string `json:"append_dimensions"`
		MetricsCollected map[string]struct {
			Measurement []string `json:"measurement"`
			Resources   []string `json:"resources"`
			DropDevice  bool     `json:"drop_device"`
		} `json:"metrics_collected"`
	} `json:"metrics"`
	Logs struct {
		LogsCollected struct {
			Files struct {
				CollectList []struct {
					FilePath      string `json:"file_path"`
					LogGroupName  string `json:"log_group_name"`
					LogStreamName string `json:"log_stream_name"`
				} `json:"collect_list"`
			} `json:"files"`
		} `json:"logs_collected"`
	} `json:"logs"`
}

// published lists "namespace metric dims" for every series the configuration makes the
// agent publish on the instance: the plugin's own dimensions (disk: path per resource,
// fstype, and device unless drop_device; mem: none) plus append_dimensions, whose
// ${aws:InstanceId} the agent resolves to the instance id. A value the configuration
// does not fix (fstype) is "*".
func (c agentConfig) published(instanceID string) []string {
	var out []string
	base := map[string]string{}
	for k, v := range c.Metrics.AppendDimensions {
		base[k] = strings.ReplaceAll(v, "${aws:InstanceId}", instanceID)
	}
	ns := c.Metrics.Namespace
	if ns == "" {
		ns = "CWAgent"
	}
	for plugin, p := range c.Metrics.MetricsCollected {
		for _, m := range p.Measurement {
			if !strings.HasPrefix(m, plugin+"_") {
				m = plugin + "_" + m
			}
			switch plugin {
			case "disk":
				for _, path := range p.Resources {
					d := maps.Clone(base)
					d["path"], d["fstype"] = path, "*"
					if !p.DropDevice {
						d["device"] = "*"
					}
					out = append(out, series(ns, m, d))
				}
			default:
				out = append(out, series(ns, m, base))
			}
		}
	}
	sort.Strings(out)
	return out
}

func series(ns, metric string, dims map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		kv = append(kv, k+"="+dims[k])
	}
	return fmt.Sprintf("%s %s {%s}", ns, metric, strings.Join(kv, ","))
}

// cloudWatchAgent: every CWAgent alarm of every host reads a series that the host's agent
// configuration publishes (metric name, namespace and exactly its dimensions).
func (x *checker) cloudWatchAgent(t *testing.T) {
	_, configs := x.agentConfigs(t)
	insts := x.e.hostInstances()
	hostOf := map[string]string{}
	for name, i := range insts {
		hostOf[i.str("id")] = name
	}
	checked := map[string]int{}
	for _, a := range x.e.of("module.monitoring", "aws_cloudwatch_metric_alarm", "host") {
		if a.str("namespace") != "CWAgent" {
			continue
		}
		dims := map[string]string{}
		for k, v := range a.V["dimensions"].(map[string]any) {
			dims[k] = v.(string)
		}
		host := hostOf[dims["InstanceId"]]
		c, ok := configs[host]
		if !ok {
			t.Errorf("alarm %s: no host with instance %q", a.str("alarm_name"), dims["InstanceId"])
			continue
		}
		want := series(a.str("namespace"), a.str("metric_name"), dims)
		found := false
		for _, s := range c.published(dims["InstanceId"]) {
			if s == want || (strings.Contains(s, "fstype=*") && strings.Replace(s, "fstype=*", "fstype="+dims["fstype"], 1) == want && dims["fstype"] != "") {
				found = true
			}
		}
		if !found {
			t.Errorf("alarm %s reads %s, which %s's CloudWatch agent does not publish (it publishes %v)", a.str("alarm_name"), want, host, c.published(dims["InstanceId"]))
		}
		checked[host]++
	}
	for _, h := range x.c.hosts() {
		if checked[h.name] != 4 {
			t.Errorf("%s: %d CWAgent alarms checked, want 4 (memory and disk, critical and warning)", h.name, checked[h.name])
		}
	}
}

// logGroups: one encrypted group per log the agents ship, none more, kept as long as the
// env file says; the hosts may write to exactly these groups.
func (x *checker) logGroups(t *testing.T) {
	env, configs := x.agentConfigs(t)
	shipped := map[string]bool{}
	for host, c := range configs {
		for _, e := range c.Logs.LogsCollected.Files.CollectList {
			shipped[e.LogGroupName] = true
			if e.LogStreamName != host {
				t.Errorf("%s ships %s to stream %q, want the host name", host, e.FilePath, e.LogStreamName)
			}
		}
	}
	groups := x.e.of("module.monitoring", "aws_cloudwatch_log_group", "host")
	var arns []string
	names := map[string]bool{}
	for _, g := range groups {
		names[g.str("name")] = true
		arns = append(arns, g.str("arn"))
		if g.str("kms_key_id") != x.kmsARN(t) {
			t.Errorf("log group %s encrypted with %q, want the environment's key", g.str("name"), g.str("kms_key_id"))
		}
		if got := int(g.num("retention_in_days")); got != env.LogRetentionDays() {
			t.Errorf("log group %s keeps %d days, want %d (env file logs.retention_days or its default)", g.str("name"), got, env.LogRetentionDays())
		}
	}
	if want := map[string]int{"dev": 30, "dev-ha": 30, "staging": 90, "prod-ha": 365}[x.c.name]; env.LogRetentionDays() != want {
		t.Errorf("%s keeps logs %d days, want %d", x.c.name, env.LogRetentionDays(), want)
	}
	if got, want := slices.Sorted(maps.Keys(names)), slices.Sorted(maps.Keys(shipped)); !slices.Equal(got, want) {
		t.Errorf("log groups %v, the agents ship to %v", got, want)
	}
	for g := range shipped {
		if !strings.HasPrefix(g, "/cso/"+x.c.name+"/") {
			t.Errorf("log group %s is not under /cso/%s/", g, x.c.name)
		}
	}

	// The key lets CloudWatch Logs of this region use it for this account's log groups.
	key := decodePolicy(t, "key policy", x.e.one(t, "module.security", "aws_kms_key", "this").str("policy"))
	logsOK := false
	for _, s := range key.Statement {
		p, _ := s["Principal"].(map[string]any)
		cond, _ := s["Condition"].(map[string]any)
		like, _ := cond["ArnLike"].(map[string]any)
		if p["Service"] == "logs.eu-west-2.amazonaws.com" && slices.Contains(asList(s["Action"]), "kms:GenerateDataKey*") &&
			like["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-2:"+x.ef.AccountID+":log-group:*" {
			logsOK = true
		}
	}
	if !logsOK {
		t.Error("the KMS key policy does not let logs.eu-west-2.amazonaws.com encrypt this account's log groups")
	}

	// The host policy: streams and events in exactly these groups; metrics in CWAgent only.
	for role, pol := range x.e.of("module.security", "aws_iam_policy", "host") {
		hostLogPolicy(t, role, pol, arns)
	}
}

// hostLogPolicy checks one host role's policy: streams and events in exactly the host
// log groups; metrics in CWAgent only.
func hostLogPolicy(t *testing.T, role string, pol res, arns []string) {
	doc := decodePolicy(t, role+" policy", pol.str("policy"))
	var logResources []string
	metrics := false
	for _, s := range doc.Statement {
		acts := asList(s["Action"])
		if slices.Contains(acts, "logs:PutLogEvents") {
			if !slices.Equal(sortedCopy(acts), []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}) {
				t.Errorf("host log actions %v", acts)
			}
			logResources = append(logResources, asList(s["Resource"])...)
		}
		if slices.Contains(acts, "cloudwatch:PutMetricData") {
			cond, _ := s["Condition"].(map[string]any)
			eq, _ := cond["StringEquals"].(map[string]any)
			metrics = len(acts) == 1 && eq["cloudwatch:namespace"] == "CWAgent"
		}
	}
	var want []string
	for _, a := range arns {
		want = append(want, a, a+":log-stream:*")
	}
	if !slices.Equal(sortedCopy(logResources), sortedCopy(want)) {
		t.Errorf("%s hosts may write logs to %v, want exactly the log groups %v", role, logResources, want)
	}
	if !metrics {
		t.Errorf("%s policy does not allow cloudwatch:PutMetricData in namespace CWAgent (alone)", role)
	}
}
