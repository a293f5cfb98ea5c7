"""What a job costs, and keeping each tenant within its budgets.

A job's estimate is its seconds times the configured price of its model and size
(``settings.pricing_table``, USD per second). :func:`create_within_budget` stores a new job
and reserves that estimate on the tenant's UTC day and month ledgers in one transaction, so
a submit over a budget stores nothing and concurrent submits never spend past a limit. When
the job ends, :func:`settle_cost` fixes what it cost (once) and, in the same transaction,
turns the reservation into spend and gives back the rest.

Amounts are integer micro-dollars throughout (``models.money``); only the API shows USD.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from videojobs.adapters.dal import budgets, jobs, tenants
from videojobs.adapters.dal.budgets import PERIODS, Charge, OverBudgetError, Period
from videojobs.models.errors import BudgetExceededError, InvalidRequestError
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.models.money import format_usd, micros_from_usd, usd
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings

if TYPE_CHECKING:
    from videojobs.models.api import VideoCost
    from videojobs.models.usage import BudgetStatus, UsageBudgets

_BUDGET_NAMES: dict[Period, str] = {"day": "daily", "month": "monthly"}
_PERIOD_WORDS: dict[Period, str] = {"day": "UTC day", "month": "UTC month"}


# --- prices ----------------------------------------------------------------------------------


def price_micros_per_second(model: str, size: str) -> int:
    """The configured price of one generated second of ``model`` at ``size``.

    A combination the pricing table leaves out cannot be budgeted, so it is refused
    (:class:`InvalidRequestError`) rather than run for free.
    """
    price = get_settings().pricing_table.get(model, {}).get(size)
    if price is None:
        raise InvalidRequestError(
            f"No price is configured for {model} at {size} on this service, so it cannot be "
            "generated here; choose another model or size, or ask the operator to price it.",
            param="size",
            code="unpriced_model",
        )
    return micros_from_usd(price)


def estimate_micros(request: VideoRequest) -> int:
    """Seconds x price per second: what the request will cost when it completes."""
    return int(request.seconds) * price_micros_per_second(request.model, request.size)


def settled_micros(job: Job) -> int:
    """What an ended job costs.

    Completed: its estimate (the price when it was submitted). Cancelled after the provider
    accepted it (it has a provider video id): its estimate too, whatever ``bill_failed_jobs``
    says, because the provider bills a video it started even when we stop waiting for it.
    Cancelled before that: nothing. Failed: nothing, unless ``bill_failed_jobs`` is on and the
    provider had accepted the job; then its estimate.
    """
    estimate = job.cost_estimated_micros or 0
    if job.status is JobStatus.COMPLETED:
        return estimate
    reached_provider = job.provider_video_id is not None
    if job.status is JobStatus.CANCELLED and reached_provider:
        return estimate
    if get_settings().bill_failed_jobs and reached_provider:
        return estimate
    return 0


# --- budgets ---------------------------------------------------------------------------------


def _charges(tenant_id: str, created_at: int, *, with_limits: bool = True) -> list[Charge]:
    """The ledgers a job created at ``created_at`` is charged to, with the tenant's limits."""
    limits: dict[Period, int | None] = {"day": None, "month": None}
    tenant = tenants.get_tenant(tenant_id) if with_limits else None
    if tenant is not None:
        limits = {"day": tenant.daily_budget_micros, "month": tenant.monthly_budget_micros}
    keys = budgets.period_keys(created_at)
    return [Charge(period, keys[period], limits[period]) for period in PERIODS]


def _refusal(tenant_id: str, cost: int, charge: Charge, committed: int | None, subject: str) -> str:
    limit = charge.limit_micros or 0
    name = _BUDGET_NAMES[charge.period]
    if committed is None:
        committed = budgets.get_ledger(tenant_id, charge.period, charge.key).committed_micros
    left = max(limit - committed, 0)
    return (
        f"{subject} would exceed the {name} budget of tenant '{tenant_id}': it costs "
        f"{format_usd(cost)} and {format_usd(left)} of the {format_usd(limit)} {name} budget "
        f"is left ({_PERIOD_WORDS[charge.period]} {charge.key}). Nothing was created; "
        "submit again when the budget resets, or ask the operator to raise it."
    )


def _budget_error(
    tenant_id: str,
    cost: int,
    charges: list[Charge],
    exc: OverBudgetError,
    subject: str = "This video",
) -> BudgetExceededError:
    charge = next(c for c in charges if c.period == exc.period)
    name = _BUDGET_NAMES[charge.period]
    metrics.add_metric(name="SubmitsOverBudget", unit="Count", value=1)
    logger.info("submit refused: over budget", extra={"budget": name, "cost_micros": cost})
    message = _refusal(tenant_id, cost, charge, exc.committed_micros, subject)
    return BudgetExceededError(message, budget=name)


def with_estimate(job: Job) -> Job:
    """``job`` with its estimated cost filled in (before it is stored)."""
    return job.with_changes(cost_estimated_micros=estimate_micros(job.request))


def create_within_budget(job: Job) -> Job:
    """Store a new job, reserving its estimate on its tenant's day and month budgets.

    All or nothing: over either budget raises :class:`BudgetExceededError` (naming the
    budget) and stores nothing. The periods are those of ``job.created_at`` (UTC), and the
    job's own cost is settled against the same ones however late it ends.
    """
    if job.cost_estimated_micros is None:
        job = with_estimate(job)
    cost = job.cost_estimated_micros or 0
    charges = _charges(job.tenant_id, job.created_at)
    try:
        stored = budgets.create_reserving(job, cost, charges)
    except OverBudgetError as exc:
        raise _budget_error(job.tenant_id, cost, charges, exc) from None
    metrics.add_metric(name="CostReservedMicros", unit="Count", value=cost)
    return stored


def ensure_affordable(tenant_id: str, requests: Iterable[VideoRequest], now: int) -> None:
    """Refuse up front a set of jobs that cannot all fit the tenant's budgets (batches).

    A check, not a reservation: each job still reserves its own cost as it is created.
    """
    estimates = [estimate_micros(request) for request in requests]
    total = sum(estimates)
    subject = f"This batch of {len(estimates)} videos"
    for charge in _charges(tenant_id, now):
        if charge.limit_micros is None:
            continue
        committed = budgets.get_ledger(tenant_id, charge.period, charge.key).committed_micros
        if committed + total > charge.limit_micros:
            full = OverBudgetError(charge.period, charge.key, committed)
            raise _budget_error(tenant_id, total, [charge], full, subject)


def settle_cost(job: Job) -> Job:
    """Fix what an ended job cost, once; its reservation becomes spend or is given back.

    Idempotent: a job that is not terminal, already settled, or has no estimate (stored
    before costs were kept, so nothing was reserved) is returned as it is; one settled by
    another caller meanwhile is re-read. Call it before publishing the job's event, so the
    event carries the settled cost.
    """
    reserved = job.cost_estimated_micros
    if not job.status.is_terminal or job.cost_settled_micros is not None or reserved is None:
        return job
    amount = settled_micros(job)
    charges = _charges(job.tenant_id, job.created_at, with_limits=False)
    settled = budgets.settle(job, reserved, amount, charges)
    if settled is None:
        return jobs.get(job.job_id)
    metrics.add_metric(name="CostSettledMicros", unit="Count", value=amount)
    metrics.add_metric(name="CostReleasedMicros", unit="Count", value=reserved - amount)
    logger.info(
        "cost settled",
        extra={"job_id": job.job_id, "settled_micros": amount, "reserved_micros": reserved},
    )
    return settled


def release_reservation(job: Job) -> None:
    """Give back what an ended job reserved and did not spend (see :func:`settle_cost`).

    The same once-per-job transaction as :func:`settle_cost`: a failed job, or one cancelled
    before the provider accepted it, settles at 0 (a failed one at its estimate when failed
    jobs are billed) and the rest is released.
    """
    settle_cost(job)


def final_micros(job: Job) -> int | None:
    """What the job costs once ended: settled, or (ended a moment ago, its settlement still
    in flight) what it will settle at; None while it runs or when it has no estimate."""
    if job.cost_settled_micros is not None:
        return job.cost_settled_micros
    if job.cost_estimated_micros is None or not job.status.is_terminal:
        return None
    return settled_micros(job)


def video_cost(job: Job) -> VideoCost | None:
    """The ``cost`` a job shows in the API and its callbacks (None if it has no estimate)."""
    if job.cost_estimated_micros is None:
        return None
    # Imported here, not at the top (cold start): every step function and the reaper settle
    # costs through this module, and only the API and callbacks show them as models.
    from videojobs.models.api import VideoCost

    final = final_micros(job)
    return VideoCost(
        estimated_usd=usd(job.cost_estimated_micros),
        settled_usd=None if final is None else usd(final),
    )


def _status(limit: int | None, ledger: budgets.Ledger) -> BudgetStatus:
    from videojobs.models.usage import BudgetStatus  # only the API shows budgets (cold start)

    return BudgetStatus(
        period=ledger.key,
        limit_usd=None if limit is None else usd(limit),
        spent_usd=usd(ledger.spent_micros),
        reserved_usd=usd(ledger.reserved_micros),
        remaining_usd=None if limit is None else usd(max(limit - ledger.committed_micros, 0)),
    )


def budget_status(tenant_id: str, now: int | None = None) -> UsageBudgets:
    """The tenant's daily and monthly budgets as they stand in the current UTC periods."""
    from videojobs.models.usage import UsageBudgets  # only the API shows budgets (cold start)

    charges = _charges(tenant_id, int(time.time()) if now is None else now)
    status = {
        charge.period: _status(
            charge.limit_micros, budgets.get_ledger(tenant_id, charge.period, charge.key)
        )
        for charge in charges
    }
    return UsageBudgets(daily=status["day"], monthly=status["month"])
