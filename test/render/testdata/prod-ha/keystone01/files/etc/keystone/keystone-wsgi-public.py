# Managed by cso agent (keystone role): the Keystone public WSGI application of this
# instance, reading /etc/keystone/keystone.conf.
# Keystone 25.0.0 (OpenStack 2024.1) from the virtual environment /opt/keystone-venv
# (WSGIDaemonProcess python-home in /etc/httpd/keystone-httpd.conf).
import os

VENV = "/opt/keystone-venv"

os.environ["OS_KEYSTONE_CONFIG_DIR"] = "/etc/keystone"
os.environ["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"

import keystone

if not os.path.realpath(keystone.__file__).startswith(os.path.realpath(VENV) + os.sep):
    raise ImportError("keystone was imported from %s, not from %s: check python-home in /etc/httpd/keystone-httpd.conf"
                      % (keystone.__file__, VENV))


def _cache_revocation_checks():
    """Serve revocation checks from the revoke cache region (cso: docs/decisions/roles.md)."""
    import logging

    logger = logging.getLogger("keystone.cso.revocation_cache")
    try:
        import keystone.conf
        from keystone.revoke import core
        from keystone.revoke.backends import sql
        region = core.REVOKE_REGION
        uncached = sql.Revoke.list_events
    except (ImportError, AttributeError) as e:
        logger.warning("revocation checks stay uncached: %s", e)
        return
    conf = keystone.conf.CONF

    def list_events(self, last_fetch=None, token=None):
        if token is None or not (conf.cache.enabled and conf.revoke.caching):
            return uncached(self, last_fetch=last_fetch, token=token)
        key = "cso.revoke.token_events:" + repr(sorted(token.items()))
        return region.get_or_create(
            key, lambda: uncached(self, token=token),
            expiration_time=conf.revoke.cache_time)

    sql.Revoke.list_events = list_events


_cache_revocation_checks()


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


_request_scope = _per_request(("22", "25",))

from keystone.server.wsgi import initialize_public_application

application = _request_scope(initialize_public_application())
