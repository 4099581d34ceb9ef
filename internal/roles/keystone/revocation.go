package keystone

// RevokeCacheTime is keystone.conf's [revoke] cache_time in seconds: how long a token's
// revocation events stay in the cache (revocationCachePy). A revocation empties the cache at
// once on every node (the revoke region is invalidated through memcached); this is the bound
// only when that invalidation cannot reach memcached (docs/decisions/roles.md, "Keystone
// revocation checks").
const RevokeCacheTime = 60

// revocationCachePy is put in the WSGI entry point before Keystone loads. Keystone 22 and
// later check every token validation against the database (revoke.core.Manager.check_token
// calls the SQL driver's list_events(token=...), which no cache covers; [revoke] caching
// only covers the deprecated OS-REVOKE event list) and a GET /v3/auth/tokens validates three
// times (the caller's token, the subject token for the policy target and for the answer):
// each time a pool checkout, oslo.db's SELECT 1, the query and two ROLLBACKs.
//
// This serves the query's answer from Keystone's own revoke cache region, keyed by every
// value of the token it is asked about (the same values give the same rows while no event is
// added). Manager.revoke invalidates that region after writing an event, and Keystone's
// region invalidation is distributed (a new region id in memcached), so a revocation on
// either node is seen by the next validation on both. [cache] enabled and [revoke] caching
// turn it off as they turn off Keystone's own revoke cache. If the Keystone in use does not
// have the method this wraps, it logs a warning and leaves Keystone as it is.
const revocationCachePy = `

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
`
