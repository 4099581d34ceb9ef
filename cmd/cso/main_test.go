package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The operator's and the hosts' binary carries no test code: test helpers (the fixture
// package builder, the stack harness, the test provider) live in packages that only tests
// import. Checked for every OS cso is built for (make dist): the operator's workstations
// link other files (the _other.go ones) than the Linux hosts.
func TestBinaryLinksNoTestCode(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("GOOS=%s go list -deps: %v\n%s", goos, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "testing" || strings.HasSuffix(dep, "/stacktest") || strings.HasSuffix(dep, "/apppkg/fixture") ||
				strings.HasSuffix(dep, "/localtest") || strings.HasSuffix(dep, "/testprovider") || strings.HasSuffix(dep, "/awstest") {
				t.Errorf("cso for %s links %s", goos, dep)
			}
		}
	}
}
