"""Signed callbacks: job and batch events POSTed to the caller's ``callback_url``.

EventBridge puts each ``video.*`` / ``batch.completed`` event on the callbacks queue. One
attempt is made per message; a failed attempt puts a follow-up message on the same queue,
delayed by a capped exponential backoff, until ``callback_retry_hours`` have passed since the
first attempt. Every attempt of a video event is recorded on its job. Nothing here can fail a
job: the job is final before its event is published.

Each event has one id (``evt_...``, the ``webhook-id``) however often it is sent, so a
receiver can drop repeats; the timestamp and signature are fresh on every attempt.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from videojobs import callback_queue, callback_sender, standard_webhooks
from videojobs.callback_sender import SendResult
from videojobs.dal import batches, jobs, tenants
from videojobs.logic import callback_target
from videojobs.logic.video_view import video_resource
from videojobs.models.errors import BatchNotFoundError, InvalidRequestError, JobNotFoundError
from videojobs.models.job import CallbackAttempt, Job
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings
from videojobs.tracing import annotate

EventType = Literal["video.completed", "video.failed", "video.cancelled", "batch.completed"]

# First retry after 30 s, then 60, 120, ... up to SQS's longest delay: about 100 attempts
# over a 26-hour window, most of them 15 minutes apart.
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = callback_queue.MAX_DELAY_SECONDS

# Carries the job's correlation id (the API request id that created it) on every callback.
CORRELATION_HEADER = "x-correlation-id"

# Routing fields of a batch event's detail that its callback body does not repeat.
_BATCH_DETAIL_ONLY = frozenset({"batch_id", "tenant_id", "has_callback_url"})


class CallbackEvent(BaseModel):
    """The body POSTed to a callback URL (the shape of OpenAI's webhook events)."""

    model_config = ConfigDict(frozen=True)

    id: str
    object: Literal["event"] = "event"
    type: EventType
    created_at: int
    data: dict[str, Any]


class CallbackTask(BaseModel):
    """One event still to be delivered: what the callbacks queue carries between attempts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["videojobs.callback"] = "videojobs.callback"
    type: EventType
    subject_id: str
    """The job id of a ``video.*`` event, the batch id of ``batch.completed``."""
    tenant_id: str
    created_at: int
    attempt: int = Field(1, ge=1)
    first_attempt_at: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    """The published event detail; the body's ``data`` for batch events."""

    @property
    def event_id(self) -> str:
        """Stable per subject and event type, so a receiver can de-duplicate on it."""
        digest = hashlib.sha256(f"{self.type}:{self.subject_id}".encode()).hexdigest()
        return "evt_" + digest[:32]

    @property
    def is_video(self) -> bool:
        return self.type.startswith("video.")


class Outcome(StrEnum):
    """What handling one queue message came to."""

    DELIVERED = "delivered"
    NOT_REQUESTED = "not_requested"
    RETRY_SCHEDULED = "retry_scheduled"
    GAVE_UP = "gave_up"


@dataclass(frozen=True)
class _Target:
    url: str
    tenant_id: str
    data: dict[str, Any]
    job: Job | None


def backoff_delay(failures: int) -> int:
    """Seconds to wait after the ``failures``-th failed attempt (1, 2, ...), capped."""
    exponent = min(max(failures, 1) - 1, 20)  # 2**20 is far past the cap already
    return int(min(BACKOFF_BASE_SECONDS * 2**exponent, BACKOFF_CAP_SECONDS))


def retry_window_seconds() -> int:
    """How long after its first attempt an undelivered event is still retried."""
    return get_settings().callback_retry_hours * 3600


def _epoch(iso_time: Any) -> int:
    if isinstance(iso_time, str):
        try:
            return int(datetime.fromisoformat(iso_time).timestamp())
        except ValueError:
            pass
    return int(time.time())


def parse_message(body: str) -> CallbackTask:
    """The task in a queue message: an EventBridge event (first attempt) or a follow-up.

    A message that is neither raises ``ValueError`` (pydantic's ``ValidationError`` is one),
    so the queue's redrive policy moves it to the dead-letter queue.
    """
    raw = json.loads(body)
    if isinstance(raw, dict) and "detail-type" in raw:
        detail = raw.get("detail")
        if not isinstance(detail, dict):
            raise ValueError("event without a detail object")
        event_type = raw["detail-type"]
        subject = detail.get("job_id" if str(event_type).startswith("video.") else "batch_id")
        return CallbackTask.model_validate(
            {
                "type": event_type,
                "subject_id": subject,
                "tenant_id": detail.get("tenant_id"),
                "created_at": _epoch(raw.get("time")),
                "detail": {} if str(event_type).startswith("video.") else detail,
            }
        )
    return CallbackTask.model_validate(raw)


def video_data(job: Job) -> dict[str, Any]:
    """The Video resource of a job, as ``GET /v1/videos/{id}`` shows it."""
    return video_resource(job).model_dump(mode="json")


def build_event(task: CallbackTask, data: dict[str, Any]) -> CallbackEvent:
    """The body of the callback for ``task``."""
    return CallbackEvent(id=task.event_id, type=task.type, created_at=task.created_at, data=data)


def signed_request(
    event: CallbackEvent, secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and the Standard Webhooks headers that sign them."""
    body = json.dumps(
        event.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    return body, standard_webhooks.signed_headers(secret, event.id, body, timestamp=timestamp)


def _target(task: CallbackTask) -> _Target | None:
    """Where the event goes and what it says; None when no callback was asked for."""
    if task.is_video:
        try:
            job = jobs.get(task.subject_id)
        except JobNotFoundError:
            logger.warning("callback for a job that does not exist", extra={"type": task.type})
            return None
        if job.callback_url is None:
            return None
        return _Target(job.callback_url, job.tenant_id, video_data(job), job)
    try:
        batch = batches.get(task.subject_id)
    except BatchNotFoundError:
        logger.warning("callback for a batch that does not exist", extra={"type": task.type})
        return None
    if batch.callback_url is None:
        return None
    shown = {k: v for k, v in task.detail.items() if k not in _BATCH_DETAIL_ONLY}
    data = {"id": task.subject_id, "object": "video.batch", **shown}
    return _Target(batch.callback_url, batch.tenant_id, data, None)


def _attempt(task: CallbackTask, target: _Target, secret: str, now: int) -> SendResult:
    try:
        # Checked again at every attempt: the name may resolve elsewhere than at create time.
        addresses = callback_target.resolve_safe_addresses(target.url)
    except InvalidRequestError as exc:
        return SendResult(error=f"callback_url refused: {exc.message}")
    body, headers = signed_request(build_event(task, target.data), secret, timestamp=now)
    if target.job is not None and target.job.correlation_id:
        # Not signed: for matching the receiver's logs with ours, not for trusting.
        headers = {**headers, CORRELATION_HEADER: target.job.correlation_id}
    result = SendResult(error="callback_url refused: it resolves to no address")
    for address in addresses:
        result = callback_sender.post(target.url, body, headers, address=address)
        if not result.connect_failed:
            break
    return result


def _record(
    task: CallbackTask, target: _Target, result: SendResult, now: int, error: str | None
) -> None:
    if target.job is None:
        return  # batch events: the attempt is only logged
    jobs.record_callback_attempt(
        target.job.job_id,
        CallbackAttempt(
            event=task.type,
            attempt=task.attempt,
            at=now,
            status_code=result.status_code,
            error=error,
            delivered=result.delivered,
        ),
    )


def deliver(task: CallbackTask, *, now: int | None = None) -> Outcome:
    """Make one attempt at delivering ``task``; schedule the next one if it failed."""
    logger.append_keys(callback_event=task.event_id, subject_id=task.subject_id)
    target = _target(task)
    if target is None:
        return Outcome.NOT_REQUESTED
    if target.job is not None and target.job.correlation_id:
        logger.set_correlation_id(target.job.correlation_id)
        annotate(target.job.job_id, target.job.correlation_id)
    current = int(time.time()) if now is None else now
    first = task.first_attempt_at or current
    tenant = tenants.get_tenant(target.tenant_id)
    if tenant is None:
        # No secret to sign with; an unsigned callback would be worse than none.
        result = SendResult(error="tenant has no webhook secret")
        giving_up = True
    else:
        result = _attempt(task, target, tenant.webhook_secret, current)
        giving_up = current - first >= retry_window_seconds()

    if result.delivered:
        _record(task, target, result, current, None)
        metrics.add_metric(name="CallbacksDelivered", unit="Count", value=1)
        logger.info("callback delivered", extra={"attempt": task.attempt})
        return Outcome.DELIVERED

    error = result.error or f"answered HTTP {result.status_code}"
    metrics.add_metric(name="CallbackAttemptsFailed", unit="Count", value=1)
    if giving_up:
        _record(task, target, result, current, f"{error}; gave up after {task.attempt} attempts")
        metrics.add_metric(name="CallbacksAbandoned", unit="Count", value=1)
        logger.warning(
            "callback abandoned",
            extra={"attempt": task.attempt, "error": error, "first_attempt_at": first},
        )
        return Outcome.GAVE_UP

    _record(task, target, result, current, error)
    delay = backoff_delay(task.attempt)
    follow_up = task.model_copy(update={"attempt": task.attempt + 1, "first_attempt_at": first})
    callback_queue.enqueue(follow_up.model_dump_json(), delay)
    logger.info(
        "callback failed; retry scheduled",
        extra={"attempt": task.attempt, "error": error, "retry_in_seconds": delay},
    )
    return Outcome.RETRY_SCHEDULED


def handle(body: str) -> Outcome:
    """Handle one callbacks-queue message."""
    return deliver(parse_message(body))


def postpone(body: str) -> None:
    """Put a message back untouched, for an invocation that has no time left to try it."""
    callback_queue.enqueue(body, 0)
