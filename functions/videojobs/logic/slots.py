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

from videojobs.adapters import workflow
from videojobs.adapters.dal import control, jobs
from videojobs.models.errors import JobCancelledError, StaleTransitionError
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
