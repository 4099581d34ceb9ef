package jump

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

func adminRuntime(t *testing.T, ha bool, tg *target.Target) *agent.Runtime {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, target.FileName)
	if tg != nil {
		if err := tg.Save(file); err != nil {
			t.Fatal(err)
		}
	}
	return &agent.Runtime{Env: &envfile.Env{Name: "dev-ha", HA: ha}, TargetFile: file, Executable: "/usr/local/bin/cso",
		Paths: agent.Paths{SSLCerts: filepath.Join(dir, "ssl")},
		Host:  inventory.Host{Name: "jump-server-1", Address: "10.2.128.10", Ports: map[string]int{inventory.PortAdmin: 8081}}}
}

// flagValue is the value following name in cmd, "" when absent.
func flagValue(cmd []string, name string) string {
	if i := slices.Index(cmd, name); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// On AWS with ha the dashboard trusts the ALB and checks the Cognito group, with the values
// cso deploy put in the target description.
func TestAdminServiceBehindALB(t *testing.T) {
	alb := &target.ALBAuth{Signer: "arn:aws:elasticloadbalancing:eu-west-2:111122223333:loadbalancer/app/dev-ha-frontend-lb/50dc",
		Region: "eu-west-2", UserPoolID: "eu-west-2_abc", UserPoolRegion: "eu-west-2", ClientID: "client123", AdminGroup: "cso-admins"}
	rt := adminRuntime(t, true, &target.Target{Env: "dev-ha", Kind: target.KindAWS, ALB: alb})
	spec, err := adminSpec(rt)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"--alb-signer": alb.Signer, "--alb-region": "eu-west-2", "--cognito-user-pool": "eu-west-2_abc",
		"--cognito-region": "eu-west-2", "--cognito-client-id": "client123", "--admin-group": "cso-admins",
		"--target": rt.TargetFile, "--listen": "0.0.0.0:8081",
	} {
		if got := flagValue(spec.Command, flag); got != want {
			t.Errorf("%s = %q, want %q (command %v)", flag, got, want, spec.Command)
		}
	}
}

func TestAdminServiceWithoutALB(t *testing.T) {
	for name, rt := range map[string]*agent.Runtime{
		"aws without ha":             adminRuntime(t, false, &target.Target{Env: "dev", Kind: target.KindAWS}),
		"local ha target":            adminRuntime(t, true, &target.Target{Env: "local", Kind: target.KindLocal}),
		"description not yet copied": adminRuntime(t, true, nil),
	} {
		spec, err := adminSpec(rt)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(strings.Join(spec.Command, " "), "--alb-signer") {
			t.Errorf("%s: %v", name, spec.Command)
		}
	}
}

// An ha AWS description without the ALB settings (written by an older cso deploy) would
// give a dashboard that refuses every ALB user: the step fails and says what to do.
func TestAdminServiceHAWithoutALBSettings(t *testing.T) {
	rt := adminRuntime(t, true, &target.Target{Env: "dev-ha", Kind: target.KindAWS})
	if _, err := adminSpec(rt); err == nil || !strings.Contains(err.Error(), "run cso deploy again") {
		t.Errorf("error %v", err)
	}
	if err := os.WriteFile(rt.TargetFile, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := adminSpec(rt); err == nil || !strings.Contains(err.Error(), "not a target description") {
		t.Errorf("broken description: %v", err)
	}
}
