"""Where a queued job stands in the line for a concurrency slot."""

from __future__ import annotations

from videojobs.dal import jobs
from videojobs.models.job import Job, JobStatus


def queue_position(job: Job) -> int | None:
    """1 for the oldest job waiting for a slot, 2 for the next, ...; None once the job has
    a slot (its submit step started) or has ended.

    Slots go to whichever waiting job retries first after one frees up (the retries are
    jittered), so the position is the job's place by age, not a promise of order.
    """
    if job.status is not JobStatus.QUEUED or job.submit_attempted_at or job.provider_video_id:
        return None
    return jobs.queue_position(job)
