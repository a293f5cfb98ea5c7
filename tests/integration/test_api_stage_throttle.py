"""The stage throttle of the real template (MethodSettings: ApiThrottleRateLimit after a burst
of ApiThrottleBurstLimit, for each method) as the local API Gateway front applies it: past
it, API Gateway's own 429 in the OpenAI error shape, before any function runs."""

from __future__ import annotations

import time

import httpx
import pytest

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

RATE = 1
BURST = 3
STACK_PARAMETERS = (
    f"ApiThrottleRateLimit={RATE} ApiThrottleBurstLimit={BURST} "
    "TenantRequestsPerSecond=10000 TenantRequestBurst=10000"
)


def test_requests_over_the_stage_throttle_get_429_in_the_openai_shape(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # When 10 requests to one method come one after another, as fast as they can
    started = time.monotonic()
    answers = [api.get("/videos") for _ in range(10)]
    elapsed = time.monotonic() - started
    # Then the burst and what refilled meanwhile are served, and the rest refused
    served = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(served) + len(refused) == 10
    assert BURST <= len(served) <= BURST + RATE * elapsed + 1
    assert refused
    # And each refusal is API Gateway's THROTTLED answer, in the OpenAI error shape
    for response in refused:
        assert response.json() == {
            "error": {
                "message": "Too many requests to this API; try again shortly.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        assert response.headers["Retry-After"] == "1"
        assert response.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    # And the throttle comes before the authorizer: a bad key is refused for the rate too
    bad_keys = [
        httpx.get(f"{service.api_url}/videos", headers={"Authorization": "Bearer sk-not-a-key"})
        for _ in range(3)
    ]
    assert 429 in [r.status_code for r in bad_keys]
    # And another method has a bucket of its own
    assert api.get("/usage").status_code == 200
