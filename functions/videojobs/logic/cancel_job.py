"""Cancel a running job, and delete a job for good (``DELETE /v1/videos/{id}``).

A cancel and the workflow's own ending (finalize, fail, reaper) race on one conditional write
(``jobs.transition`` from queued/in_progress): exactly one wins. The loser sees a terminal job
and leaves it as it is, so a job that completed a moment before the cancel is simply deleted.
"""

from __future__ import annotations

import time

from videojobs.adapters import eventbus, workflow
from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic import costs, slots
from videojobs.logic.batch_completion import on_job_terminal
from videojobs.logic.finalize_job import settle
from videojobs.models.errors import ProviderError, StaleTransitionError
from videojobs.models.job import Job, JobError, JobStatus
from videojobs.models.provider_types import protocol_of
from videojobs.observability import logger, metrics

_RUNNING = [JobStatus.QUEUED, JobStatus.IN_PROGRESS]

CANCELLED_BY_CALLER = "The job was cancelled by its owner."
# Longest the provider delete waits for a request token: the caller of DELETE /v1/videos/{id}
# is waiting on the response, and the delete is best effort (the provider expires videos).
DELETE_MAX_WAIT_SECONDS = 5.0


def _delete_provider_video(job: Job) -> None:
    """Best effort: the job's outcome never depends on it, and the provider expires videos."""
    if not job.provider_video_id:
        return
    if protocol_of(job.request.model) == "bedrock":
        # Bedrock cannot stop an invocation; whatever it already wrote goes now, and what it
        # writes later is removed when its output event arrives.
        assets.delete_bedrock_output(job.job_id)
        return
    if job.provider_expires_at is not None and job.provider_expires_at <= time.time():
        return
    # Imported here, not at the top (cold start): the API function imports this module, and
    # most of its requests never reach the provider.
    from videojobs.logic.provider_access import get_provider

    try:
        get_provider(max_wait_seconds=DELETE_MAX_WAIT_SECONDS, leave_reserve=True).delete(
            job.provider_video_id
        )
    except ProviderError as exc:
        logger.warning(
            "could not delete the provider video",
            extra={"job_id": job.job_id, "error": type(exc).__name__, "status": exc.status_code},
        )


def cancel_job(tenant_id: str, job_id: str, *, reason: str = CANCELLED_BY_CALLER) -> Job:
    """Cancel a tenant's job if it is still running; return the job as it ended.

    The winning cancel stops the execution, deletes the provider video (best effort), releases
    the concurrency slot, publishes ``video.cancelled`` and counts the job towards its batch.
    A job that had already ended is returned unchanged. Another tenant's job, or a deleted
    one, is :class:`JobNotFoundError`.
    """
    job = jobs.get_for_tenant(tenant_id, job_id)
    if job.status.is_terminal:
        # Slot and batch count are idempotent: a DELETE retried after a crash between the
        # cancel and here still gets them done.
        return settle(job)
    error = JobError(
        code="cancelled",
        message=reason,
        retryable=False,
        billed=job.provider_video_id is not None,
    )
    try:
        # The write returns the item as stored, so a provider id recorded by a submit that
        # landed just before the cancel is seen here and its video deleted below.
        job = jobs.transition(
            job_id,
            JobStatus.CANCELLED,
            allowed_from=_RUNNING,
            fields={"error": error.model_dump()},
            removes=["task_token"],
        )
    except StaleTransitionError:
        # Completed or failed meanwhile: that ending stands.
        return settle(jobs.get(job_id))
    logger.info("job cancelled", extra={"job_id": job_id})
    # A submit in flight finds the job cancelled and deletes the video it created itself.
    workflow.stop(job_id, reason)
    _delete_provider_video(job)
    # The reaper also releases it when the ABORTED event arrives; releasing is idempotent. A
    # job cancelled while parked for a slot leaves the line; a freed slot goes to the next.
    slots.free(job_id)
    job = costs.settle_cost(job)
    metrics.add_metric(name="JobsCancelled", unit="Count", value=1)
    eventbus.publish_job_event(job, "video.cancelled")
    on_job_terminal(job)
    return job


def delete_job(tenant_id: str, job_id: str) -> Job:
    """Cancel the job if it is running, delete its stored files, and hide it for good.

    Files go first: if deleting them fails, the job stays visible and the caller can retry.
    Returns the job as marked deleted.
    """
    job = cancel_job(tenant_id, job_id)
    if job.status is not JobStatus.CANCELLED:
        # The provider keeps its own copy of a finished video until it expires.
        _delete_provider_video(job)
    removed = assets.delete_job_assets(job.tenant_id, job.job_id)
    assets.delete_job_inputs(job.tenant_id, job.job_id)
    deleted = jobs.mark_deleted(job_id)
    logger.info("job deleted", extra={"job_id": job_id, "files_removed": removed})
    metrics.add_metric(name="JobsDeleted", unit="Count", value=1)
    return deleted
