"""Where a queued job stands in the line for a concurrency slot, and what holds it there."""

from __future__ import annotations

from typing import Literal

from videojobs.dal import control, jobs
from videojobs.models.job import Job, JobStatus
from videojobs.settings import get_settings

QueueReason = Literal["concurrency_limit", "tenant_limit"]


def queue_position(job: Job) -> int | None:
    """1 for the oldest job waiting for a slot, 2 for the next, ...; None once the job has
    a slot (its submit step started) or has ended.

    Slots go to whichever waiting job retries first after one frees up (the retries are
    jittered), so the position is the job's place by age, not a promise of order.
    """
    if job.status is not JobStatus.QUEUED or job.submit_attempted_at or job.provider_video_id:
        return None
    return jobs.queue_position(job)


def queue_reason(job: Job) -> QueueReason:
    """Why a waiting job waits: ``tenant_limit`` while its own tenant's jobs hold
    ``MaxJobsPerTenant`` slots (a slot freed by another tenant will not go to it), otherwise
    ``concurrency_limit`` (it waits for any free slot)."""
    settings = get_settings()
    cap = settings.max_jobs_per_tenant
    capped = 0 < cap < settings.max_concurrent_jobs
    if capped and control.tenant_slots_in_flight(job.tenant_id) >= cap:
        return "tenant_limit"
    return "concurrency_limit"
