"""Hostile and malformed requests against the real HTTP front of the local stack.

Every request here goes through the local API Gateway (routing, the Lambda authorizer,
gateway responses) into the handlers. Each one must be refused with a 4xx, never a 5xx, in
the OpenAI error shape (API Gateway's own answers too, through the template's gateway
responses), and must leave the jobs table exactly as it was.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_support import API_LIMITS_OFF

from videojobs import standard_webhooks
from videojobs.adapters.dal import jobs
from videojobs.models.job import Job, JobStatus, VideoRequest, new_job_id
from videojobs_local.local import LocalVideojobs, run_local

ANY = object()
"""An error ``code``/``param`` this case does not pin down (validation codes are still being
settled; the status, the shape and the field at fault are what a caller acts on)."""

DEEP_JSON = b"[" * 50_000 + b"]" * 50_000
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


@dataclass(frozen=True)
class Hostile:
    """One rejected request and the answer it must get."""

    method: str
    path: str
    status: int
    code: str | object | None = None
    param: str | object | None = None
    _: KW_ONLY
    json_body: Any = None
    body: bytes | None = None
    content_type: str | None = "application/json"
    # tenant: the seeded tenant's key; other: another tenant's key; none: no credentials;
    # raw: only `headers` below.
    auth: str = "tenant"
    headers: dict[str, str] = field(default_factory=dict)
    # For /webhooks/provider: "signed" now with the stack's secret, "stale" (10 min old),
    # "forged" (another secret), or None (unsigned).
    webhook: str | None = None
    gateway: str | None = None
    """API Gateway answers itself (no Lambda ran), through the template's gateway response:
    the ``x-amzn-ErrorType`` it reports."""


UNKNOWN_ROUTE = "MissingAuthenticationTokenException"


def refused_key(headers: dict[str, str]) -> Hostile:
    """A create sent with these credential headers only, which must be a 401."""
    return Hostile(
        "POST",
        "/v1/videos",
        401,
        "invalid_api_key",
        json_body=body_of(),
        auth="raw",
        headers=headers,
    )


def body_of(**fields: Any) -> dict[str, Any]:
    return {"prompt": "a lighthouse in a storm", **fields}


def multipart_image_without_prompt() -> tuple[bytes, str]:
    boundary = "----videojobs-test-boundary"
    part = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="input_reference"; filename="ref.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return part + PNG_BYTES + f"\r\n--{boundary}--\r\n".encode(), boundary


MULTIPART, BOUNDARY = multipart_image_without_prompt()
EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "video.completed",
    "created_at": 1_800_000_000,
    "data": {"id": "video_provider_1"},
}

CASES: dict[str, Hostile] = {
    # --- POST /v1/videos: the body --------------------------------------------------------
    "invalid JSON": Hostile("POST", "/v1/videos", 400, "invalid_json", body=b'{"prompt": "x",'),
    "JSON array": Hostile("POST", "/v1/videos", 400, "invalid_json", json_body=["a prompt"]),
    "JSON string": Hostile("POST", "/v1/videos", 400, "invalid_json", json_body="a prompt"),
    "empty body": Hostile("POST", "/v1/videos", 400, ANY, ANY, body=b""),
    "deeply nested JSON": Hostile("POST", "/v1/videos", 400, "invalid_json", body=DEEP_JSON),
    "body over 1 MiB": Hostile(
        "POST", "/v1/videos", 400, ANY, ANY, json_body=body_of(pad="x" * 1_600_000)
    ),
    "body over API Gateway's 10 MB": Hostile(
        "POST",
        "/v1/videos",
        413,
        "request_too_large",
        body=b"{" + b" " * (10 * 1024 * 1024) + b"}",
        gateway="RequestTooLongException",
    ),
    "text/plain body": Hostile(
        "POST",
        "/v1/videos",
        400,
        "unsupported_media_type",
        body=json.dumps(body_of()).encode(),
        content_type="text/plain",
    ),
    "form-urlencoded body": Hostile(
        "POST",
        "/v1/videos",
        400,
        "unsupported_media_type",
        body=b"prompt=a+lighthouse",
        content_type="application/x-www-form-urlencoded",
    ),
    "raw PNG body": Hostile(
        "POST",
        "/v1/videos",
        400,
        "unsupported_media_type",
        body=PNG_BYTES,
        content_type="image/png",
    ),
    "multipart image and no prompt": Hostile(
        "POST",
        "/v1/videos",
        400,
        ANY,
        ANY,
        body=MULTIPART,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "unknown field": Hostile(
        "POST", "/v1/videos", 400, ANY, "style", json_body=body_of(style="noir")
    ),
    "prompt missing": Hostile(
        "POST", "/v1/videos", 400, ANY, "prompt", json_body={"model": "sora-2"}
    ),
    "prompt blank": Hostile(
        "POST", "/v1/videos", 400, ANY, "prompt", json_body={"prompt": "  \n\t "}
    ),
    "prompt too long": Hostile(
        "POST", "/v1/videos", 400, ANY, "prompt", json_body={"prompt": "a" * 4001}
    ),
    "prompt too long in emoji": Hostile(
        "POST", "/v1/videos", 400, ANY, "prompt", json_body={"prompt": "\U0001f30a" * 4001}
    ),
    "prompt a number": Hostile("POST", "/v1/videos", 400, ANY, "prompt", json_body={"prompt": 42}),
    "prompt a NoSQL operator": Hostile(
        "POST", "/v1/videos", 400, ANY, "prompt", json_body={"prompt": {"$ne": None}}
    ),
    "prompt a lone surrogate": Hostile(
        "POST",
        "/v1/videos",
        400,
        ANY,
        "prompt",
        body=b'{"prompt": "\\ud800"}',
    ),
    "bad model": Hostile(
        "POST", "/v1/videos", 400, ANY, "model", json_body=body_of(model="sora-3")
    ),
    "seconds '5'": Hostile(
        "POST", "/v1/videos", 400, ANY, "seconds", json_body=body_of(seconds="5")
    ),
    "seconds 5.5": Hostile(
        "POST", "/v1/videos", 400, ANY, "seconds", json_body=body_of(seconds=5.5)
    ),
    "seconds 'abc'": Hostile(
        "POST", "/v1/videos", 400, ANY, "seconds", json_body=body_of(seconds="abc")
    ),
    "seconds true": Hostile(
        "POST", "/v1/videos", 400, ANY, "seconds", json_body=body_of(seconds=True)
    ),
    "bad size": Hostile("POST", "/v1/videos", 400, ANY, "size", json_body=body_of(size="640x480")),
    "size not offered by the model": Hostile(
        "POST", "/v1/videos", 400, ANY, "size", json_body=body_of(model="sora-2", size="1792x1024")
    ),
    "metadata with 17 pairs": Hostile(
        "POST",
        "/v1/videos",
        400,
        ANY,
        "metadata",
        json_body=body_of(metadata={f"k{i}": "v" for i in range(17)}),
    ),
    "metadata value not a string": Hostile(
        "POST", "/v1/videos", 400, ANY, "metadata.run", json_body=body_of(metadata={"run": 7})
    ),
    "metadata key of 65 characters": Hostile(
        "POST",
        "/v1/videos",
        400,
        ANY,
        f"metadata.{'k' * 65}.[key]",
        json_body=body_of(metadata={"k" * 65: "v"}),
    ),
    "metadata value of 513 characters": Hostile(
        "POST",
        "/v1/videos",
        400,
        ANY,
        "metadata.note",
        json_body=body_of(metadata={"note": "v" * 513}),
    ),
    "metadata a list": Hostile(
        "POST", "/v1/videos", 400, ANY, "metadata", json_body=body_of(metadata=["k", "v"])
    ),
    # --- POST /v1/video_batches: the same body rules -------------------------------------------
    "batch: deeply nested JSON": Hostile(
        "POST", "/v1/video_batches", 400, "invalid_json", body=DEEP_JSON
    ),
    "batch: raw PNG body": Hostile(
        "POST",
        "/v1/video_batches",
        400,
        "unsupported_media_type",
        body=PNG_BYTES,
        content_type="image/png",
    ),
    # --- GET /v1/videos/{id} and its content --------------------------------------------------
    "id malformed": Hostile("GET", "/v1/videos/123", 404),
    "id well-formed but unknown": Hostile("GET", f"/v1/videos/video_{'f' * 32}", 404),
    "id with SQL": Hostile("GET", "/v1/videos/video_' OR '1'='1", 404),
    "id with a NoSQL operator": Hostile("GET", '/v1/videos/{"$gt": ""}', 404),
    "id in non-ASCII letters": Hostile("GET", f"/v1/videos/video_{'é' * 32}", 404),
    "id with a NUL byte": Hostile("GET", "/v1/videos/video_%00", 404),
    "id of 8 kB": Hostile("GET", f"/v1/videos/video_{'a' * 8000}", 404),
    "path traversal, encoded slashes": Hostile(
        "GET", "/v1/videos/..%2F..%2Fetc%2Fpasswd", 404, "unknown_route", gateway=UNKNOWN_ROUTE
    ),
    "path traversal, backslashes": Hostile("GET", "/v1/videos/..%5C..%5Cwin.ini", 404),
    "another tenant's job": Hostile("GET", "/v1/videos/{unfinished}", 404, auth="other"),
    "content: bad variant": Hostile(
        "GET",
        "/v1/videos/{unfinished}/content?variant=../../secret",
        400,
        "invalid_value",
        "variant",
    ),
    "content: unfinished job": Hostile(
        "GET", "/v1/videos/{unfinished}/content", 400, "video_not_ready"
    ),
    "content: malformed id": Hostile("GET", "/v1/videos/nope/content", 404),
    "content: another tenant's job": Hostile(
        "GET", "/v1/videos/{unfinished}/content", 404, auth="other"
    ),
    # --- credentials --------------------------------------------------------------------------
    "no credentials": Hostile(
        "POST", "/v1/videos", 401, "invalid_api_key", json_body=body_of(), auth="none"
    ),
    "no credentials on a read": Hostile(
        "GET", "/v1/videos/{unfinished}", 401, "invalid_api_key", auth="none"
    ),
    "unknown key": refused_key({"Authorization": "Bearer vj_" + "A" * 43}),
    "Bearer with no key": refused_key(
        # What arrives for "Bearer ": HTTP strips the trailing space.
        {"Authorization": "Bearer"}
    ),
    "wrong x-api-key": refused_key({"x-api-key": "vj_not-a-key"}),
    "Basic credentials": refused_key({"Authorization": "Basic dmo6c2VjcmV0"}),
    "another service's key": refused_key({"Authorization": "Bearer sk-proj-0123456789abcdef"}),
    "key of 10 kB": refused_key({"x-api-key": "vj_" + "k" * 10_000}),
    "a good key and another beside it": Hostile(
        "GET",
        "/v1/videos",
        401,
        "invalid_api_key",
        # The tenant's key as Bearer, an unknown one as x-api-key: neither is used.
        headers={"x-api-key": "vj_" + "B" * 43},
    ),
    # --- routes -------------------------------------------------------------------------------
    "unknown route": Hostile(
        "GET", "/v1/images/generations", 404, "unknown_route", gateway=UNKNOWN_ROUTE
    ),
    "unknown version": Hostile(
        "POST", "/v2/videos", 404, "unknown_route", json_body=body_of(), gateway=UNKNOWN_ROUTE
    ),
    # A path's other methods reach its ANY method: 405 with Allow, from the API function.
    "wrong method on a video": Hostile(
        "PATCH", "/v1/videos/{unfinished}", 405, "method_not_allowed"
    ),
    "wrong method on the collection": Hostile(
        "PUT", "/v1/videos", 405, "method_not_allowed", json_body=body_of()
    ),
    "wrong method on the collection, no key": Hostile(
        "DELETE", "/v1/videos", 405, "method_not_allowed", auth="none"
    ),
    "wrong method on the webhook": Hostile(
        "GET", "/webhooks/provider", 404, "unknown_route", gateway=UNKNOWN_ROUTE
    ),
    # --- POST /webhooks/provider --------------------------------------------------------------
    "webhook unsigned": Hostile(
        "POST", "/webhooks/provider", 401, "invalid_signature", json_body=EVENT, auth="none"
    ),
    "webhook forged": Hostile(
        "POST",
        "/webhooks/provider",
        401,
        "invalid_signature",
        json_body=EVENT,
        auth="none",
        webhook="forged",
    ),
    "webhook replayed after 10 minutes": Hostile(
        "POST",
        "/webhooks/provider",
        401,
        "invalid_signature",
        json_body=EVENT,
        auth="none",
        webhook="stale",
    ),
    "webhook over 256 KiB": Hostile(
        "POST",
        "/webhooks/provider",
        413,
        "body_too_large",
        json_body={**EVENT, "pad": "x" * 300_000},
        auth="none",
        webhook="signed",
    ),
    "webhook signed but not JSON": Hostile(
        "POST",
        "/webhooks/provider",
        400,
        "invalid_body",
        body=b"video.completed video_provider_1",
        auth="none",
        webhook="signed",
    ),
    "webhook signed, deeply nested JSON": Hostile(
        "POST",
        "/webhooks/provider",
        400,
        "invalid_body",
        body=DEEP_JSON,
        auth="none",
        webhook="signed",
    ),
    "webhook signed, video event without data": Hostile(
        "POST",
        "/webhooks/provider",
        400,
        "invalid_body",
        json_body={k: v for k, v in EVENT.items() if k != "data"},
        auth="none",
        webhook="signed",
    ),
    "webhook signed, video id of 300 characters": Hostile(
        "POST",
        "/webhooks/provider",
        400,
        "invalid_body",
        json_body={**EVENT, "data": {"id": "v" * 300}},
        auth="none",
        webhook="signed",
    ),
}


@pytest.fixture(scope="module")
def service(render_cache_dir: Path) -> Iterator[LocalVideojobs]:
    with run_local(
        emulator_speed=100,
        parameter_overrides=f"ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}",
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def other_tenant_key(service: LocalVideojobs) -> str:
    return service.create_tenant_key("intruder")


@pytest.fixture(scope="module")
def unfinished(service: LocalVideojobs) -> str:
    """A queued job of the seeded tenant, with no execution (so it stays unfinished)."""
    now = int(time.time())
    job = jobs.create(
        Job(
            job_id=new_job_id(),
            tenant_id=service.tenant_id,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            request=VideoRequest(prompt="a lighthouse in a storm"),
        )
    )
    return job.job_id


@pytest.fixture
def http(service: LocalVideojobs) -> Iterator[httpx.Client]:
    root = service.api_url.removesuffix("/v1")
    with httpx.Client(base_url=root, timeout=30.0) as client:
        yield client


def job_count(service: LocalVideojobs) -> int:
    answer = service.stack.client("dynamodb").scan(
        TableName=service.state()["jobs_table"], Select="COUNT", ConsistentRead=True
    )
    assert "LastEvaluatedKey" not in answer
    return int(answer["Count"])


def build_request(
    case: Hostile, service: LocalVideojobs, other_key: str, unfinished: str
) -> tuple[str, str, bytes, dict[str, str]]:
    path = case.path.replace("{unfinished}", unfinished)
    body = case.body
    if body is None and case.json_body is not None:
        body = json.dumps(case.json_body).encode()
    body = body or b""
    headers: dict[str, str] = {}
    if case.content_type and (body or case.method in ("POST", "PUT")):
        headers["Content-Type"] = case.content_type
    if case.auth == "tenant":
        headers["Authorization"] = f"Bearer {service.api_key}"
    elif case.auth == "other":
        headers["Authorization"] = f"Bearer {other_key}"
    headers.update(case.headers)
    if case.webhook is not None:
        secret = (
            standard_webhooks.generate_secret()
            if case.webhook == "forged"
            else service.provider_webhook_secret
        )
        stamp = int(time.time()) - (600 if case.webhook == "stale" else 0)
        headers.update(
            standard_webhooks.signed_headers(
                secret, "wh_" + uuid.uuid4().hex, body, timestamp=stamp
            )
        )
    return case.method, path, body, headers


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_request_is_refused_without_a_trace(
    name: str,
    service: LocalVideojobs,
    http: httpx.Client,
    other_tenant_key: str,
    unfinished: str,
) -> None:
    # Given the stack and its jobs as they are
    case = CASES[name]
    method, path, body, headers = build_request(case, service, other_tenant_key, unfinished)
    before = job_count(service)

    # When the request arrives at the HTTP front
    response = http.request(method, path, content=body, headers=headers)

    # Then it is refused as the caller's fault ...
    assert response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"
    assert response.status_code == case.status, response.text[:300]
    answer = response.json()
    # ... in the OpenAI error shape, naming the problem (whether API Gateway answered itself
    # or our code did) ...
    assert set(answer) == {"error"}
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"].strip()
    assert error["type"] == "invalid_request_error"
    if case.code is not ANY:
        assert error["code"] == case.code
    if case.param is not ANY:
        assert error["param"] == case.param
    if case.gateway:
        assert response.headers["x-amzn-ErrorType"] == case.gateway
    # ... never echoing the caller's credentials ...
    for credential in (service.api_key, other_tenant_key):
        assert credential not in response.text
    # ... and nothing was stored
    assert job_count(service) == before


def test_the_table_covers_every_route_that_exists() -> None:
    # Given the hostile requests above / Then each route of today is attacked at least once
    attacked = {(case.method, case.path.split("?")[0]) for case in CASES.values()}
    assert ("POST", "/v1/videos") in attacked
    assert ("GET", "/v1/videos/{unfinished}") in attacked
    assert ("GET", "/v1/videos/{unfinished}/content") in attacked
    assert ("POST", "/webhooks/provider") in attacked
    assert len(CASES) >= 25


@pytest.mark.parametrize("kind", ["list", "object", "number"])
def test_signed_webhook_with_a_non_string_type_is_acknowledged_not_crashed(
    kind: str, service: LocalVideojobs, http: httpx.Client
) -> None:
    # Given a validly signed webhook whose "type" is not a string (not a video event)
    odd_type = {"list": ["video.completed"], "object": {"v": 1}, "number": 7}[kind]
    body = json.dumps({**EVENT, "type": odd_type}).encode()
    headers = {
        "Content-Type": "application/json",
        **standard_webhooks.signed_headers(
            service.provider_webhook_secret, "wh_" + uuid.uuid4().hex, body
        ),
    }
    before = job_count(service)

    # When the provider's endpoint receives it
    response = http.post("/webhooks/provider", content=body, headers=headers)

    # Then it is acknowledged and ignored like any other type that is not a video event
    # (a 5xx would make the sender retry it for three days)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"status": "ignored"}
    assert job_count(service) == before
