"""Fault injection, failure markers, expiry and the counters tests rely on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from videojobs.standard_webhooks import verify
from videojobs_local.emulator import EmulatorServer, ReceivedWebhook, WebhookReceiver


def _create(http: httpx.Client, prompt: str = "a quiet street", **fields: object) -> str:
    response = http.post("/v1/videos", json={"prompt": prompt, **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _statuses(emulator: EmulatorServer) -> list[int]:
    return [entry["status"] for entry in emulator.requests()]


# --- request faults ---------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_then_recovers(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator_http.post("/_emulator/faults", json={"rate_limit": {"count": 2, "retry_after": 3}})

    first = emulator_http.post("/v1/videos", json={"prompt": "x"})
    second = emulator_http.get("/v1/videos")
    third = emulator_http.get("/v1/videos")

    assert first.status_code == second.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert third.status_code == 200
    # A throttled create must not have created anything.
    assert third.json()["data"] == []
    assert emulator.stats()["faults_injected"] == 2


def test_the_sdk_retries_a_rate_limit_and_succeeds(emulator: EmulatorServer) -> None:
    emulator.set_faults(rate_limit={"count": 1, "retry_after": 0.01})

    with openai.OpenAI(
        api_key=emulator.config.api_key, base_url=emulator.api_url, max_retries=2
    ) as client:
        page = client.moderations.create(input="hello")

    assert page.results[0].flagged is False
    assert _statuses(emulator) == [429, 200]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_use_the_error_shape(
    emulator_http: httpx.Client, emulator: EmulatorServer, status: int
) -> None:
    emulator.set_faults(server_error={"count": 1, "status": status})

    failed = emulator_http.get("/v1/videos")
    recovered = emulator_http.get("/v1/videos")

    assert failed.status_code == status
    assert failed.json()["error"]["type"] == "server_error"
    assert recovered.status_code == 200


def test_server_error_after_processing_still_creates_the_video(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.set_faults(server_error={"count": 1, "status": 502, "after_processing": True})

    response = emulator_http.post("/v1/videos", json={"prompt": "lost response"})

    assert response.status_code == 502
    listed = emulator_http.get("/v1/videos").json()["data"]
    assert [video["prompt"] for video in listed] == ["lost response"]


def test_slow_delays_only_the_next_requests(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.set_faults(slow={"count": 1, "delay_seconds": 0.3})

    started = time.monotonic()
    emulator_http.get("/v1/videos")
    slow = time.monotonic() - started
    started = time.monotonic()
    emulator_http.get("/v1/videos")
    fast = time.monotonic() - started

    assert slow >= 0.3
    assert fast < 0.2


def test_truncated_download_announces_the_full_length_then_drops(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    video_id = _create(emulator_http)
    emulator.wait_for(video_id)
    full = emulator_http.get(f"/v1/videos/{video_id}/content").content
    emulator_http.post(
        "/_emulator/faults", json={"truncate_download": {"count": 1, "after_bytes": 1000}}
    )

    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        emulator_http.stream("GET", f"/v1/videos/{video_id}/content") as response,
    ):
        assert int(response.headers["content-length"]) == len(full)
        for chunk in response.iter_raw():
            received += chunk

    assert received == full[:1000]
    assert emulator_http.get(f"/v1/videos/{video_id}/content").content == full


# --- markers and lifecycle --------------------------------------------------------------------


def test_fail_marker_fails_half_way_with_a_policy_error(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.update_config(speed=100)
    video_id = _create(emulator_http, "a scene [[fail]]")

    assert emulator.wait_for(video_id, ("in_progress",))["status"] == "in_progress"
    failed = emulator.wait_for(video_id)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "moderation_blocked"
    assert "content policy" in failed["error"]["message"]
    assert 40 <= failed["progress"] <= 60
    assert failed["expires_at"] is None
    download = emulator_http.get(f"/v1/videos/{video_id}/content")
    assert (download.status_code, download.json()["error"]["code"]) == (400, "video_failed")
    assert emulator.stats()["failed"] == 1


def test_reject_marker_is_refused_at_submit(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    response = emulator_http.post("/v1/videos", json={"prompt": "something [[moderation]]"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Your request was blocked by our moderation system.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "moderation_blocked",
    }
    assert (emulator.stats()["created"], emulator.stats()["rejected"]) == (0, 1)


def test_content_expires_after_the_ttl(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator_http.post("/_emulator/config", json={"download_ttl_seconds": 1.0})
    video_id = _create(emulator_http)
    video = emulator.wait_for(video_id)
    assert emulator_http.get(f"/v1/videos/{video_id}/content").status_code == 200

    time.sleep(1.05)

    expired = emulator_http.get(f"/v1/videos/{video_id}/content")
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "video_expired"
    assert "expired" in expired.json()["error"]["message"]
    assert video["expires_at"] - video["completed_at"] == 1
    assert emulator_http.get(f"/v1/videos/{video_id}").json()["status"] == "completed"


def test_progress_rises_while_in_progress(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.update_config(speed=120)
    video_id = _create(emulator_http)

    seen: list[tuple[str, int]] = []
    while not seen or seen[-1][0] not in ("completed", "failed"):
        video = emulator_http.get(f"/v1/videos/{video_id}").json()
        seen.append((video["status"], video["progress"]))
        time.sleep(0.05)

    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert any(status == "in_progress" and 0 < p < 100 for status, p in seen)
    assert seen[-1] == ("completed", 100)


def test_stats_track_peak_concurrency(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.update_config(speed=100)
    ids = [_create(emulator_http, f"clip {i}") for i in range(3)]

    for video_id in ids:
        emulator.wait_for(video_id)

    stats = emulator_http.get("/_emulator/stats").json()
    assert stats["max_in_progress"] == 3
    assert stats["in_progress"] == 0
    assert (stats["created"], stats["completed"]) == (3, 3)


def test_deleting_a_running_video_frees_its_slot(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.update_config(speed=20)
    video_id = _create(emulator_http)
    emulator.wait_for(video_id, ("in_progress",))

    emulator_http.delete(f"/v1/videos/{video_id}")

    stats = emulator.stats()
    assert (stats["in_progress"], stats["max_in_progress"], stats["deleted"]) == (0, 1, 1)


def test_reset_forgets_videos_faults_log_and_stats(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator.wait_for(_create(emulator_http))
    emulator_http.post("/_emulator/faults", json={"slow": {"count": 5, "delay_seconds": 0.01}})
    emulator_http.post("/_emulator/config", json={"speed": 2})

    reset = emulator_http.post("/_emulator/reset", json={"config": True})

    assert reset.json() == {"reset": True}
    assert emulator_http.get("/_emulator/faults").json()["slow"] is None
    assert emulator_http.get("/_emulator/config").json()["speed"] == 500
    assert emulator_http.get("/_emulator/requests").json() == []
    stats = emulator_http.get("/_emulator/stats").json()
    assert stats["created"] == stats["completed"] == stats["requests"] == 0
    assert emulator_http.get("/v1/videos").json()["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"rate_limit": {"count": -1}},
        {"server_error": {"count": 1, "status": 418}},
        {"webhooks": {"mode": "sideways"}},
        {"lightning": {}},
    ],
)
def test_invalid_fault_specs_are_refused(emulator_http: httpx.Client, body: object) -> None:
    response = emulator_http.post("/_emulator/faults", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_value"


@pytest.mark.parametrize(
    "body", [{"video_padding_bytes": 5}, {"speed": 0}, {"api_key": "x"}, {"webhook_secret": "x"}]
)
def test_invalid_config_changes_are_refused(emulator_http: httpx.Client, body: object) -> None:
    response = emulator_http.post("/_emulator/config", json=body)

    assert response.status_code == 400


# --- webhooks ---------------------------------------------------------------------------------


def _event(delivery: ReceivedWebhook) -> dict[str, Any]:
    return dict(json.loads(delivery.body))


def test_webhooks_are_signed_per_standard_webhooks(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    video_id = _create(emulator_http)

    [delivery] = webhook_receiver.wait_for(1)

    secret = emulator.config.webhook_secret
    assert secret is not None
    assert verify(delivery.body, delivery.headers, secret) == delivery.headers["webhook-id"]
    event = _event(delivery)
    assert event["object"] == "event"
    assert event["type"] == "video.completed"
    assert event["data"] == {"id": video_id}
    assert str(event["id"]).startswith("evt_")


def test_failed_deliveries_are_retried_with_the_same_id(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    webhook_receiver.respond_with(500, 503)

    _create(emulator_http)
    deliveries = webhook_receiver.wait_for(3)

    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    # The receiver records a delivery before the sender has seen its response.
    _eventually(lambda: len(emulator.webhook_deliveries()) == 3)
    stats = emulator.stats()
    assert (stats["webhook_failures"], stats["webhooks_sent"]) == (2, 1)
    attempts = [entry["attempt"] for entry in emulator.webhook_deliveries()]
    assert attempts == [1, 2, 3]


def test_webhooks_drop(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    emulator_http.post("/_emulator/faults", json={"webhooks": {"mode": "drop", "count": 1}})

    dropped = _create(emulator_http, "first")
    emulator.wait_for(dropped)
    delivered = _create(emulator_http, "second")
    emulator.wait_for(delivered)

    [delivery] = webhook_receiver.wait_for(1)
    assert _event(delivery)["data"] == {"id": delivered}
    assert emulator.stats()["webhooks_dropped"] == 1


def test_webhooks_duplicate(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    emulator.set_faults(webhooks={"mode": "duplicate", "count": None})

    _create(emulator_http)

    first, second = webhook_receiver.wait_for(2)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_webhooks_reorder_by_count(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    emulator.set_faults(webhooks={"mode": "reorder", "count": 3, "hold_seconds": 30})

    ids = []
    for i in range(3):
        ids.append(_create(emulator_http, f"clip {i}"))
        emulator.wait_for(ids[-1])

    deliveries = webhook_receiver.wait_for(3)
    assert [_event(d)["data"] for d in deliveries] == [{"id": i} for i in reversed(ids)]
    assert emulator.emulator.faults.snapshot()["webhooks"]["mode"] == "normal"


def test_webhooks_reorder_releases_after_the_hold_time(
    emulator: EmulatorServer, emulator_http: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    emulator.set_faults(webhooks={"mode": "reorder", "count": None, "hold_seconds": 1.0})

    first = _create(emulator_http, "one")
    emulator.wait_for(first)
    second = _create(emulator_http, "two")
    emulator.wait_for(second)
    assert webhook_receiver.received == []

    deliveries = webhook_receiver.wait_for(2)
    assert [_event(d)["data"] for d in deliveries] == [{"id": second}, {"id": first}]
