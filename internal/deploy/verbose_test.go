package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
)

// fakeTerraform is a terraform that answers `version -json` and `workspace list` and
// accepts every other command.
const fakeTerraform = `#!/bin/sh
case "$1" in
version) echo '{"terraform_version":"1.8.5","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}' ;;
workspace) [ "$2" = list ] && printf '* default\n' ;;
esac
exit 0
`

// TestCommandsLogged: with Commands set (cso plan|deploy -v) every Terraform command is
// written with its arguments; without it nothing is.
func TestCommandsLogged(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "terraform")
	if err := os.WriteFile(bin, []byte(fakeTerraform), 0o755); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(filepath.Join("..", "..", "environments", "env.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, verbose := range []bool{true, false} {
		var cmds, stderr bytes.Buffer
		o := TerraformOptions{Bin: bin, Dir: t.TempDir(), Stderr: &stderr, AllowPlaceholders: true}
		if verbose {
			o.Commands = &cmds
		}
		tf, err := NewTerraform(env, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := tf.Init(ctx); err != nil {
			t.Fatalf("init with the fake terraform: %v (%s)", err, stderr.String())
		}
		got := cmds.String()
		if !verbose {
			if got != "" {
				t.Errorf("commands written without -v: %q", got)
			}
			continue
		}
		for _, want := range []string{"running Terraform command: " + bin + " init", "-reconfigure", "-backend-config=bucket=",
			bin + " workspace list", bin + " workspace new"} {
			if !strings.Contains(got, want) {
				t.Errorf("-v lacks %q:\n%s", want, got)
			}
		}
	}
}
