package keystone

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
)

// policyScript evaluates Keystone's own policy rules (keystone.common.policies, enforced by
// oslo.policy as keystone does) for a project-scoped admin token on targets in another
// domain, with the [oslo_policy] options of the keystone.conf given as argument. It prints
// rule -> allowed.
const policyScript = `
import json, sys, warnings
warnings.simplefilter("ignore")
from oslo_config import cfg
from oslo_policy import policy
from keystone.common import policies
conf = cfg.ConfigOpts()
conf(["--config-file", sys.argv[1]], project="keystone")
enf = policy.Enforcer(conf)
enf.register_defaults(policies.list_rules())
enf.load_rules()
creds = {"roles": ["admin", "member", "reader"], "user_id": "u-admin", "project_id": "p-admin",
         "project_domain_id": "default", "domain_id": None, "system_scope": None}
target = {"target.project.id": "p-other", "target.project.domain_id": "d-other", "target.domain.id": "d-other",
          "target.domain_id": "d-other", "target.user.id": "u-other", "target.user.domain_id": "d-other",
          "target.role.domain_id": None, "domain_id": "d-other", "project_id": "p-other", "user_id": "u-other"}
out = {}
for rule in sys.argv[2:]:
    try:
        out[rule] = bool(enf.enforce(rule, target, creds, do_raise=True))
    except (policy.PolicyNotAuthorized, policy.InvalidScope):
        out[rule] = False
print(json.dumps(out))
`

// The policy settings change what a project-scoped admin token may do, as recorded in
// docs/decisions/roles.md: with the defaults (legacy) it manages and reads projects, users
// and grants in any domain, as the LLD's application expects; in strict mode (Keystone 22's
// new defaults) it still creates them but can no longer read a project outside its own
// scope. Evaluated with the installed Keystone's policy engine on the rendered keystone.conf.
func TestPolicyModesWithKeystonesEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python twice (about 10 s of CPU)")
	}
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import keystone.common.policies, oslo_policy").Run(); err != nil {
		t.Skipf("Keystone's policy engine is not installed (python3-keystone): %v", err)
	}
	rules := []string{"identity:create_domain", "identity:create_project", "identity:create_user",
		"identity:create_grant", "identity:list_users", "identity:get_user", "identity:get_project"}
	eval := func(strict bool) map[string]bool {
		t.Helper()
		rt := testRuntime(t, agent.NewLocal(t.TempDir(), t.TempDir()))
		rt.Env.Keystone = envfile.Keystone{EnforceScope: &strict, EnforceNewDefaults: &strict}
		f, err := renderConfig(rt, Paths(rt.Paths, rt.Host.Name))
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(t.TempDir(), "keystone.conf")
		if err := os.WriteFile(conf, f.Content, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(python, append([]string{"-c", policyScript, conf}, rules...)...).Output()
		if err != nil {
			t.Fatalf("policy evaluation: %v", err)
		}
		got := map[string]bool{}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("policy evaluation printed %q: %v", out, err)
		}
		return got
	}
	legacy, strict := eval(false), eval(true)
	for _, r := range rules {
		if !legacy[r] {
			t.Errorf("default policy: a project-scoped admin token may not %s in another domain", r)
		}
		wantStrict := r != "identity:get_project"
		if strict[r] != wantStrict {
			t.Errorf("strict policy: %s allowed=%v, want %v", r, strict[r], wantStrict)
		}
	}
}
