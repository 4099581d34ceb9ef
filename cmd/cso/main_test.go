package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The operator's and the hosts' binary carries no test code: test helpers (the fixture
// package builder, the stack harness) live in packages that only tests import.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" || strings.HasSuffix(dep, "/stacktest") || strings.HasSuffix(dep, "/apppkg/fixture") || strings.HasSuffix(dep, "/localtest") {
			t.Errorf("cso links %s", dep)
		}
	}
}
