"""A job end to end on the real state machine: HTTPS submit -> provider -> webhook or
polling -> assets in S3 -> completed; and every way it can go wrong ends terminal, with
the slot released."""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

import av
import httpx
import pytest
from moto.s3.exceptions import AccessDeniedByLock
from moto.s3.models import S3Backend
from pipeline_support import wait_for_job

from videojobs import standard_webhooks
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


def submit(api: httpx.Client, **body: Any) -> dict[str, Any]:
    payload = {"prompt": "a lighthouse in a storm", "seconds": "4", "size": "720x1280", **body}
    response = api.post("/videos", json=payload)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "queued"
    return job


def job_item(service: LocalVideojobs, job_id: str) -> dict[str, Any]:
    item = service.stack.client("dynamodb").get_item(
        TableName=service.state()["jobs_table"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return item  # type: ignore[no-any-return]


def provider_id(service: LocalVideojobs, job_id: str) -> str:
    return str(job_item(service, job_id)["provider_video_id"]["S"])


def entered_states(service: LocalVideojobs, job_id: str) -> list[str]:
    sfn = service.stack.client("stepfunctions")
    arn = (
        service.state()["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + job_id
    )
    service.stack.wait_for_execution(arn, timeout=30)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def stored_object(service: LocalVideojobs, job_id: str, name: str) -> bytes:
    s3 = service.stack.client("s3")
    key = f"videos/{service.tenant_id}/{job_id}/{name}"
    return bytes(s3.get_object(Bucket=service.state()["bucket"], Key=key)["Body"].read())


def assert_decodes(data: bytes, width: int, height: int, seconds: float) -> None:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - seconds) <= 0.1


def slot_holders(service: LocalVideojobs) -> set[str]:
    item = (
        service.stack.client("dynamodb")
        .get_item(
            TableName=service.state()["control_table"],
            Key={"pk": {"S": "semaphore#jobs"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return set(item.get("holders", {}).get("SS", []))


def assert_slot_released(service: LocalVideojobs, job_id: str, timeout: float = 10.0) -> None:
    """The slot is released just after the terminal status is written: allow for the gap."""
    deadline = time.monotonic() + timeout
    while job_id in slot_holders(service):
        assert time.monotonic() < deadline, f"{job_id} still holds a slot"
        time.sleep(0.1)


def post_webhook(
    service: LocalVideojobs, event: dict[str, Any], *, msg_id: str, timestamp: int | None = None
) -> httpx.Response:
    body = json.dumps(event)
    headers = standard_webhooks.signed_headers(
        service.provider_webhook_secret, msg_id, body, timestamp=timestamp
    )
    headers["Content-Type"] = "application/json"
    return httpx.post(service.provider_webhook_url, content=body, headers=headers, timeout=10)


def test_happy_path_woken_by_the_webhook(service: LocalVideojobs, api: httpx.Client) -> None:
    # Given a submitted job
    job = submit(api, size="1280x720", seconds="8", metadata={"campaign": "spring"})
    # When the provider finishes and calls back
    done = wait_for_job(api, job["id"])
    # Then the job completed without a single status check (the webhook woke it)
    assert done["status"] == "completed", done
    assert done["progress"] == 100
    assert done["metadata"] == {"campaign": "spring"}
    states = entered_states(service, job["id"])
    assert "CheckStatus" not in states
    assert len(states) <= 8, states
    # And the stored video is the requested size and length, and its checksum is recorded
    video = stored_object(service, job["id"], "video.mp4")
    assert_decodes(video, 1280, 720, 8.0)
    recorded = job_item(service, job["id"])["assets"]["M"]["video"]["M"]
    assert recorded["sha256"]["S"] == hashlib.sha256(video).hexdigest()
    assert int(recorded["bytes"]["N"]) == len(video)
    assert stored_object(service, job["id"], "thumbnail.webp")[:4] == b"RIFF"
    assert stored_object(service, job["id"], "spritesheet.jpg")[:2] == b"\xff\xd8"
    # And one provider video was created, and the slot is free again
    assert service.emulator.stats()["created"] == 1
    assert_slot_released(service, job["id"])


def test_happy_path_by_polling_when_webhooks_are_lost(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    service.emulator.set_faults(webhooks={"mode": "drop", "count": None})
    job = submit(api, size="720x1280")
    # Nobody reads the job meanwhile (a read would refresh it), so only polling can finish it.
    deadline = time.monotonic() + 60
    while job_item(service, job["id"])["status"]["S"] not in {"completed", "failed"}:
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.2)
    done = wait_for_job(api, job["id"])
    assert done["status"] == "completed", done
    assert "CheckStatus" in entered_states(service, job["id"])
    assert service.emulator.stats()["webhooks_sent"] == 0
    assert_decodes(stored_object(service, job["id"], "video.mp4"), 720, 1280, 4.0)


def test_progress_is_visible_to_a_reader_while_the_video_generates(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    service.emulator.update_config(speed=10.0)
    job = submit(api)
    seen: list[int] = []
    done = wait_for_job(
        api,
        job["id"],
        until=lambda j: (
            seen.append(j["progress"]) or False
            if j["status"] not in {"completed", "failed"}
            else True
        ),
    )
    assert done["status"] == "completed"
    running = [p for p in seen if 0 < p < 100]
    assert running, f"no intermediate progress seen: {seen}"
    assert seen == sorted(seen), "progress went backward"


def test_throttled_twice_then_accepted_creates_one_provider_video(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    service.emulator.set_faults(rate_limit={"count": 2, "retry_after": 1})
    job = submit(api)
    assert wait_for_job(api, job["id"])["status"] == "completed"
    creates = [
        r
        for r in service.emulator.requests()
        if r["method"] == "POST" and r["path"] == "/v1/videos"
    ]
    assert [r["status"] for r in creates] == [429, 429, 200]
    assert service.emulator.stats()["created"] == 1


def test_a_create_whose_answer_was_lost_is_adopted_not_paid_twice(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # The provider creates the video but the answer is a 502: the retry must find it.
    service.emulator.set_faults(server_error={"count": 1, "status": 502, "after_processing": True})
    job = submit(api, prompt="a harbour at dawn, adopted")
    assert wait_for_job(api, job["id"])["status"] == "completed"
    assert service.emulator.stats()["created"] == 1


def test_content_policy_rejection_fails_the_job_with_the_provider_message(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    job = submit(api, prompt="something [[moderation]] unacceptable")
    done = wait_for_job(api, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "moderation_blocked"
    rejected = [r for r in service.emulator.requests() if r["status"] == 400]
    assert rejected, "the provider never saw the request"
    assert "moderation" in done["error"]["message"].lower()
    assert "/videos" not in done["error"]["message"]  # the provider's words, not our request
    assert service.emulator.stats()["created"] == 0
    assert_slot_released(service, job["id"])


def test_generation_failing_midway_fails_the_job(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    job = submit(api, prompt="a scene that will [[fail]] halfway")
    done = wait_for_job(api, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "moderation_blocked"
    assert done["error"]["message"]
    assert_slot_released(service, job["id"])


def test_a_truncated_download_is_retried_and_stored_whole(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    service.emulator.set_faults(truncate_download={"count": 1, "after_bytes": 1000})
    job = submit(api)
    assert wait_for_job(api, job["id"])["status"] == "completed"
    video = stored_object(service, job["id"], "video.mp4")
    recorded = job_item(service, job["id"])["assets"]["M"]["video"]["M"]
    assert recorded["sha256"]["S"] == hashlib.sha256(video).hexdigest()
    assert int(recorded["bytes"]["N"]) == len(video) > 1000
    assert_decodes(video, 720, 1280, 4.0)
    downloads = [r for r in service.emulator.requests() if r["path"].endswith("/content")]
    assert len(downloads) >= 4  # the cut one, then video, thumbnail and spritesheet


def test_a_truncated_download_whose_abort_is_refused_is_still_retried(
    service: LocalVideojobs, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 refusing to abort multipart uploads (as it does a role without the grant)
    refused: list[str] = []

    def refuse_abort(backend: S3Backend, bucket_name: str, multipart_id: str) -> None:
        refused.append(multipart_id)
        raise AccessDeniedByLock()

    monkeypatch.setattr(S3Backend, "abort_multipart_upload", refuse_abort)
    # ... and a provider that cuts the first download short
    service.emulator.set_faults(truncate_download={"count": 1, "after_bytes": 1000})

    # When a job runs
    job = submit(api)
    done = wait_for_job(api, job["id"])

    # Then the abort was tried and refused, yet the short download was retried (the
    # ProviderTransientError reached the state machine's Retry) and the job completed
    assert len(refused) == 1
    assert done["status"] == "completed", done.get("error")
    video = stored_object(service, job["id"], "video.mp4")
    assert_decodes(video, 720, 1280, 4.0)


def test_late_duplicate_and_out_of_order_webhooks_never_move_a_job_backward(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    job = submit(api)
    assert wait_for_job(api, job["id"])["status"] == "completed"
    video_id = provider_id(service, job["id"])
    before = job_item(service, job["id"])
    now = int(time.time())
    late_failure = {
        "id": "evt_late",
        "object": "event",
        "type": "video.failed",
        "created_at": now,
        "data": {"id": video_id},
    }
    repeat_completion = {**late_failure, "id": "evt_again", "type": "video.completed"}
    assert post_webhook(service, late_failure, msg_id="msg_late_1").status_code == 200
    assert post_webhook(service, repeat_completion, msg_id="msg_again").status_code == 200
    duplicate = post_webhook(service, repeat_completion, msg_id="msg_again")
    assert duplicate.json()["status"] == "duplicate"
    after = job_item(service, job["id"])
    assert after["status"] == before["status"] == {"S": "completed"}
    assert after["provider_status"] == {"S": "completed"}
    assert wait_for_job(api, job["id"])["status"] == "completed"


def test_an_aborted_execution_is_reaped_and_its_slot_released(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job generating slowly at the provider
    service.emulator.update_config(speed=1.0)
    job = submit(api)
    wait_for_job(api, job["id"], until=lambda j: j["status"] == "in_progress", timeout=30)
    assert job["id"] in slot_holders(service)
    # When its execution is aborted from outside
    arn = (
        service.state()["state_machine_arn"].replace(":stateMachine:", ":execution:")
        + ":"
        + job["id"]
    )
    service.stack.client("stepfunctions").stop_execution(executionArn=arn, cause="operator")
    # Then the reaper turns the job terminal, with the reason, and frees the slot
    done = wait_for_job(api, job["id"], timeout=30)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "workflow_aborted"
    assert_slot_released(service, job["id"])


FORGED: list[tuple[str, dict[str, str]]] = [
    ("no headers", {}),
    ("bad signature", {"webhook-signature": "v1,AAAA"}),
    ("wrong secret", {"secret": "other"}),
    ("tampered body", {"tamper": "1"}),
    ("stale", {"age": "-600"}),
    ("future", {"age": "600"}),
    ("non-numeric timestamp", {"webhook-timestamp": "yesterday"}),
    ("signature without value", {"webhook-signature": "v1,"}),
    ("unknown signature version", {"webhook-signature": "v9,AAAA"}),
    ("missing id", {"drop": "webhook-id"}),
]


def _forged_request(
    service: LocalVideojobs, video_id: str, case: str, override: dict[str, str]
) -> httpx.Response:
    event = {
        "id": "evt_x",
        "object": "event",
        "type": "video.completed",
        "created_at": 1,
        "data": {"id": video_id},
    }
    body = json.dumps(event).encode()
    secret = (
        standard_webhooks.generate_secret()
        if "secret" in override
        else service.provider_webhook_secret
    )
    timestamp = int(time.time()) + int(override.get("age", "0"))
    headers = standard_webhooks.signed_headers(secret, f"msg_{case}", body, timestamp=timestamp)
    headers.update({k: v for k, v in override.items() if k.startswith("webhook-")})
    headers.pop(override.get("drop", ""), None)
    if "tamper" in override:
        body = body.replace(b"completed", b"failed")
    if case == "no headers":
        headers = {}
    return httpx.post(service.provider_webhook_url, content=body, headers=headers, timeout=10)


def test_forged_stale_or_malformed_webhooks_are_refused_and_change_nothing(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job whose video is still generating
    service.emulator.update_config(speed=1.0)
    job = submit(api)
    wait_for_job(api, job["id"], until=lambda j: j["status"] == "in_progress", timeout=30)
    video_id = provider_id(service, job["id"])
    before = job_item(service, job["id"])
    # When each forged or malformed webhook arrives
    for case, override in FORGED:
        response = _forged_request(service, video_id, case, override)
        # Then it is refused with a 4xx and an error body, and the job is unchanged
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
        assert response.json()["error"]["message"], case
        after = job_item(service, job["id"])
        assert after.get("provider_status") == before.get("provider_status"), case
        assert after["status"] == before["status"], case
    arn = service.state()["state_machine_arn"].replace(":stateMachine:", ":execution:")
    service.stack.client("stepfunctions").stop_execution(executionArn=f"{arn}:{job['id']}")


def test_signed_but_malformed_webhook_bodies_are_client_errors(service: LocalVideojobs) -> None:
    for index, body in enumerate([b"not json", b"[1, 2]", b'{"type": "video.completed"}']):
        headers = standard_webhooks.signed_headers(
            service.provider_webhook_secret, f"msg_bad_{index}", body
        )
        response = httpx.post(
            service.provider_webhook_url, content=body, headers=headers, timeout=10
        )
        # Not a video event at all is acknowledged and ignored; a broken one is a 400.
        assert response.status_code in {200, 400}, response.text
        assert response.status_code < 500


def test_a_webhook_for_an_unknown_video_is_acknowledged_and_ignored(
    service: LocalVideojobs,
) -> None:
    event = {
        "id": "evt_u",
        "object": "event",
        "type": "video.completed",
        "created_at": 1,
        "data": {"id": "video_not_ours"},
    }
    response = post_webhook(service, event, msg_id="msg_unknown")
    assert response.status_code == 200
    assert response.json()["status"] == "unknown_video"
