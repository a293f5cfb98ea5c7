"""The ends of a job: completed, failed, or rescued by the reaper. Each one releases the
job's concurrency slot, and each one is safe to run twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from videojobs.adapters import eventbus
from videojobs.adapters.dal import control, jobs
from videojobs.logic import costs, slots
from videojobs.models.errors import JobNotFoundError, ProviderError, StaleTransitionError
from videojobs.models.job import Job, JobError, JobStatus
from videojobs.models.provider_types import protocol_of
from videojobs.observability import logger, metrics

_RUNNING = [JobStatus.QUEUED, JobStatus.IN_PROGRESS]

# State machine error name -> (code, message, retryable, billed). The names are the error
# classes of videojobs.models.errors plus the States.* errors Step Functions raises itself.
_FAILURES: dict[str, tuple[str, str, bool, bool]] = {
    "ProviderTransientError": (
        "provider_unavailable",
        "The provider did not answer after several attempts.",
        True,
        False,
    ),
    "ProviderThrottledError": (
        "provider_rate_limited",
        "The provider kept rate-limiting the request.",
        True,
        False,
    ),
    "ProviderAuthError": (
        "provider_auth_failed",
        "The provider refused the configured credentials.",
        True,
        False,
    ),
    "ProviderRejectedError": (
        "provider_rejected",
        "The provider rejected the request.",
        False,
        False,
    ),
    "AssetsExpiredError": (
        "assets_expired",
        "The provider's download window closed before the video was stored.",
        False,
        True,
    ),
    "ProviderConfigError": (
        "provider_unavailable",
        "The service could not reach the provider.",
        True,
        False,
    ),
    "States.Timeout": ("timeout", "The job ran out of time.", True, False),
    "ProviderVideoFailedError": (
        "generation_failed",
        "The provider failed to generate the video.",
        False,
        False,
    ),
}


# Any other error name is ours (a bug, an AWS call that failed): the tenant gets this and the
# job id, the logs get the name and cause.
_INTERNAL = (
    "internal_error",
    "The job failed because of an internal error. Quote the job id to support.",
    True,
    False,
)


def _cause_message(cause: str | None) -> str | None:
    """The exception message a Lambda task failed with (its Cause is a JSON document)."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:500]
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        return str(parsed["errorMessage"])[:500]
    return None


def _reported_failure(job: Job) -> JobError | None:
    """The provider's own reason for a failed video (a webhook says only that it failed)."""
    if job.provider_error is not None:
        return job.provider_error
    if not job.provider_video_id:
        return None
    if protocol_of(job.request.model) == "bedrock":
        return _bedrock_failure(job)
    # Imported here, not at the top: only this rare path needs the provider client, and every
    # step function and the reaper import this module (cold start).
    from videojobs.logic.provider_access import get_provider

    try:
        video = get_provider().retrieve(job.provider_video_id).video
    except ProviderError:
        logger.warning(
            "could not fetch the provider's failure reason", extra={"job_id": job.job_id}
        )
        return None
    if video.error is None:
        return None
    return JobError(code=video.error.code, message=video.error.message or "Generation failed.")


def _bedrock_failure(job: Job) -> JobError | None:
    from videojobs.logic.apply_provider_status import bedrock_failure
    from videojobs.logic.provider_access import get_bedrock

    assert job.provider_video_id is not None
    try:
        invocation = get_bedrock().get(job.request.model, job.provider_video_id)
    except ProviderError:
        logger.warning("could not fetch Bedrock's failure reason", extra={"job_id": job.job_id})
        return None
    if invocation.status != "Failed":
        return None
    return bedrock_failure(invocation.failure_message)


def normalise_error(job: Job, error: dict[str, Any] | None) -> JobError:
    """A job-level error for a state machine error (``{"Error": ..., "Cause": ...}``)."""
    name = str((error or {}).get("Error") or "Unknown")
    if name == "ProviderVideoFailedError":
        reported = _reported_failure(job)
        if reported is not None:
            return reported
    if name == "ProviderRejectedError" and job.provider_error is not None:
        return job.provider_error  # the provider's reason, recorded by Submit
    code, message, retryable, billed = _FAILURES.get(name, _INTERNAL)
    # The exception text stays in the logs: it is ours (AWS errors quote ARNs and table names,
    # pydantic quotes its input), and the tenant sees the fixed message of the code. A provider
    # rejection's own words are kept where they are known: Submit records them on the job.
    logger.warning(
        "job failed",
        extra={
            "job_id": job.job_id,
            "error_name": name,
            "error_code": code,
            "cause": _cause_message((error or {}).get("Cause")),
        },
    )
    return JobError(code=code, message=message, retryable=retryable, billed=billed)


def _on_job_terminal(job: Job) -> None:
    """Count the ended job towards its batch (a job outside any batch is ignored there)."""
    # Imported here, not at the top: every step function and the reaper import this module,
    # and the batch models and storage behind batch completion would cost each of them at
    # cold start, when only the end of a job needs them.
    from videojobs.logic.batch_completion import on_job_terminal

    on_job_terminal(job)


def _release(job_id: str) -> None:
    # The freed slot goes straight to the oldest job parked for one.
    slots.free(job_id)


def settle(job: Job) -> Job:
    """What every ended job needs, however it ended: its slot back and its batch told.

    Both are idempotent, so paths that find a job already ended call this again safely: a
    retry after a crash between the status change and here still completes the work.
    """
    _release(job.job_id)
    job = costs.settle_cost(job)
    _on_job_terminal(job)
    return job


def _end(job_id: str, to: JobStatus, fields: dict[str, Any], event: str, metric: str) -> Job:
    try:
        job = jobs.transition(
            job_id, to, allowed_from=_RUNNING, fields=fields, removes=["task_token"]
        )
    except StaleTransitionError:
        # Someone else ended it first (a cancel, a duplicate step): theirs stands.
        return settle(jobs.get(job_id))
    _release(job_id)
    # Before the event, so the event (and the callback) carries the settled cost.
    job = costs.settle_cost(job)
    metrics.add_metric(name=metric, unit="Count", value=1)
    if to is JobStatus.COMPLETED and job.completed_at and job.submit_attempted_at:
        # From the provider call to the files stored (the wait for a slot left out).
        seconds = max(0, job.completed_at - job.submit_attempted_at)
        metrics.add_metric(name="GenerationSeconds", unit="Seconds", value=seconds)
    eventbus.publish_job_event(job, event)
    _on_job_terminal(job)
    return job


def finalize(job_id: str) -> Job:
    """Job -> completed, slot released, ``video.completed`` published (once)."""
    fields = {"completed_at": int(time.time()), "progress": 100}
    return _end(job_id, JobStatus.COMPLETED, fields, "video.completed", "JobsCompleted")


def record_failure(job_id: str, error: dict[str, Any] | None) -> Job:
    """Job -> failed with a normalised reason (if still running), slot released, event out."""
    job = jobs.get(job_id)
    if job.status.is_terminal:
        return settle(job)
    reason = normalise_error(job, error)
    return _end(
        job_id, JobStatus.FAILED, {"error": reason.model_dump()}, "video.failed", "JobsFailed"
    )


def reap(job_id: str, execution_status: str) -> Job | None:
    """Settle a job whose execution ended abnormally (FAILED, TIMED_OUT, ABORTED).

    A job already terminal only gets its slot back; a running one is failed with the reason.
    """
    try:
        job = jobs.get(job_id)
    except JobNotFoundError:
        _release(job_id)
        return None
    if job.status.is_terminal:
        return settle(job)
    reason = JobError(
        code=f"workflow_{execution_status.lower()}",
        message=f"The job's workflow ended ({execution_status}) before the job finished.",
        retryable=True,
        billed=job.provider_video_id is not None,
    )
    return _end(
        job_id, JobStatus.FAILED, {"error": reason.model_dump()}, "video.failed", "JobsReaped"
    )


def sweep_slots(execution_status: Callable[[str], str | None]) -> list[str]:
    """Free every slot whose execution is no longer running; returns the jobs reaped.

    The status-change event normally brings the reaper to an ended execution; this periodic
    pass catches the one whose event was lost or whose reaper run failed. Holders are
    execution names (= job ids); ``execution_status`` answers RUNNING, SUCCEEDED, FAILED,
    TIMED_OUT or ABORTED, or None when there is no such execution. Each reap is the same
    idempotent one the event path runs, so racing it is harmless.
    """
    reaped = []
    for job_id in sorted(control.slot_holders()):
        status = execution_status(job_id)
        if status == "RUNNING":
            continue
        logger.warning(
            "slot held by an execution that is not running",
            extra={"job_id": job_id, "execution_status": status},
        )
        reap(job_id, status or "ABORTED")
        reaped.append(job_id)
    return reaped
