"""Callback delivery without AWS: the retry schedule, when it gives up, the signed body.

The callbacks logic's adapters (jobs and tenants tables, the callbacks queue, the HTTP POST,
the address check) are replaced by a small in-memory world; the clock is passed in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from videojobs import standard_webhooks
from videojobs.adapters.callback_sender import SendResult
from videojobs.adapters.dal.tenants import Tenant
from videojobs.handlers import callbacks as callbacks_handler
from videojobs.logic import callbacks, video_view
from videojobs.models.errors import InvalidRequestError, JobNotFoundError
from videojobs.models.job import (
    CallbackAttempt,
    Job,
    JobError,
    JobStatus,
    StoredAsset,
    VideoRequest,
)
from videojobs.settings import get_settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
JOB_ID = "video_0123456789abcdef0123456789abcdef"
SECRET = standard_webhooks.generate_secret()
T0 = 1_795_000_000
CALLBACK_URL = "https://hooks.example.com/videojobs?token=abc"


def completed_job(**changes: Any) -> Job:
    job = Job(
        job_id=JOB_ID,
        tenant_id="acme",
        status=JobStatus.COMPLETED,
        created_at=T0 - 100,
        updated_at=T0,
        completed_at=T0,
        request=VideoRequest(prompt="a lighthouse in a storm"),
        metadata={"campaign": "spring"},
        callback_url=CALLBACK_URL,
        assets={
            "video": StoredAsset(
                key=f"videos/acme/{JOB_ID}/video.mp4",
                bytes=10,
                content_type="video/mp4",
                sha256="0" * 64,
                crc32="AAAAAA==",
            )
        },
    )
    return job.with_changes(**changes)


def encrypted(secret: str) -> bytes:
    """What stands in for KMS ciphertext here (``fake_kms`` decrypts it)."""
    return b"kms:" + secret.encode()


def fake_kms_decrypt(tenant_id: str, ciphertext: bytes) -> str:
    assert ciphertext.startswith(b"kms:")
    return ciphertext.removeprefix(b"kms:").decode()


@dataclass
class World:
    """Everything the callbacks logic talks to, in memory."""

    job: Job | None = field(default_factory=completed_job)
    tenant: Tenant | None = field(
        default_factory=lambda: Tenant(
            tenant_id="acme", callback_secret=encrypted(SECRET), created_at=T0
        )
    )
    answers: list[SendResult] = field(default_factory=list)
    refuse_address: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)
    queued: list[tuple[str, int]] = field(default_factory=list)
    attempts: list[CallbackAttempt] = field(default_factory=list)

    def get_job(self, job_id: str) -> Job:
        if self.job is None or self.job.job_id != job_id:
            raise JobNotFoundError(job_id)
        return self.job

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, address: str, deadline: float
    ) -> SendResult:
        self.posts.append({"url": url, "body": body, "headers": headers, "address": address})
        return self.answers.pop(0) if self.answers else SendResult(status_code=200)

    def resolve(self, url: str) -> list[str]:
        if self.refuse_address:
            raise InvalidRequestError("callback_url resolves to a private address")
        return ["93.184.216.34"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("CALLBACK_RETRY_HOURS", "24")
    get_settings.cache_clear()
    w = World()
    monkeypatch.setattr(
        callbacks,
        "jobs",
        SimpleNamespace(
            get=w.get_job,
            record_callback_attempt=lambda job_id, attempt: w.attempts.append(attempt),
        ),
    )
    monkeypatch.setattr(callbacks, "tenants", SimpleNamespace(get_tenant=lambda t: w.tenant))
    monkeypatch.setattr(callbacks, "callback_secrets", SimpleNamespace(decrypt=fake_kms_decrypt))
    monkeypatch.setattr(callbacks, "callback_sender", SimpleNamespace(post=w.post))
    monkeypatch.setattr(
        callbacks, "callback_target", SimpleNamespace(resolve_safe_addresses=w.resolve)
    )
    monkeypatch.setattr(
        callbacks,
        "callback_queue",
        SimpleNamespace(enqueue=lambda body, delay: w.queued.append((body, delay))),
    )
    monkeypatch.setattr(
        video_view,
        "assets",
        SimpleNamespace(asset_download_url=lambda key, job_id, variant: f"https://signed/{key}"),
    )
    yield w
    get_settings.cache_clear()


def sample_message() -> str:
    event = json.loads((EVENTS / "callbacks_sqs.json").read_text())
    return str(event["Records"][0]["body"])


def test_backoff_doubles_from_30_seconds_up_to_the_sqs_maximum() -> None:
    # Given the default base, When the delays after the 1st..9th failure are computed
    delays = [callbacks.backoff_delay(n) for n in range(1, 10)]

    # Then they double from 30 s and stay at SQS's 900 s limit
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900, 900]
    assert callbacks.backoff_delay(10_000) == 900


def test_a_dead_callback_is_retried_for_the_whole_window_then_abandoned(world: World) -> None:
    # Given a receiver that always answers 503
    world.answers = [SendResult(status_code=503)] * 500
    task = callbacks.parse_message(sample_message())
    now = T0
    outcomes: list[callbacks.Outcome] = []
    delays: list[int] = []

    # When every follow-up message is handled as soon as its delay has passed
    while True:
        outcome = callbacks.deliver(task, now=now)
        outcomes.append(outcome)
        if outcome is not callbacks.Outcome.RETRY_SCHEDULED:
            break
        body, delay = world.queued.pop()
        delays.append(delay)
        now += delay
        task = callbacks.parse_message(body)

    # Then it kept trying for at least the 24 h window, and stopped within one delay after it
    assert outcomes[-1] is callbacks.Outcome.GAVE_UP
    assert 24 * 3600 <= now - T0 < 24 * 3600 + 900
    assert delays[:6] == [30, 60, 120, 240, 480, 900]
    assert set(delays[6:]) == {900}
    # ... every attempt is on the job, numbered, with the receiver's status
    assert [a.attempt for a in world.attempts] == list(range(1, len(world.posts) + 1))
    assert all(a.status_code == 503 and not a.delivered for a in world.attempts)
    assert "gave up" in (world.attempts[-1].error or "")
    assert "gave up" not in (world.attempts[-2].error or "")
    # ... always as the same event, freshly timestamped, never with the URL's secret in errors
    ids = {p["headers"]["webhook-id"] for p in world.posts}
    assert ids == {task.event_id}
    assert world.posts[0]["headers"]["webhook-timestamp"] == str(T0)
    assert world.posts[-1]["headers"]["webhook-timestamp"] == str(now)
    assert all("token=abc" not in (a.error or "") for a in world.attempts)


def test_a_receiver_that_recovers_gets_the_event_once_it_answers_2xx(world: World) -> None:
    # Given a receiver answering 500, then a connection failure, then 204
    world.answers = [SendResult(status_code=500), SendResult(error="could not connect")]
    world.answers.append(SendResult(status_code=204))
    task = callbacks.parse_message(sample_message())

    # When the first message and its two follow-ups are handled
    first = callbacks.deliver(task, now=T0)
    body, delay = world.queued.pop()
    second = callbacks.deliver(callbacks.parse_message(body), now=T0 + delay)
    body, delay2 = world.queued.pop()
    third = callbacks.deliver(callbacks.parse_message(body), now=T0 + delay + delay2)

    # Then the third attempt delivers, nothing more is queued, and the job shows all three
    assert (first, second, third) == (
        callbacks.Outcome.RETRY_SCHEDULED,
        callbacks.Outcome.RETRY_SCHEDULED,
        callbacks.Outcome.DELIVERED,
    )
    assert (delay, delay2) == (30, 60)
    assert world.queued == []
    assert [(a.attempt, a.status_code, a.delivered) for a in world.attempts] == [
        (1, 500, False),
        (2, None, False),
        (3, 204, True),
    ]
    assert world.attempts[1].error == "could not connect"
    assert world.attempts[2].error is None


def test_the_body_is_signed_per_standard_webhooks_and_verifies_with_the_reference_library(
    world: World,
) -> None:
    # Given a completed job with a callback URL
    task = callbacks.parse_message(sample_message())

    # When it is delivered now (the reference verifier reads the real clock)
    now = int(time.time())
    assert callbacks.deliver(task, now=now) is callbacks.Outcome.DELIVERED

    # Then the POST is signed with the tenant's secret: ours and the reference verifier agree
    (post,) = world.posts
    headers, body = post["headers"], post["body"]
    assert headers["webhook-timestamp"] == str(now)
    assert standard_webhooks.verify(body, headers, SECRET, now=now) == task.event_id
    Webhook(SECRET).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"completed", b"failed__"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_webhooks.generate_secret()).verify(body, headers)
    # ... and it goes to the checked address, for the URL the caller gave
    assert post["url"] == CALLBACK_URL
    assert post["address"] == "93.184.216.34"


def test_the_body_is_an_openai_style_event_with_the_video_resource(world: World) -> None:
    # Given the sample video.completed event, first handled at T0
    task = callbacks.parse_message(sample_message(), now=T0)

    # When it is delivered
    callbacks.deliver(task, now=T0)

    # Then the body is {"id": "evt_...", "object": "event", "type", "created_at", "data": Video}
    event = json.loads(world.posts[0]["body"])
    assert set(event) == {"id", "object", "type", "created_at", "data"}
    assert event["id"].startswith("evt_") and len(event["id"]) == 36
    assert event["object"] == "event"
    assert event["type"] == "video.completed"
    assert event["created_at"] == T0  # when first handled here, not the event's own "time"
    data = event["data"]
    assert data["id"] == JOB_ID
    assert data["object"] == "video"
    assert data["status"] == "completed"
    assert data["progress"] == 100
    assert data["metadata"] == {"campaign": "spring"}
    assert data["assets"] == {"video": f"https://signed/videos/acme/{JOB_ID}/video.mp4"}


def test_event_ids_are_stable_per_job_and_event_type() -> None:
    # Given two deliveries of the same event and one of another type for the same job
    envelope = json.loads(sample_message())
    same = callbacks.parse_message(json.dumps({**envelope, "id": "another-eventbridge-id"}))
    failed = callbacks.parse_message(json.dumps({**envelope, "detail-type": "video.failed"}))
    first = callbacks.parse_message(json.dumps(envelope))

    # Then repeats share the id (receivers de-duplicate on it), other events do not
    assert first.event_id == same.event_id
    assert first.event_id != failed.event_id
    # ... and a follow-up message keeps it
    follow_up = first.model_copy(update={"attempt": 2, "first_attempt_at": T0})
    assert callbacks.parse_message(follow_up.model_dump_json()).event_id == first.event_id


def test_a_failed_job_sends_video_failed_with_its_error(world: World) -> None:
    # Given a failed job and its video.failed event
    world.job = completed_job(
        status=JobStatus.FAILED,
        assets={},
        completed_at=None,
        error=JobError(code="generation_failed", message="The provider failed."),
    )
    envelope = json.loads(sample_message())
    task = callbacks.parse_message(json.dumps({**envelope, "detail-type": "video.failed"}))

    # When it is delivered
    callbacks.deliver(task, now=T0)

    # Then the event says so, with the job's error and no asset links
    event = json.loads(world.posts[0]["body"])
    assert event["type"] == "video.failed"
    assert event["data"]["status"] == "failed"
    assert event["data"]["error"] == {
        "code": "generation_failed",
        "message": "The provider failed.",
    }
    assert event["data"]["assets"] is None


def test_no_callback_url_means_no_post_and_nothing_recorded(world: World) -> None:
    # Given a job created without a callback_url
    world.job = completed_job(callback_url=None)

    # When its event is handled
    outcome = callbacks.deliver(callbacks.parse_message(sample_message()), now=T0)

    # Then nothing is sent, queued or recorded
    assert outcome is callbacks.Outcome.NOT_REQUESTED
    assert (world.posts, world.queued, world.attempts) == ([], [], [])


def test_an_address_refused_at_delivery_time_is_a_failed_attempt_not_a_request(
    world: World,
) -> None:
    # Given a callback host that now resolves to a forbidden address (DNS rebinding)
    world.refuse_address = True

    # When the event is handled
    outcome = callbacks.deliver(callbacks.parse_message(sample_message()), now=T0)

    # Then no request is made; the attempt is recorded and retried later
    assert outcome is callbacks.Outcome.RETRY_SCHEDULED
    assert world.posts == []
    (attempt,) = world.attempts
    assert attempt.status_code is None
    assert (attempt.error or "").startswith("callback_url refused")


def test_a_tenant_without_a_callback_secret_gets_no_unsigned_callback(world: World) -> None:
    # Given a job whose tenant record is missing
    world.tenant = None

    # When its event is handled
    outcome = callbacks.deliver(callbacks.parse_message(sample_message()), now=T0)

    # Then nothing is sent and nothing retried; the job says why
    assert outcome is callbacks.Outcome.GAVE_UP
    assert world.posts == [] and world.queued == []
    assert "no callback secret" in (world.attempts[0].error or "")


def forged(detail_type: str = "video.completed", **detail: Any) -> str:
    """The sample event with its type or detail changed, as anyone able to put it might."""
    envelope = json.loads(sample_message())
    envelope["detail-type"] = detail_type
    envelope["detail"] = {**envelope["detail"], **detail}
    return json.dumps(envelope)


@pytest.mark.parametrize(
    "stored",
    [JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.FAILED, JobStatus.CANCELLED],
)
def test_video_completed_for_a_job_not_stored_as_completed_is_dropped(
    world: World, stored: JobStatus
) -> None:
    # Given a job whose stored status is not completed, and a video.completed event for it
    world.job = completed_job(status=stored, completed_at=None, assets={})

    # When the event is handled
    outcome = callbacks.deliver(callbacks.parse_message(forged()), now=T0)

    # Then nothing is signed or sent, retried or recorded
    assert outcome is callbacks.Outcome.DROPPED
    assert (world.posts, world.queued, world.attempts) == ([], [], [])


@pytest.mark.parametrize(
    ("event_type", "stored"),
    [("video.failed", JobStatus.COMPLETED), ("video.cancelled", JobStatus.FAILED)],
)
def test_each_video_event_needs_its_own_stored_status(
    world: World, event_type: str, stored: JobStatus
) -> None:
    world.job = completed_job(status=stored)

    outcome = callbacks.deliver(callbacks.parse_message(forged(event_type)), now=T0)

    assert outcome is callbacks.Outcome.DROPPED
    assert world.posts == []


def test_an_event_naming_another_tenant_is_dropped(world: World) -> None:
    # Given a completed job of acme and an event claiming it for another tenant
    outcome = callbacks.deliver(callbacks.parse_message(forged(tenant_id="mallory")), now=T0)

    # Then nothing is sent
    assert outcome is callbacks.Outcome.DROPPED
    assert world.posts == []


def test_the_body_comes_from_the_stored_job_never_from_the_event(world: World) -> None:
    # Given an event whose detail says other things than the stored job
    message = forged(
        status="completed",
        metadata={"campaign": "forged"},
        error={"code": "x", "message": "forged"},
        assets={"video": {"key": "videos/other/forged.mp4", "bytes": 1}},
    )

    # When it is delivered
    callbacks.deliver(callbacks.parse_message(message, now=T0), now=T0)

    # Then the callback's data is exactly the stored job's Video view
    event = json.loads(world.posts[0]["body"])
    assert world.job is not None
    assert event["data"] == callbacks.video_data(world.job)
    assert event["data"]["metadata"] == {"campaign": "spring"}


@dataclass
class Context:
    remaining_ms: int
    function_name: str = "videojobs-callbacks"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:videojobs-callbacks"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_handler_reports_only_unreadable_records_as_failed(world: World) -> None:
    # Given the sample SQS event plus a record that is not a callback message
    event = json.loads((EVENTS / "callbacks_sqs.json").read_text())
    bad = {**event["Records"][0], "messageId": "not-a-callback", "body": '{"hello": 1}'}
    event["Records"].append(bad)

    # When the handler runs with time to spare
    result = callbacks_handler.handler(event, Context(remaining_ms=60_000))

    # Then the good record was delivered and only the bad one is handed back to SQS
    assert result == {"batchItemFailures": [{"itemIdentifier": "not-a-callback"}]}
    assert len(world.posts) == 1


def test_the_handler_hands_messages_back_when_too_little_time_is_left(world: World) -> None:
    # Given the sample SQS event and an invocation about to time out
    event = json.loads((EVENTS / "callbacks_sqs.json").read_text())

    # When the handler runs
    result = callbacks_handler.handler(event, Context(remaining_ms=5_000))

    # Then the record is handed back to SQS as a failure, with no attempt made or counted
    message_id = event["Records"][0]["messageId"]
    assert result == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert world.posts == [] and world.queued == [] and world.attempts == []


def test_during_a_rotation_both_secrets_sign_and_after_the_overlap_only_the_new_one(
    world: World,
) -> None:
    # Given a tenant whose secret was rotated, the old one still signing for an hour
    now = int(time.time())  # the reference verifier reads the real clock
    old, new = SECRET, standard_webhooks.generate_secret()
    world.tenant = Tenant(
        tenant_id="acme",
        callback_secret=encrypted(new),
        previous_callback_secret=encrypted(old),
        previous_callback_secret_until=now + 3600,
        created_at=T0,
    )

    # When a callback is delivered within the overlap
    callbacks.deliver(callbacks.parse_message(sample_message()), now=now)

    # Then it carries two v1 signatures, and the reference library accepts it with either
    (post,) = world.posts
    assert len(post["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(post["body"], post["headers"])

    # When the overlap has passed (the event's timestamp is still fresh for the verifier)
    world.tenant = world.tenant.model_copy(update={"previous_callback_secret_until": now})
    follow_up = callbacks.parse_message(sample_message()).model_copy(update={"attempt": 2})
    callbacks.deliver(follow_up, now=now)

    # Then only the new secret signs
    signature = world.posts[1]["headers"]["webhook-signature"]
    assert " " not in signature
    Webhook(new).verify(world.posts[1]["body"], world.posts[1]["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(world.posts[1]["body"], world.posts[1]["headers"])
