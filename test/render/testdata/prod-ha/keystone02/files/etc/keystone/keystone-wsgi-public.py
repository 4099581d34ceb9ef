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

from keystone.server.wsgi import initialize_public_application

application = initialize_public_application()
