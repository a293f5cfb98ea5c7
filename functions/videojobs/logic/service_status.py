"""The service as an operator sees it: the slot line, recent jobs, dead letters.

The reaper's sweep publishes the slot figures as metrics (``SlotsInUse``, ``JobsWaiting``) for
the dashboard; ``videojobs status`` shows the whole snapshot for a deployed or a local stack.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from videojobs.adapters import queues
from videojobs.adapters.dal import control, jobs, tenants
from videojobs.models.job import JobStatus
from videojobs.observability import metrics

RECENT_FAILURES = 10


class RecentFailure(BaseModel):
    """A job that failed in the window, with its normalised reason."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant_id: str
    created_at: int
    failed_at: int
    code: str | None
    message: str | None
    correlation_id: str | None = None


class ServiceStatus(BaseModel):
    """A snapshot: jobs created in the last ``window_seconds`` by status, and the rest now."""

    model_config = ConfigDict(frozen=True)

    as_of: int
    window_seconds: int
    jobs_by_status: dict[str, int]
    jobs_waiting_for_slot: int
    slots_in_use: int
    dead_letters: dict[str, int]
    recent_failures: list[RecentFailure]


def record_gauges() -> tuple[int, int]:
    """Publish ``SlotsInUse`` and ``JobsWaiting`` as metrics; returns them."""
    in_use = control.slots_in_flight()
    waiting = jobs.count_waiting()
    metrics.add_metric(name="SlotsInUse", unit="Count", value=in_use)
    metrics.add_metric(name="JobsWaiting", unit="Count", value=waiting)
    return in_use, waiting


def snapshot(
    dead_letter_queues: Mapping[str, str],
    *,
    window_seconds: int = 3600,
    now: int | None = None,
) -> ServiceStatus:
    """Jobs created in the window by status (every tenant, through the ``by-tenant`` index),
    the most recent failures with their codes, the slot line, and each dead-letter queue's
    depth (``dead_letter_queues``: name -> queue URL)."""
    as_of = int(time.time()) if now is None else now
    since = as_of - window_seconds
    counts: Counter[str] = Counter({status.value: 0 for status in JobStatus})
    failures: list[RecentFailure] = []
    for tenant_id in tenants.tenant_ids():
        for job in jobs.created_between(tenant_id, since, as_of + 1):
            counts[job.status.value] += 1
            if job.status is JobStatus.FAILED:
                failures.append(
                    RecentFailure(
                        job_id=job.job_id,
                        tenant_id=job.tenant_id,
                        created_at=job.created_at,
                        failed_at=job.updated_at,
                        code=job.error.code if job.error else None,
                        message=job.error.message if job.error else None,
                        correlation_id=job.correlation_id,
                    )
                )
    failures.sort(key=lambda failure: failure.failed_at, reverse=True)
    return ServiceStatus(
        as_of=as_of,
        window_seconds=window_seconds,
        jobs_by_status=dict(counts),
        jobs_waiting_for_slot=jobs.count_waiting(),
        slots_in_use=control.slots_in_flight(),
        dead_letters={name: queues.depth(url) for name, url in sorted(dead_letter_queues.items())},
        recent_failures=failures[:RECENT_FAILURES],
    )
