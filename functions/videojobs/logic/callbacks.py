"""Signed callbacks: job and batch events POSTed to the caller's ``callback_url``.

EventBridge puts each ``video.*`` / ``batch.completed`` event on the callbacks queue. One
attempt is made per message; a failed attempt puts a follow-up message on the same queue,
delayed by a capped exponential backoff, until ``callback_retry_hours`` have passed since the
first attempt. Every attempt of a video event is recorded on its job. Nothing here can fail a
job: the job is final before its event is published.

Each event has one id (``evt_...``, the ``webhook-id``) however often it is sent, so a
receiver can drop repeats; the timestamp and signature are fresh on every attempt.

One receiver cannot hold up the others: an attempt has a wall-clock deadline
(``callback_sender.ATTEMPT_SECONDS``, headers included), an attempt starts only with time left
in the invocation to finish it (otherwise the message goes back untouched, no attempt
counted), a batch's messages are taken round-robin by tenant, and each tenant gets at most
``ATTEMPTS_PER_TENANT`` attempts per invocation: its other messages are put back on the queue
for the next one.

What a callback says comes only from our own records: an event names a job or batch (and its
tenant), and the body is built from the stored job or batch. A ``video.completed`` goes out
only for a job stored as completed (likewise failed and cancelled), and only when the event's
tenant is the stored one; anything else is dropped with a log line. An event forged onto the
bus can at most repeat a callback that was due anyway.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain, zip_longest
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from videojobs import standard_webhooks
from videojobs.adapters import callback_queue, callback_secrets, callback_sender
from videojobs.adapters.callback_sender import SendResult
from videojobs.adapters.dal import batches, jobs, tenants
from videojobs.logic import callback_target
from videojobs.logic.batch_completion import batch_event_detail
from videojobs.logic.video_view import video_resource
from videojobs.models.batches import Batch
from videojobs.models.errors import (
    BatchNotFoundError,
    CallbackNotStartedError,
    InvalidRequestError,
    JobNotFoundError,
)
from videojobs.models.job import CallbackAttempt, Job, JobStatus
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings
from videojobs.tracing import annotate

EventType = Literal["video.completed", "video.failed", "video.cancelled", "batch.completed"]
_Item = TypeVar("_Item")

# First retry after 30 s, then 60, 120, ... up to SQS's longest delay: about 100 attempts
# over a 26-hour window, most of them 15 minutes apart.
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = callback_queue.MAX_DELAY_SECONDS
# Per tenant and invocation: a tenant with many callbacks (or a slow receiver) takes at most
# this many attempts' time from a batch; its other messages wait for the next invocation.
ATTEMPTS_PER_TENANT = 3
TENANT_DEFER_SECONDS = 5
# One attempt's wall-clock deadline. An attempt is started only with that much left in the
# invocation, plus MARGIN_MS for recording it and queueing its follow-up.
ATTEMPT_SECONDS = callback_sender.ATTEMPT_SECONDS
MARGIN_MS = 5_000

# Carries the job's correlation id (the API request id that created it) on every callback.
CORRELATION_HEADER = "x-correlation-id"

# Routing fields of a batch event's detail that its callback body does not repeat.
_BATCH_DETAIL_ONLY = frozenset({"batch_id", "tenant_id", "has_callback_url"})
# The stored status a video event announces.
_ANNOUNCED_STATUS = {
    "video.completed": JobStatus.COMPLETED,
    "video.failed": JobStatus.FAILED,
    "video.cancelled": JobStatus.CANCELLED,
}


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
    """When the event was first handled here: the body's ``created_at`` on every attempt."""
    attempt: int = Field(1, ge=1)
    first_attempt_at: int | None = None

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
    DROPPED = "dropped"
    """The event does not match the stored job or batch (a forged or stale event)."""
    RETRY_SCHEDULED = "retry_scheduled"
    GAVE_UP = "gave_up"
    DEFERRED = "deferred"
    """The tenant had its share of this invocation: the message was queued again as it was."""


@dataclass
class InvocationBudget:
    """What one callbacks invocation may still spend: its remaining time, attempts per tenant."""

    remaining_ms: Callable[[], int]
    per_tenant: int = ATTEMPTS_PER_TENANT
    attempts: Counter[str] = field(default_factory=Counter)

    def has_time_for_an_attempt(self) -> bool:
        needed = ATTEMPT_SECONDS * 1000 + MARGIN_MS
        return self.remaining_ms() >= needed

    def take(self, tenant_id: str) -> bool:
        """Count an attempt for ``tenant_id``; False when it has had its share."""
        if self.attempts[tenant_id] >= self.per_tenant:
            return False
        self.attempts[tenant_id] += 1
        return True


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


def parse_message(body: str, *, now: int | None = None) -> CallbackTask:
    """The task in a queue message: an EventBridge event (first attempt) or a follow-up.

    Of an event only its type and ids are read; everything a callback says is read from the
    store when it is delivered. A message that is neither raises ``ValueError`` (pydantic's
    ``ValidationError`` is one), so the queue's redrive policy moves it to the dead-letter queue.
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
                "created_at": int(time.time()) if now is None else now,
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
    event: CallbackEvent, secrets: str | list[str], *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and the Standard Webhooks headers that sign them (one signature
    per secret: during a rotation, the new secret's and the old one's)."""
    body = json.dumps(
        event.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    return body, standard_webhooks.signed_headers(secrets, event.id, body, timestamp=timestamp)


def _dropped(task: CallbackTask, reason: str) -> None:
    logger.warning("callback event dropped", extra={"type": task.type, "reason": reason})
    metrics.add_metric(name="CallbackEventsDropped", unit="Count", value=1)


def _target(task: CallbackTask) -> _Target | Outcome:
    """Where the event goes and what it says, read from the store; or why nothing is sent."""
    if task.is_video:
        try:
            job = jobs.get(task.subject_id)
        except JobNotFoundError:
            _dropped(task, "no such job")
            return Outcome.DROPPED
        if job.tenant_id != task.tenant_id:
            _dropped(task, "the event's tenant is not the job's")
            return Outcome.DROPPED
        if job.status is not _ANNOUNCED_STATUS[task.type]:
            _dropped(task, f"the job is {job.status.value}")
            return Outcome.DROPPED
        if job.callback_url is None:
            return Outcome.NOT_REQUESTED
        return _Target(job.callback_url, job.tenant_id, video_data(job), job)
    try:
        batch = batches.get(task.subject_id)
    except BatchNotFoundError:
        _dropped(task, "no such batch")
        return Outcome.DROPPED
    if batch.tenant_id != task.tenant_id:
        _dropped(task, "the event's tenant is not the batch's")
        return Outcome.DROPPED
    if batch.completed_at is None:
        _dropped(task, "the batch is not completed")
        return Outcome.DROPPED
    if batch.callback_url is None:
        return Outcome.NOT_REQUESTED
    return _Target(batch.callback_url, batch.tenant_id, batch_data(batch), None)


def batch_data(batch: Batch) -> dict[str, Any]:
    """The ``video.batch`` a batch callback carries, from the stored batch."""
    detail = batch_event_detail(batch)
    return {k: v for k, v in detail.items() if k not in _BATCH_DETAIL_ONLY}


def _attempt(task: CallbackTask, target: _Target, secrets: list[str], now: int) -> SendResult:
    # One deadline for the whole attempt, however many addresses it tries.
    deadline = time.monotonic() + ATTEMPT_SECONDS
    try:
        # Checked again at every attempt: the name may resolve elsewhere than at create time.
        addresses = callback_target.resolve_safe_addresses(target.url)
    except InvalidRequestError as exc:
        return SendResult(error=f"callback_url refused: {exc.message}")
    body, headers = signed_request(build_event(task, target.data), secrets, timestamp=now)
    if target.job is not None and target.job.correlation_id:
        # Not signed: for matching the receiver's logs with ours, not for trusting.
        headers = {**headers, CORRELATION_HEADER: target.job.correlation_id}
    result = SendResult(error="callback_url refused: it resolves to no address")
    for address in addresses:
        result = callback_sender.post(target.url, body, headers, address=address, deadline=deadline)
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


def deliver(
    task: CallbackTask,
    *,
    now: int | None = None,
    budget: InvocationBudget | None = None,
    body: str | None = None,
) -> Outcome:
    """Make one attempt at delivering ``task``; schedule the next one if it failed.

    With a ``budget``: raises :class:`CallbackNotStartedError` when too little time is left
    for an attempt, and puts ``body`` (the message as received) back on the queue when the
    tenant has had its share of the invocation; neither counts as an attempt.
    """
    logger.append_keys(callback_event=task.event_id, subject_id=task.subject_id)
    target = _target(task)
    if isinstance(target, Outcome):
        return target
    if target.job is not None and target.job.correlation_id:
        logger.set_correlation_id(target.job.correlation_id)
        annotate(target.job.job_id, target.job.correlation_id)
    if budget is not None:
        if not budget.has_time_for_an_attempt():
            raise CallbackNotStartedError("too little time left in this invocation")
        if not budget.take(target.tenant_id):
            callback_queue.enqueue(body or task.model_dump_json(), TENANT_DEFER_SECONDS)
            logger.info("callback deferred: the tenant had its share of this invocation")
            metrics.add_metric(name="CallbacksDeferred", unit="Count", value=1)
            return Outcome.DEFERRED
    current = int(time.time()) if now is None else now
    first = task.first_attempt_at or current
    tenant = tenants.get_tenant(target.tenant_id)
    encrypted = tenant.signing_secrets(current) if tenant is not None else []
    if not encrypted:
        # No secret to sign with; an unsigned callback would be worse than none.
        result = SendResult(error="tenant has no callback secret")
        giving_up = True
    else:
        secrets = [callback_secrets.decrypt(target.tenant_id, c) for c in encrypted]
        result = _attempt(task, target, secrets, current)
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


def handle(body: str, budget: InvocationBudget | None = None) -> Outcome:
    """Handle one callbacks-queue message, within ``budget`` when given."""
    return deliver(parse_message(body), budget=budget, body=body)


def claimed_tenant(body: str) -> str:
    """The tenant a message names (for ordering only; delivery checks the stored one)."""
    try:
        return parse_message(body).tenant_id
    except ValueError:
        return ""


def fair_order(items: list[_Item], tenant_of: Callable[[_Item], str]) -> list[_Item]:
    """``items`` round-robin by tenant, each tenant's in their original order: one tenant's
    many messages do not all come before another tenant's first."""
    by_tenant: defaultdict[str, list[_Item]] = defaultdict(list)
    for item in items:
        by_tenant[tenant_of(item)].append(item)
    rounds = zip_longest(*by_tenant.values())
    return [item for item in chain.from_iterable(rounds) if item is not None]
