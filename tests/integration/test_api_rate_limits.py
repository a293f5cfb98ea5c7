"""Each tenant's share of the API: a tenant that sends requests faster than
TenantRequestsPerSecond (after a burst of TenantRequestBurst) is answered 429
rate_limit_exceeded in the OpenAI error shape with a Retry-After, while another tenant is
served as before."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

RATE = 1
BURST = 3
STACK_PARAMETERS = f"TenantRequestsPerSecond={RATE} TenantRequestBurst={BURST}"


def client_for(service: LocalVideojobs, tenant_id: str) -> httpx.Client:
    return httpx.Client(
        base_url=service.api_url,
        headers={"Authorization": f"Bearer {service.create_tenant_key(tenant_id)}"},
        timeout=30.0,
    )


@pytest.fixture
def tenant_a(running_service: LocalVideojobs) -> Iterator[httpx.Client]:
    with client_for(running_service, "flooder") as client:
        yield client


@pytest.fixture
def tenant_b(running_service: LocalVideojobs) -> Iterator[httpx.Client]:
    with client_for(running_service, "bystander") as client:
        yield client


def test_a_tenant_over_its_rate_gets_429_while_another_is_served(
    tenant_a: httpx.Client, tenant_b: httpx.Client
) -> None:
    # When tenant A sends 10 requests one after another, as fast as it can
    started = time.monotonic()
    answers = [tenant_a.get("/videos") for _ in range(10)]
    elapsed = time.monotonic() - started
    # Then it is served its burst and what refilled meanwhile, and refused the rest
    served = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(served) + len(refused) == 10
    assert BURST <= len(served) <= BURST + RATE * elapsed + 1
    assert refused
    # And each refusal is OpenAI's rate-limit error, with the wait until the next token
    for response in refused:
        assert response.json() == {
            "error": {
                "message": response.json()["error"]["message"],
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        assert 1 <= int(response.headers["Retry-After"]) <= 1 / RATE + 1
    # And tenant B, meanwhile, is served at once
    assert tenant_b.get("/videos").status_code == 200
    # And a create refused for the rate creates nothing
    codes = [tenant_a.post("/videos", json={"prompt": f"flood {i}"}).status_code for i in range(6)]
    assert 429 in codes
    time.sleep(BURST / RATE)  # so that the listing below is admitted
    listed = tenant_a.get("/videos")
    assert listed.status_code == 200
    assert len(listed.json()["data"]) == codes.count(200)


def test_the_public_documents_take_no_tenant_token(
    running_service: LocalVideojobs, tenant_a: httpx.Client
) -> None:
    # Given tenant A out of tokens
    for _ in range(BURST + 2):
        tenant_a.get("/videos")
    # When anyone reads the OpenAPI document
    with httpx.Client(base_url=running_service.api_url, timeout=30.0) as anonymous:
        response = anonymous.get("/openapi.json")
    # Then it is served: no tenant, no bucket
    assert response.status_code == 200
