package keystone

import (
	"strings"
	"testing"
)

// tokenRolesCheck drives the rendered per-request memo of the token roles with Debian's
// Keystone: its real TokenModel, whose assignment lookup (_get_project_roles) is replaced by
// a stand-in that counts its calls and answers what the "database" holds at that moment.
const tokenRolesCheck = `
import logging
import sys
import keystone.conf
from keystone.models import token_model

assignments = {"u1": ["reader"], "u2": ["admin"]}
calls = []
def project_roles(self):
    calls.append(self.user_id)
    return [{"id": r, "name": r} for r in assignments[self.user_id]]
token_model.TokenModel._get_project_roles = project_roles
shipped = token_model.TokenModel.roles

wsgi = open(sys.argv[1]).read()
exec(wsgi[wsgi.index("def _per_request"):wsgi.index("from keystone.server.wsgi")])

conf = keystone.conf.CONF
keystone.conf.configure(conf)
conf([], project="keystone", default_config_files=[])
conf.set_override("enabled", True, group="cache")

def model(token_id, user):
    m = token_model.TokenModel()
    m.user_id, m.project_id = user, "p1"
    if token_id:
        m.id = token_id
    return m

def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)

def request(method, body):
    seen = {}
    def app(environ, start_response):
        seen["answer"] = body()
        return [b""]
    _request_scope(app)({"REQUEST_METHOD": method}, None)
    return seen["answer"]

def reads():
    caller, subject = model("t1", "u1"), model("t2", "u2")
    got = [caller.roles, caller.roles, subject.roles, model("t2", "u2").roles, subject.roles]
    got[0].append({"id": "x", "name": "x"})  # a caller changing its copy changes no other answer
    return got, caller.roles

got, again = request("GET", reads)
if calls != ["u1", "u2"]:
    fail("GET: want the roles of each token computed once, computed for %r" % calls)
if again != [{"id": "reader", "name": "reader"}] or got[1] != again:
    fail("GET: answers are not independent copies: %r %r" % (got, again))

del calls[:]
assignments["u1"] = []  # an assignment removed between requests
got = request("GET", lambda: model("t1", "u1").roles)
if got != [] or calls != ["u1"]:
    fail("the next request does not see the removed assignment: %r, computed for %r" % (got, calls))

del calls[:]
m = model("t1", "u1")
m.roles, m.roles
if len(calls) != 2:
    fail("outside a request: want Keystone's computation on every use, computed %d times" % len(calls))

for method in ("POST", "DELETE", "PATCH", "PUT"):
    del calls[:]
    request(method, lambda: (m.roles, m.roles))
    if len(calls) != 2:
        fail("%s: want Keystone's computation on every use, computed %d times" % (method, len(calls)))

del calls[:]
request("GET", lambda: (model(None, "u2").roles, model(None, "u2").roles))
if len(calls) != 2:
    fail("models without a token id share an answer: computed %d times" % len(calls))

conf.set_override("caching", False, group="role")
del calls[:]
request("GET", lambda: (m.roles, m.roles))
if len(calls) != 2:
    fail("[role] caching = false: want Keystone's computation on every use, computed %d times" % len(calls))

# Keystone's request-local cache lives on oslo.context's current context: what the previous
# request left there (a region id, a cached answer) must not be what this one reads.
from oslo_context import context as oslo_context
for method in ("GET", "POST"):
    stale = oslo_context.RequestContext()
    setattr(stale, "_request_cache_region", "the previous request's region id")
    current = request(method, oslo_context.get_current)
    if current is stale or hasattr(current, "_request_cache_region"):
        fail("%s: the request starts with the previous request's context" % method)

# Keystone's request-local cache: one store per request, shared by everything in it (both of
# the request's contexts), never the previous request's; oslo.context's outside a request.
from keystone.common.cache import _context_cache
def stores():
    proxy = _context_cache._ResponseCacheProxy()
    first = proxy._get_request_context()
    oslo_context.RequestContext()  # what AuthContextMiddleware does within the request
    return first, proxy._get_request_context()
one, two = request("GET", stores)
three, _ = request("DELETE", stores)
if one is not two or one is three:
    fail("the request-local cache is not one store per request: %r %r %r" % (one, two, three))
if _context_cache._ResponseCacheProxy()._get_request_context() is not oslo_context.get_current():
    fail("outside a request the request-local cache is not Keystone's")

token_model.TokenModel.roles = shipped
warnings = []
class Catch(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())
logging.getLogger("keystone.cso.per_request").addHandler(Catch())
_request_scope = _per_request(("1",))
conf.set_override("caching", True, group="role")
del calls[:]
request("GET", lambda: (m.roles, m.roles))
if token_model.TokenModel.roles is not shipped or len(calls) != 2:
    fail("an unknown Keystone release is patched")
if not warnings or "not one of the releases" not in warnings[0]:
    fail("an unknown Keystone release is not reported: %r" % warnings)
print("ok")
`

// TestTokenRolesPerRequestWithKeystone: the WSGI entry point of both platforms computes a
// token's roles once per GET request with Debian's Keystone, again in the next request
// (a removed assignment is seen), on every use outside GET and HEAD or with [role] caching
// off, and leaves an unknown Keystone release as shipped with a warning; every request
// starts with a fresh request context, never the previous request's. Needs Debian's
// python3-keystone (the local platform's Keystone).
func TestTokenRolesPerRequestWithKeystone(t *testing.T) {
	checkEntryPoints(t, "keystone.models.token_model", tokenRolesCheck, func(wsgi string) string {
		load := strings.Index(wsgi, "from keystone.server.wsgi")
		if !strings.Contains(wsgi, tokenRolesPy) || strings.Index(wsgi, "_per_request(") > load ||
			!strings.Contains(wsgi, "application = _request_scope(initialize_public_application())") {
			return "the token roles memo does not wrap Keystone's application"
		}
		return ""
	})
}

func TestTokenRolesReleases(t *testing.T) {
	want := `_per_request(("22", "` + strings.SplitN(KeystoneRelease, ".", 2)[0] + `",))`
	if !strings.Contains(tokenRolesPy, want) {
		t.Errorf("the memo is not limited to the checked releases: want %s in\n%s", want, tokenRolesPy)
	}
}
