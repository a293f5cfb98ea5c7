"""Provider status reaches a job three ways: a webhook, a status check, or a parked step
finding that a webhook already arrived. All three funnel through the forward-only writes of
``dal.jobs``, and whichever sees both a terminal status and a task token wakes the workflow.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from videojobs.adapters import workflow
from videojobs.adapters.dal import control, jobs
from videojobs.models.errors import (
    JobCancelledError,
    ProviderError,
    ProviderThrottledError,
    StaleTransitionError,
)
from videojobs.models.job import Job, JobError
from videojobs.models.provider_types import protocol_of
from videojobs.models.steps import StepOutcome
from videojobs.observability import logger
from videojobs.settings import get_settings

if TYPE_CHECKING:
    from videojobs.models.webhook import ProviderEvent

TERMINAL_PROVIDER = frozenset({"completed", "failed"})


def _wake_if_done(job: Job) -> bool:
    if job.provider_status in TERMINAL_PROVIDER and job.task_token:
        return workflow.wake(job.task_token, {"provider_status": job.provider_status})
    return False


def await_completion(job_id: str, task_token: str) -> bool:
    """Store the workflow's task token; wake it at once if the video already finished.

    Returns True if it woke the workflow itself.
    """
    try:
        job = jobs.store_task_token(job_id, task_token)
    except StaleTransitionError as exc:
        raise JobCancelledError(f"job {job_id} ended while waiting") from exc
    return _wake_if_done(job)


def apply_webhook(event: ProviderEvent) -> str:
    """Record a provider event on the job that owns the video and wake its workflow.

    Returns what happened: ``woken``, ``recorded`` (no parked workflow right now: the next
    status check or park picks it up) or ``unknown_video``.
    """
    # A verified webhook, whoever's video it is about: the provider sends them, so the next
    # jobs may trust the webhook and check late (see submit_job.first_check_seconds).
    control.record_wakeup("openai")
    job = jobs.find_by_provider_id(event.data.id)
    if job is None:
        return "unknown_video"
    status = "completed" if event.type == "video.completed" else "failed"
    updated = jobs.record_provider_status(
        job.job_id, status, progress=100 if status == "completed" else None
    )
    logger.append_keys(job_id=job.job_id)
    return "woken" if _wake_if_done(updated) else "recorded"


def refresh_progress(job: Job) -> Job:
    """Bring a running job's progress up to date for someone who is watching it.

    Called by reads of the job, at most once per ``progress_refresh_seconds`` per job; a
    provider error leaves the job as it was (a read must not fail because the provider is
    slow). A terminal status found this way also wakes the workflow early.
    """
    settings = get_settings()
    if job.status.is_terminal or not job.provider_video_id:
        return job
    if protocol_of(job.request.model) == "bedrock":
        # GetAsyncInvoke reports no progress, only InProgress: nothing to refresh. The output
        # event (or the workflow's own status check) moves the job on.
        return job
    if not jobs.claim_progress_check(job.job_id, settings.progress_refresh_seconds):
        return job
    # Imported here, not at the top (cold start): the webhook handler imports this module and
    # never asks the provider anything.
    from videojobs.logic.provider_access import get_provider

    try:
        # Nobody waits on a refresh: it never waits for a token, and takes one only while
        # the bucket is at least half full, leaving the rest to the jobs' own steps.
        video = get_provider(spare_only=True).retrieve(job.provider_video_id).video
    except ProviderError as exc:
        logger.info(
            "progress refresh skipped", extra={"job_id": job.job_id, "error": type(exc).__name__}
        )
        return job
    error = (
        JobError(code=video.error.code, message=video.error.message or "Generation failed.")
        if video.error is not None
        else None
    )
    updated = jobs.record_provider_status(
        job.job_id,
        video.status.value,
        progress=video.progress,
        expires_at=video.expires_at,
        error=error,
    )
    _wake_if_done(updated)
    return updated


def check_status(job_id: str, interval_seconds: int) -> StepOutcome:
    """One status check at the provider; returns the status and the next poll interval.

    The interval doubles each time up to the configured maximum, and is never shorter than
    the provider's own ``openai-poll-after-ms`` hint.
    """
    # Imported here, not at the top (cold start): the webhook handler imports this module and
    # never asks the provider anything.
    from videojobs.logic.provider_access import get_provider

    settings = get_settings()
    job = jobs.get(job_id)
    if job.status.is_terminal:
        raise JobCancelledError(f"job {job_id} is already {job.status.value}")
    grown = min(settings.max_poll_interval_seconds, max(1, interval_seconds * 2))
    if not job.provider_video_id:
        raise JobCancelledError(f"job {job_id} has no provider video")
    if protocol_of(job.request.model) == "bedrock":
        return _check_bedrock(job, grown)
    try:
        retrieved = get_provider().retrieve(job.provider_video_id)
    except ProviderThrottledError as exc:
        wait = math.ceil(exc.retry_after) if exc.retry_after is not None else grown
        return StepOutcome(
            outcome="throttled",
            provider_status=job.provider_status or "queued",
            interval_seconds=min(settings.max_poll_interval_seconds, max(grown, wait)),
        )
    video = retrieved.video
    error = (
        JobError(code=video.error.code or "generation_failed", message=video.error.message or "")
        if video.error is not None
        else None
    )
    updated = jobs.record_provider_status(
        job_id,
        video.status.value,
        progress=video.progress,
        expires_at=video.expires_at,
        error=error,
    )
    hint = math.ceil(retrieved.poll_after_ms / 1000) if retrieved.poll_after_ms else 0
    return StepOutcome(
        outcome="checked",
        provider_status=updated.provider_status or video.status.value,
        interval_seconds=max(grown, min(hint, settings.max_poll_interval_seconds)),
    )


_BEDROCK_STATUS = {"InProgress": "in_progress", "Completed": "completed", "Failed": "failed"}


def bedrock_failure(failure_message: str | None) -> JobError:
    """The job error for a failed Bedrock invocation.

    Bedrock's own words are kept, except when it could not write its output: that message
    names this stack's bucket, which a tenant must not see.
    """
    from videojobs.adapters.providers.bedrock_videos import failure_code

    code = failure_code(failure_message)
    if code == "output_write_failed":
        return JobError(
            code=code, message="Bedrock could not write the video to the service's storage."
        )
    return JobError(
        code=code, message=failure_message or "Bedrock reported the generation as failed."
    )


def _check_bedrock(job: Job, grown: int) -> StepOutcome:
    """The safety net of a Bedrock job: one ``GetAsyncInvoke``, on the adaptive schedule."""
    from videojobs.logic.provider_access import get_bedrock

    settings = get_settings()
    assert job.provider_video_id is not None
    try:
        invocation = get_bedrock().get(job.request.model, job.provider_video_id)
    except ProviderThrottledError:
        return StepOutcome(
            outcome="throttled",
            provider_status=job.provider_status or "in_progress",
            interval_seconds=min(settings.max_poll_interval_seconds, grown * 2),
        )
    status = _BEDROCK_STATUS[invocation.status]
    error = bedrock_failure(invocation.failure_message) if status == "failed" else None
    updated = jobs.record_provider_status(
        job.job_id, status, progress=100 if status == "completed" else None, error=error
    )
    return StepOutcome(
        outcome="checked",
        provider_status=updated.provider_status or status,
        interval_seconds=grown,
    )


def apply_bedrock_output(key: str) -> str:
    """Wake the job whose Bedrock invocation just wrote ``key`` (its ``output.mp4``).

    The key is ``bedrock/<job id>/<invocation id>/output.mp4``: the job is named by the
    folder its submit chose, and the invocation must be the one the job recorded (a stray
    file wakes nothing). Returns ``woken``, ``recorded``, ``ignored`` or ``unknown_video``.
    """
    from videojobs.adapters.storage import assets
    from videojobs.models.bedrock import OUTPUT_FILE, invocation_id
    from videojobs.models.errors import JobNotFoundError

    parts = key.split("/")
    if len(parts) != 4 or f"{parts[0]}/" != assets.BEDROCK_PREFIX or parts[3] != OUTPUT_FILE:
        return "ignored"
    job_id, invocation = parts[1], parts[2]
    # Bedrock's output events reach us: the next Bedrock jobs may trust them and check late.
    control.record_wakeup("bedrock")
    try:
        job = jobs.get(job_id)
    except JobNotFoundError:
        return "unknown_video"
    if job.provider_video_id is None or invocation_id(job.provider_video_id) != invocation:
        return "unknown_video"
    logger.append_keys(job_id=job_id)
    if job.status.is_terminal:
        if job.status.value != "completed":
            # Cancelled meanwhile: Bedrock cannot be stopped, so its late output is removed.
            assets.delete_bedrock_output(job_id)
        return "ignored"
    updated = jobs.record_provider_status(job_id, "completed", progress=100)
    return "woken" if _wake_if_done(updated) else "recorded"
