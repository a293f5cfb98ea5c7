"""Each tenant's share of the API: a token bucket per tenant, so that one tenant's flood of
requests is answered 429 while every other tenant is served as before.

The bucket is the one ``dal.rate_limit`` keeps for the provider, under the control table key
``ratelimit#tenant#<tenant_id>``: it holds ``TenantRequestBurst`` tokens and refills at
``TenantRequestsPerSecond``. A request that finds it empty is refused at once with the wait
until its next token, never queued: the caller decides whether to retry.
"""

from __future__ import annotations

import time

from videojobs.adapters.dal.rate_limit import TokenBucket
from videojobs.models.errors import RequestRateExceededError
from videojobs.settings import get_settings

BUCKET_PREFIX = "ratelimit#tenant#"
# A wait this short means other requests of the same tenant were writing the bucket at the
# same moment (or a token is just due): worth a short sleep rather than a refusal.
_SHORT_WAIT_SECONDS = 0.1
_SHORT_WAITS = 3


def admit(tenant_id: str) -> None:
    """Take one of the tenant's request tokens, or raise :class:`RequestRateExceededError`."""
    settings = get_settings()
    bucket = TokenBucket(
        settings.tenant_requests_per_second * 60,
        capacity=settings.tenant_request_burst,
        key=f"{BUCKET_PREFIX}{tenant_id}",
    )
    for _ in range(_SHORT_WAITS):
        wait = bucket.try_take(int(time.time() * 1000))
        if wait <= 0:
            return
        if wait > _SHORT_WAIT_SECONDS:
            break
        time.sleep(wait)
    raise RequestRateExceededError(retry_after=wait)
