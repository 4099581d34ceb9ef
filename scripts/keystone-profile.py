#!/usr/bin/python3
"""Token validations in-process through a node's rendered WSGI entry point (docs/benchmarks.md).

Runs GET /v3/auth/tokens against the Keystone application of one node of a local target, with
the node's keystone.conf (its memcached pool and database), without Apache or TLS, through
werkzeug's test client, and prints the CPU time per validation, the memcached operations per
validation and how often a token's roles were computed (TokenModel._get_project_roles).
PROFILE=1 adds a cProfile listing (SORT=cumulative|tottime, TOP=n). Run as root (the node's
keys are readable by keystone only) with Debian's python3-keystone:

  scripts/keystone-profile.py $L/hosts/keystone01/etc/keystone/keystone-wsgi-public.py \\
      $L/secrets/keystone-admin-password 300
"""
import collections
import cProfile
import os
import pstats
import sys
import time

wsgi_file, password_file = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
sys.argv = sys.argv[:1]  # oslo.config parses the command line

ns = {"__file__": wsgi_file, "__name__": "keystone_wsgi"}
exec(compile(open(wsgi_file).read(), wsgi_file, "exec"), ns)
from werkzeug.test import Client  # noqa: E402

client = Client(ns["application"])
password = open(password_file).read().strip()
auth = {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
tokens = []
for _ in range(2):  # the caller's and the subject token, as cso bench keystone validates
    r = client.post("/v3/auth/tokens", json=auth)
    if r.status_code != 201:
        sys.exit("token issue: %s" % r.status)
    tokens.append(r.headers["X-Subject-Token"])


def validate():
    r = client.get("/v3/auth/tokens", headers={"X-Auth-Token": tokens[0], "X-Subject-Token": tokens[1]})
    if r.status_code != 200:
        sys.exit("validation: %s" % r.status)


for _ in range(20):  # warm: every answer cached
    validate()

import memcache  # noqa: E402
from keystone.models import token_model  # noqa: E402

ops = collections.Counter()
for name in ("get", "get_multi", "set", "set_multi", "add", "delete", "delete_multi"):
    def counted(self, *a, _orig=getattr(memcache.Client, name), _name=name, **k):
        ops[_name] += 1
        return _orig(self, *a, **k)
    setattr(memcache.Client, name, counted)
computed = [0]
project_roles = token_model.TokenModel._get_project_roles


def counted_roles(self):
    computed[0] += 1
    return project_roles(self)


token_model.TokenModel._get_project_roles = counted_roles

profile = cProfile.Profile() if os.environ.get("PROFILE") else None
if profile:
    profile.enable()
t0 = time.process_time()
for _ in range(n):
    validate()
cpu = time.process_time() - t0
if profile:
    profile.disable()
print("%d validations: CPU %.2f ms per validation; memcached %s per validation; roles computed %.1f times per validation"
      % (n, cpu * 1000 / n, {k: round(v / n, 2) for k, v in ops.items()}, computed[0] / n))
if profile:
    pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(int(os.environ.get("TOP", "40")))
