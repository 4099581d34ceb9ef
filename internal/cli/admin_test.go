package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// Behind the ALB every user of the pool is signed in: the dashboard refuses to start
// without the Cognito group check, with a usage error that names the missing flags.
func TestAdminServeALBNeedsCognito(t *testing.T) {
	tgt := filepath.Join(t.TempDir(), "target.json") // not written yet: allowed
	alb := []string{"admin", "serve", "--target", tgt, "--listen", "127.0.0.1:0",
		"--alb-signer", "arn:aws:elasticloadbalancing:eu-west-2:111122223333:loadbalancer/app/x/1", "--alb-region", "eu-west-2"}
	code, _, stderr := runCSO(t, alb...)
	if code != ExitUsage || !strings.Contains(stderr, "--cognito-user-pool") {
		t.Errorf("--alb-signer alone: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCSO(t, append(alb, "--cognito-user-pool", "not a pool", "--cognito-client-id", "c")...)
	if code != ExitUsage || !strings.Contains(stderr, `"not a pool"`) {
		t.Errorf("bad pool id: exit %d, %s", code, stderr)
	}
}
