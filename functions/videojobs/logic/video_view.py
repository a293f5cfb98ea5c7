"""The OpenAI Video view of a job: what ``GET /v1/videos/{id}`` answers and what callbacks
carry, built in one place so the two can never disagree."""

from __future__ import annotations

from collections.abc import Mapping

from videojobs.adapters.storage import assets
from videojobs.logic.costs import video_cost
from videojobs.logic.queue_position import queue_position, tenant_at_cap
from videojobs.logic.status_reason import status_reason
from videojobs.models.api import VideoErrorBody, VideoResource
from videojobs.models.job import Job, JobStatus


def video_resource(job: Job, positions: Mapping[str, int | None] | None = None) -> VideoResource:
    """The Video resource of a job; asset links only once completed (and not deleted).

    The links are presigned afresh on every call: they are short-lived, and a callback retry
    may come hours after the first attempt. ``positions``: queue positions computed once for
    a whole listing (``queue_positions``); without them the job's own is read.
    """
    asset_urls = None
    if job.status is JobStatus.COMPLETED and job.assets and job.deleted_at is None:
        asset_urls = {
            str(variant): assets.asset_download_url(asset.key, job.job_id, variant)
            for variant, asset in job.assets.items()
        }
    position = queue_position(job) if positions is None else positions.get(job.job_id)
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
        status_reason=status_reason(
            job, position, tenant_at_cap=position is not None and tenant_at_cap(job)
        ),
        cost=video_cost(job),
    )
