"""schemathesis hooks for scripts/contract-fuzz.sh: tenant-scoped paths point at the seeded data.

The path parameters are pinned here rather than with `[parameters]`: schemathesis applies those
before it snapshots a case and keeps judging it by what it had generated, so a "tenantId longer
than maxLength" case that went out with the seeded id (and got its 200) was reported as invalid
data accepted. An edit made in `before_call` is seen, and the case is judged by what was sent.
Deleting a tenant is tried on a tenant of its own, so the others keep their data for the rest.
"""

import os

import schemathesis
from schemathesis.core.parameters import ParameterLocation

PINNED = {
    "tenantId": os.environ.get("FUZZ_TENANT_ID", ""),
    "keyId": os.environ.get("FUZZ_KEY_ID", ""),
    "tokenId": os.environ.get("FUZZ_TOKEN_ID", ""),
    "instanceUid": os.environ.get("FUZZ_INSTANCE_UID", ""),
    "id": os.environ.get("FUZZ_ROLLOUT_ID", ""),
}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    params = case.path_parameters
    if not params:
        return
    meta = case.meta
    # A case whose path is the invalid part goes out as generated: its refusal is the point.
    if meta is not None and meta.generation.mode.is_negative and meta.is_negative_at(ParameterLocation.PATH):
        return
    doomed = case.method.upper() == "DELETE" and case.path == "/api/v1/tenants/{tenantId}"
    for name, value in PINNED.items():
        if name in params and value:
            params[name] = os.environ.get("FUZZ_DOOMED_TENANT_ID", value) if doomed and name == "tenantId" else value
