"""The line for a concurrency slot: a job that finds none parks on a task token, and whoever
frees a slot grants it to the oldest job in line whose tenant is under its cap, and wakes it.

Nobody polls. The invariant that keeps a wake-up from being lost: every write that can make a
parked job able to run (a release, on the semaphore item) and every write that parks one
(joining the line, an item of the slot-line table) is followed, by the same caller, by
:func:`hand_out`, which reads the semaphore and then the line, both strongly consistent, after
that write, and grants every free slot to the line. If a join's read of the semaphore missed a
release, that release was written after it, so the releaser's read of the line, later still,
sees the join: of a release and a join, the one that lands second is followed by reads that
see both.
"""

from __future__ import annotations

import time

from videojobs.adapters import workflow
from videojobs.adapters.dal import control, jobs
from videojobs.models.errors import JobCancelledError, JobNotFoundError, StaleTransitionError
from videojobs.models.job import JobStatus
from videojobs.observability import logger
from videojobs.settings import get_settings


def _limits() -> tuple[int, int]:
    """MaxConcurrentJobs, and MaxJobsPerTenant as AcquireSlot applies it (0: no cap)."""
    settings = get_settings()
    total = settings.max_concurrent_jobs
    return total, settings.max_jobs_per_tenant or total


def park_for_slot(job_id: str, tenant_id: str, task_token: str) -> bool:
    """Park a job that found no slot: record its token, join the line, and hand out any slot
    that is free by now (perhaps to this job). True if this job was woken at once."""
    try:
        arrival = jobs.store_slot_token(job_id, task_token)
    except StaleTransitionError as exc:
        raise JobCancelledError(f"job {job_id} ended while waiting for a slot") from exc
    if control.join_line(job_id, tenant_id, arrival):
        # It holds a slot already: an earlier attempt took it, or one was granted while its
        # previous wait timed out. It goes on now.
        workflow.wake(task_token, {"slot": "held"})
        return True
    return job_id in hand_out()


def hand_out() -> list[str]:
    """Grant every free slot to the line, oldest eligible job first, and wake each job.

    A job whose token is stale (its wait timed out, or its execution ended) gives the slot
    back unless it confirmed it meanwhile, and the slot goes to the next job. Returns the jobs
    woken.
    """
    total, per_tenant = _limits()
    woken: list[str] = []
    while (waiter := control.grant_next(total, per_tenant)) is not None:
        token = jobs.slot_token(waiter.job_id)
        if token is not None and workflow.wake(token, {"slot": "granted"}):
            logger.info("slot handed over", extra={"job_id": waiter.job_id})
            woken.append(waiter.job_id)
            continue
        if control.release_unconfirmed(waiter.job_id):
            logger.info("granted slot given back: stale wait", extra={"job_id": waiter.job_id})
    return woken


def free(job_id: str) -> bool:
    """Give back the job's slot, or its place in line, and hand the slot to the next job.
    True if it held a slot. Idempotent."""
    if not control.release_slot(job_id):
        arrival = jobs.arrival(job_id)
        if arrival is not None:
            control.leave_line(arrival)
        return False
    logger.info("slot released", extra={"job_id": job_id})
    hand_out()
    return True


# How long a job granted a slot may still be queued before the sweep wakes it again: a woken
# job submits within seconds, so one still queued after this was most likely never woken.
STALLED_GRANT_SECONDS = 60


def sweep_line() -> list[str]:
    """The scheduled sweep's part of the line, the safety net for a waker that stopped half-way.

    A job granted a slot (in ``woken``) but still queued a while after it parked is woken
    again with its token: if its waker stopped between the grant and ``SendTaskSuccess``, this
    wakes it; if it was woken already, the token is spent and nothing happens. Then every free
    slot is handed out, for a releaser that stopped between its release and its hand-out.
    Returns the jobs woken, by either.
    """
    now = int(time.time())
    woken: list[str] = []
    for job_id in sorted(control.unconfirmed_grants()):
        try:
            job = jobs.get(job_id)
        except JobNotFoundError:
            continue
        if job.status is not JobStatus.QUEUED or now - job.updated_at < STALLED_GRANT_SECONDS:
            continue
        token = jobs.slot_token(job_id)
        if token is not None and workflow.wake(token, {"slot": "granted"}):
            logger.warning("granted slot's wake-up sent again", extra={"job_id": job_id})
            woken.append(job_id)
    return woken + hand_out()
