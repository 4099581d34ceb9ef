//go:build !windows

package logs

import (
	"slices"
	"testing"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

func TestStaticLogNamesMatchCWAgent(t *testing.T) {
	env, err := envfile.Load("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range inventory.Hosts(env) {
		got, want := staticLogNames(h), ec2LogNames(h)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): static names %v, cwagent.Logs %v", h.Name, h.Role, got, want)
		}
	}
}
