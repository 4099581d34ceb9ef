package target

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

const testALBARN = "arn:aws:elasticloadbalancing:eu-west-2:111122223333:loadbalancer/app/dev-ha-frontend-lb/50dc6c495c0c9188"

const testPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func loadEnv(t *testing.T, name string) *envfile.Env {
	t.Helper()
	env, err := envfile.Load(filepath.Join("..", "..", "environments", "env."+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// outputsFor returns the outputs Terraform would print for every host of env.
func outputsFor(t *testing.T, env *envfile.Env) Outputs {
	hosts := map[string]any{}
	for i, h := range inventory.Hosts(env) {
		hosts[h.Name] = map[string]any{"role": string(h.Role), "index": h.Index, "private_ip": fmt.Sprintf("10.2.128.%d", 10+i),
			"fqdn": h.FQDN, "instance_type": h.InstanceType, "availability_zone": h.AZ, "instance_id": fmt.Sprintf("i-%017d", i)}
	}
	out := Outputs{}
	var dashboard any // null without ha, as Terraform prints it
	if env.HA {
		dashboard = map[string]any{"alb_arn": testALBARN, "alb_region": env.Region, "cognito_user_pool_id": "eu-west-2_abc",
			"cognito_region": "eu-west-2", "cognito_client_id": "client123", "admin_group": "cso-admins"}
	}
	for k, v := range map[string]any{
		"hosts":                   hosts,
		"database":                map[string]any{"endpoint": "dev-ha-cso.abc.eu-west-2.rds.amazonaws.com:3306", "hostname": "mysql." + env.Name + ".cso.ss"},
		"buckets":                 map[string]any{"files": env.Name + "-cso-files-" + env.AccountID, "logs": env.Name + "-cso-logs-" + env.AccountID},
		"root_ca_certificate_pem": testPEM,
		"admin_dashboard":         dashboard,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

func TestFromOutputs(t *testing.T) {
	env := loadEnv(t, "dev-ha")
	tg, err := FromOutputs(env, outputsFor(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Kind != KindAWS || tg.Env != "dev-ha" || tg.Region != env.Region || tg.CAPEM != testPEM ||
		tg.StatusBucket != "dev-ha-cso-files-111122223333" || tg.MySQL != "dev-ha-cso.abc.eu-west-2.rds.amazonaws.com:3306" || tg.SharedDir != EC2Scripts {
		t.Errorf("target %+v", tg)
	}
	want := inventory.Hosts(env)
	if len(tg.Hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(tg.Hosts), len(want))
	}
	for i, h := range tg.Hosts {
		if h.Name != want[i].Name || h.Address != fmt.Sprintf("10.2.128.%d", 10+i) || h.Ports[inventory.PortKeystone] != want[i].Ports[inventory.PortKeystone] {
			t.Errorf("host %d: %+v", i, h)
		}
	}
	wantALB := ALBAuth{Signer: testALBARN, Region: env.Region, UserPoolID: "eu-west-2_abc", UserPoolRegion: "eu-west-2",
		ClientID: "client123", AdminGroup: "cso-admins"}
	if tg.ALB == nil || *tg.ALB != wantALB {
		t.Errorf("ALB %+v, want %+v", tg.ALB, wantALB)
	}
	pem, err := tg.CACertPEM()
	if err != nil || string(pem) != testPEM {
		t.Errorf("CACertPEM: %q, %v", pem, err)
	}
}

// The env file and the applied infrastructure must agree; each difference is named.
func TestFromOutputsRefusesDifferences(t *testing.T) {
	env := loadEnv(t, "dev-ha")
	cases := []struct {
		name   string
		change func(Outputs)
		want   string
	}{
		{"not applied", func(o Outputs) { delete(o, "hosts") }, `terraform output "hosts" is missing: apply the environment first`},
		{"host missing", func(o Outputs) { editHosts(t, o, func(h map[string]any) { delete(h, "keystone02") }) },
			"keystone02 is in dev-ha's env file but has no instance in the Terraform outputs"},
		{"extra host", func(o Outputs) {
			editHosts(t, o, func(h map[string]any) {
				h["keystone03"] = map[string]any{"role": "keystone", "index": 3, "private_ip": "10.2.128.99"}
			})
		}, "keystone03 has an instance in the Terraform outputs but is not in dev-ha's env file"},
		{"bad address", func(o Outputs) {
			editHosts(t, o, func(h map[string]any) { h["jump-server-1"].(map[string]any)["private_ip"] = "" })
		}, `jump-server-1: private_ip "" is not an IP address`},
		{"no CA", func(o Outputs) { o["root_ca_certificate_pem"] = json.RawMessage(`"none"`) }, "holds no PEM certificate"},
		{"bad database", func(o Outputs) { o["database"] = json.RawMessage(`{"endpoint":"mysql"}`) }, `"database".endpoint "mysql" is not host:port`},
		{"bad shape", func(o Outputs) { o["buckets"] = json.RawMessage(`["x"]`) }, `terraform output "buckets": unexpected shape`},
		{"bucket without the account", func(o Outputs) { o["buckets"] = json.RawMessage(`{"files":"dev-ha-cso-files"}`) },
			`"buckets".files is "dev-ha-cso-files" but the agents look for "dev-ha-cso-files-111122223333"`},
		{"ha without the dashboard's ALB settings", func(o Outputs) { o["admin_dashboard"] = json.RawMessage(`null`) },
			`terraform output "admin_dashboard" is missing`},
		{"no app client", func(o Outputs) {
			o["admin_dashboard"] = json.RawMessage(`{"alb_arn":"` + testALBARN + `","alb_region":"eu-west-2","cognito_user_pool_id":"eu-west-2_abc","cognito_region":"eu-west-2","cognito_client_id":"","admin_group":"cso-admins"}`)
		}, `"admin_dashboard".cognito_client_id is empty`},
		{"not an ALB", func(o Outputs) {
			o["admin_dashboard"] = json.RawMessage(`{"alb_arn":"arn:aws:s3:::x","alb_region":"eu-west-2","cognito_user_pool_id":"eu-west-2_abc","cognito_region":"eu-west-2","cognito_client_id":"c","admin_group":"cso-admins"}`)
		}, `alb_arn "arn:aws:s3:::x" is not an application load balancer ARN`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := outputsFor(t, env)
			c.change(o)
			_, err := FromOutputs(env, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// Without ha there is no ALB: the description has no ALB settings.
func TestFromOutputsWithoutHA(t *testing.T) {
	env := loadEnv(t, "dev")
	tg, err := FromOutputs(env, outputsFor(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if tg.ALB != nil {
		t.Errorf("ALB %+v without ha", tg.ALB)
	}
	data, err := tg.Marshal()
	if err != nil || strings.Contains(string(data), `"alb"`) {
		t.Errorf("description without ha mentions the ALB: %s", data)
	}
}

func editHosts(t *testing.T, o Outputs, edit func(map[string]any)) {
	var h map[string]any
	if err := json.Unmarshal(o["hosts"], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	b, _ := json.Marshal(h)
	o["hosts"] = b
}
