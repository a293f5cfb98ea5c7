"""Where a queued job stands in the line for a concurrency slot, and what holds it there."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from videojobs.adapters.dal import control, jobs
from videojobs.models.job import Job, JobStatus
from videojobs.settings import get_settings


def _may_be_waiting(job: Job) -> bool:
    """Queued and not yet at its submit step (the condition that keeps ``waiting`` set)."""
    return (
        job.status is JobStatus.QUEUED and not job.submit_attempted_at and not job.provider_video_id
    )


def queue_positions(listed: Sequence[Job]) -> dict[str, int | None]:
    """The queue position of every job of a listing, computed once for the whole list.

    One keys-only query reads the line up to the newest waiting job listed, instead of one
    read and one count per job. A job that is not waiting (any more) gets None.
    """
    candidates = [job for job in listed if _may_be_waiting(job)]
    positions: dict[str, int | None] = {job.job_id: None for job in listed}
    if not candidates:
        return positions
    line = jobs.waiting_keys_up_to(max(jobs.created_key(job) for job in candidates))
    in_line = set(line)
    for job in candidates:
        key = jobs.created_key(job)
        positions[job.job_id] = bisect.bisect_left(line, key) + 1 if key in in_line else None
    return positions


def queue_position(job: Job) -> int | None:
    """1 for the oldest job waiting for a slot, 2 for the next, ...; None once the job has
    a slot (its submit step started) or has ended.

    Slots go to whichever waiting job retries first after one frees up (the retries are
    jittered), so the position is the job's place by age, not a promise of order.
    """
    if not _may_be_waiting(job):
        return None
    return jobs.queue_position(job)


def tenant_at_cap(job: Job) -> bool:
    """Whether the job's own tenant's jobs hold ``MaxJobsPerTenant`` slots, so that a slot
    freed by another tenant will not go to it (asked only of a job that waits)."""
    settings = get_settings()
    cap = settings.max_jobs_per_tenant
    capped = 0 < cap < settings.max_concurrent_jobs
    return capped and control.tenant_slots_in_flight(job.tenant_id) >= cap
