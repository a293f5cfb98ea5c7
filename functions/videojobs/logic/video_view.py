"""The OpenAI Video view of a job: what ``GET /v1/videos/{id}`` answers and what callbacks
carry, built in one place so the two can never disagree."""

from __future__ import annotations

from videojobs.logic.costs import video_cost
from videojobs.logic.queue_position import queue_position, queue_reason
from videojobs.models.api import VideoErrorBody, VideoResource
from videojobs.models.job import Job, JobStatus
from videojobs.storage import assets


def video_resource(job: Job) -> VideoResource:
    """The Video resource of a job; asset links only once completed (and not deleted).

    The links are presigned afresh on every call: they are short-lived, and a callback retry
    may come hours after the first attempt.
    """
    asset_urls = None
    if job.status is JobStatus.COMPLETED and job.assets and job.deleted_at is None:
        asset_urls = {
            str(variant): assets.presigned_get_url(asset.key)
            for variant, asset in job.assets.items()
        }
    position = queue_position(job)
    return VideoResource(
        id=job.job_id,
        model=job.request.model,
        status=job.status.value,
        progress=100 if job.status is JobStatus.COMPLETED else job.progress,
        seconds=job.request.seconds,
        size=job.request.size,
        prompt=job.request.prompt,
        created_at=job.created_at,
        completed_at=job.completed_at,
        error=VideoErrorBody(code=job.error.code, message=job.error.message) if job.error else None,
        remixed_from_video_id=job.request.remix_of,
        metadata=job.metadata,
        batch_id=job.batch_id,
        assets=asset_urls,
        queue_position=position,
        queue_reason=queue_reason(job) if position is not None else None,
        cost=video_cost(job),
    )
