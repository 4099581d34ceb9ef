package keystone

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
)

// revocationCacheCheck drives the rendered revocation cache with Debian's Keystone and its
// real cache machinery (dogpile's memory backend in place of memcached, Keystone's
// distributed region invalidation) over a stand-in for the SQL query that counts its calls.
const revocationCacheCheck = `
import sys
import keystone.conf
from keystone.common import cache
from keystone.revoke import core
from keystone.revoke.backends import sql

calls = []
def query(self, last_fetch=None, token=None):
    calls.append((last_fetch, token and token["audit_id"]))
    return ["event for " + token["audit_id"]] if token else ["all"]
sql.Revoke.list_events = query

wsgi = open(sys.argv[1]).read()
exec(wsgi[wsgi.index("def _cache_revocation_checks"):wsgi.index("from keystone.server.wsgi")])

conf = keystone.conf.CONF
keystone.conf.configure(conf)
conf([], project="keystone", default_config_files=[])
conf.set_override("enabled", True, group="cache")
conf.set_override("backend", "dogpile.cache.memory", group="cache")
cache.configure_invalidation_region()
cache.configure_cache(region=core.REVOKE_REGION)

driver = sql.Revoke()
a = {"audit_id": "a", "issued_at": "2026-12-05T21:00:00", "roles": ["r1"]}
b = {"audit_id": "b", "issued_at": "2026-12-05T21:00:00", "roles": ["r1"]}
def check(name, got, want, ncalls):
    if got != want or len(calls) != ncalls:
        print("FAIL %s: got %r, %d queries, want %r, %d" % (name, got, len(calls), want, ncalls))
        sys.exit(1)
check("first check queries", driver.list_events(token=dict(a)), ["event for a"], 1)
check("second check is cached", driver.list_events(token=dict(a)), ["event for a"], 1)
check("another token queries", driver.list_events(token=dict(b)), ["event for b"], 2)
check("the event list is not", driver.list_events(), ["all"], 3)
core.REVOKE_REGION.invalidate()  # what Manager.revoke does after writing an event
check("a revocation empties it", driver.list_events(token=dict(a)), ["event for a"], 4)
conf.set_override("caching", False, group="revoke")
check("[revoke] caching = false", driver.list_events(token=dict(a)), ["event for a"], 5)
print("ok")
`

// TestRevocationCacheWithKeystone: the wrapper in the WSGI entry point of both platforms
// answers a token's revocation query once, again after a revocation, and never when
// [revoke] caching is off. Needs Debian's python3-keystone (the local platform's Keystone).
func TestRevocationCacheWithKeystone(t *testing.T) {
	checkEntryPoints(t, "keystone.revoke.backends.sql", revocationCacheCheck, func(wsgi string) string {
		if !strings.Contains(wsgi, revocationCachePy) || strings.Index(wsgi, "_cache_revocation_checks()") > strings.Index(wsgi, "from keystone.server.wsgi") {
			return "the revocation cache is not set up before Keystone loads"
		}
		return ""
	})
}

// checkEntryPoints runs script (python3 -c script FILE) against the WSGI entry point that
// renderWSGI writes for each platform, with Debian's Keystone (python3-keystone, the local
// platform's; which must provide module), after shape says nothing is wrong with the file's
// text; the script prints "ok" when everything it asserts holds. Without python3-keystone
// the test fails in CI and is skipped elsewhere, naming the install command.
func checkEntryPoints(t *testing.T, module, script string, shape func(wsgi string) string) {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		msg := "python3-keystone is not installed (" + module + "): run scripts/install-deps.sh --runtime"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	for _, d := range []agent.Distro{agent.DebianDistro, agent.AL2023Distro} {
		l := PathsOn(agent.Paths{Etc: filepath.Join(dir, "etc")}, "keystone01", d)
		if d.Name == agent.AL2023Distro.Name {
			l = l.withVenv(filepath.Join(dir, "venv"))
		}
		wsgi := renderWSGI(l)
		if bad := shape(wsgi); bad != "" {
			t.Fatalf("%s: %s:\n%s", d.Name, bad, wsgi)
		}
		f := filepath.Join(dir, d.Name+".py")
		if err := os.WriteFile(f, []byte(wsgi), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", script, f).CombinedOutput()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
			t.Errorf("%s: %v\n%s", d.Name, err, out)
		}
	}
}
