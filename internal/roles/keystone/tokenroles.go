package keystone

import "strings"

// tokenRolesMajors are the Keystone major releases whose TokenModel.roles tokenRolesPy was
// checked against: Debian 12's 22 (the local platform, keystone/models/token_model.py read
// on this machine) and the Amazon Linux pin's (KeystoneRelease; upstream's token_model.py has
// the same property). Any other release keeps Keystone's own code and logs why.
var tokenRolesMajors = []string{"22", strings.SplitN(KeystoneRelease, ".", 2)[0]}

// tokenRolesPy is put in the WSGI entry point before Keystone loads; _request_scope wraps
// Keystone's application and does two things per request.
//
// One request-local cache per request first. Keystone's (_context_cache) lives on
// oslo.context's current context, a thread-local that the previous request leaves behind
// until AuthContextMiddleware makes the new one, which is after it has validated the
// caller's X-Auth-Token. That first validation therefore read the cache regions' ids (and so
// every cached answer, the revocation check's too) as the previous request had seen them: a
// token revoked on the other node in between authenticated the next request once more
// (measured with Debian's keystone 22.0.2 and the revocation cache; Keystone's own SQL check
// refused it). Each request now starts with a fresh context, and Keystone's request-local
// cache is kept in one store that lives exactly as long as the request's call (both of its
// contexts share it, so the second does not fetch again what the first just read); an
// unchecked Keystone keeps its own store, with the fresh context.
//
// Then the token roles. Keystone 22's TokenModel.roles reads the assignments and each role
// through the cache on every use, and one GET /v3/auth/tokens uses it 9 times (the caller's
// token in the auth context and its revocation check, the subject token for the policy
// target, its revocation check and the rendered answer). They are computed once per
// request and token id, for GET and HEAD only (they write no assignment), and only while
// [cache] enabled and [role] caching are on: then Keystone's request-local cache already
// answers every later read of the same assignments within the request from its first
// answer, so the memo adds no staleness; a removed assignment is seen by the next request as
// Keystone's caches see it. The memo is dropped when the request's call returns, and every
// other method runs Keystone's code. An unknown Keystone release, or one without
// TokenModel.roles, logs a warning and keeps Keystone's computation and request-local cache;
// without oslo.context (no Keystone lacks it) the application is left unwrapped.
var tokenRolesPy = `

def _per_request(checked):
    """A fresh request context, token roles once per read-only request (cso: docs/decisions/roles.md)."""
    import logging
    import threading
    from importlib import metadata

    logger = logging.getLogger("keystone.cso.per_request")
    request = threading.local()
    memo_roles = False
    try:
        from oslo_context import context as oslo_context
    except ImportError as e:
        oslo_context = None
        logger.warning("requests keep the previous request's context: %s", e)
    try:
        import keystone.conf
        from keystone.common.cache import _context_cache
        from keystone.models import token_model
        version = metadata.version("keystone")
        computed = token_model.TokenModel.roles.fget
        context_of = _context_cache._ResponseCacheProxy._get_request_context
    except (ImportError, AttributeError, metadata.PackageNotFoundError) as e:
        logger.warning("Keystone's request-local cache and token roles stay as shipped: %s", e)
    else:
        if version.split(".")[0] in checked:
            memo_roles = True
        else:
            logger.warning("Keystone's request-local cache and token roles stay as shipped: "
                           "keystone %s is not one of the releases %s this was checked against",
                           version, checked)

    class Store(object):
        """Keystone's request-local cache of one request (attributes, as on a context)."""

    def request_local(self):
        store = getattr(request, "store", None)
        return context_of(self) if store is None else store

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

    if memo_roles:
        conf = keystone.conf.CONF
        token_model.TokenModel.roles = property(roles)
        _context_cache._ResponseCacheProxy._get_request_context = request_local

    def scope(app):
        if oslo_context is None and not memo_roles:
            return app

        def application(environ, start_response):
            if oslo_context is not None:
                oslo_context.RequestContext(overwrite=True)  # the current context from here on
            request.store = Store() if memo_roles else None
            read_only = environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            if memo_roles and read_only and conf.cache.enabled and conf.role.caching:
                request.memo = {}
            else:
                request.memo = None
            try:
                return app(environ, start_response)
            finally:
                request.memo = request.store = None
        return application
    return scope


_request_scope = _per_request(` + pyStrings(tokenRolesMajors) + `)
`

// pyStrings is a Python tuple of string literals.
func pyStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return "(" + strings.Join(q, ", ") + ",)"
}
