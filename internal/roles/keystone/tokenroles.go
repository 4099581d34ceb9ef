package keystone

import "strings"

// tokenRolesMajors are the Keystone major releases whose TokenModel.roles tokenRolesPy was
// checked against: Debian 12's 22 (the local platform, keystone/models/token_model.py read
// on this machine) and the Amazon Linux pin's (KeystoneRelease; upstream's token_model.py has
// the same property). Any other release keeps Keystone's own code and logs why.
var tokenRolesMajors = []string{"22", strings.SplitN(KeystoneRelease, ".", 2)[0]}

// tokenRolesPy is put in the WSGI entry point before Keystone loads. Keystone 22's
// TokenModel.roles reads the assignments and each role through the cache on every use, and
// one GET /v3/auth/tokens uses it 9 times (the caller's token in the auth context and the
// revocation check, the subject token for the policy target, its revocation check and the
// rendered answer): about a third of the request's Python time.
//
// It computes a token's roles once per request, for GET and HEAD requests only (they write
// no assignment), and only while [cache] enabled and [role] caching are on: then Keystone's
// own request-local cache (_context_cache) already answers every later read of the same
// assignments within the request from its first answer, so the memo adds no staleness; a
// removed assignment is seen by the next request as Keystone's caches see it. The memo is
// dropped when the request's call returns, and every other method runs Keystone's code.
// Roles follow from the token (user and scope), so models of one token id share them.
// An unknown Keystone release, or one without TokenModel.roles, logs a warning in
// keystone.log and runs as shipped.
var tokenRolesPy = `

def _token_roles_per_request(checked):
    """Compute a token's roles once per read-only request (cso: docs/decisions/roles.md)."""
    import logging
    import threading
    from importlib import metadata

    logger = logging.getLogger("keystone.cso.token_roles")
    try:
        import keystone.conf
        from keystone.models import token_model
        version = metadata.version("keystone")
        computed = token_model.TokenModel.roles.fget
    except (ImportError, AttributeError, metadata.PackageNotFoundError) as e:
        logger.warning("token roles are computed on every use: %s", e)
        return lambda app: app
    if version.split(".")[0] not in checked:
        logger.warning("token roles are computed on every use: keystone %s is not one of "
                       "the releases %s this was checked against", version, checked)
        return lambda app: app
    conf = keystone.conf.CONF
    request = threading.local()

    def roles(self):
        memo = getattr(request, "memo", None)
        if memo is None:
            return computed(self)
        token_id = getattr(self, "id", None)
        key = ("token", token_id) if token_id else ("model", id(self))
        model, answer = memo.get(key, (None, None))
        if answer is None or (token_id is None and model is not self):
            answer = computed(self)
            memo[key] = (self, answer)
        return [dict(r) for r in answer]

    token_model.TokenModel.roles = property(roles)

    def per_request(app):
        def application(environ, start_response):
            read_only = environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            cached = conf.cache.enabled and conf.role.caching
            request.memo = {} if read_only and cached else None
            try:
                return app(environ, start_response)
            finally:
                request.memo = None
        return application
    return per_request


_token_roles = _token_roles_per_request(` + pyStrings(tokenRolesMajors) + `)
`

// pyStrings is a Python tuple of string literals.
func pyStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return "(" + strings.Join(q, ", ") + ",)"
}
