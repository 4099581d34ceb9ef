package cli

import (
	"bytes"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// complete runs cobra's hidden completion command, as the shell scripts do, and returns
// the candidates it prints.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	envDir := filepath.Join(filepath.Dir(self), "..", "..", "environments")
	var out bytes.Buffer
	Run(append([]string{"__complete", "--env-dir", envDir}, args...), strings.NewReader(""), &out, io.Discard)
	var got []string
	for _, line := range strings.Split(out.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, ":") {
			got = append(got, line)
		}
	}
	return got
}

func TestCompletion(t *testing.T) {
	envs := []string{"dev", "dev-ha", "prod-ha", "staging"}
	for _, cmd := range [][]string{{"plan"}, {"deploy"}, {"check"}, {"env", "show"}} {
		if got := complete(t, append(cmd, "--env", "")...); !slices.Equal(got, envs) {
			t.Errorf("cso %s --env <TAB>: %v, want %v", strings.Join(cmd, " "), got, envs)
		}
	}
	hosts := complete(t, "replace", "--env", "prod-ha", "")
	if len(hosts) != 10 || !slices.Contains(hosts, "keystone02") || !slices.Contains(hosts, "rabbitmq-server-3") {
		t.Errorf("cso replace --env prod-ha <TAB>: %v, want the 10 hosts of prod-ha", hosts)
	}
	if got := complete(t, "replace", "--env", "no-such-env", ""); len(got) != 0 {
		t.Errorf("an unknown environment completes %v", got)
	}
	// Without --env, cobra offers the required flag itself, and no host.
	for _, c := range complete(t, "replace", "") {
		if !strings.HasPrefix(c, "--env") {
			t.Errorf("replace without --env completes %q", c)
		}
	}
}
