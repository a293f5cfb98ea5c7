"""A tenant's usage: jobs, generated seconds and cost by UTC day and model.

Computed from the jobs themselves (each counted on the UTC day it was created, the day its
cost was charged to), so the totals are always the sum of the jobs' own costs. Amounts are
added up in micro-dollars and shown in USD only at the end.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from videojobs.adapters.dal import jobs
from videojobs.logic import costs
from videojobs.models.errors import InvalidRequestError
from videojobs.models.job import Job, JobStatus
from videojobs.models.money import usd
from videojobs.models.usage import (
    USAGE_MAX_DAYS,
    UsageCounts,
    UsageLine,
    UsageQuery,
    UsageReport,
)


@dataclass
class _Tally:
    jobs: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    running: int = 0
    seconds: int = 0
    cost_micros: int = 0
    pending_micros: int = 0

    def add(self, job: Job) -> None:
        self.jobs += 1
        if job.status is JobStatus.COMPLETED:
            self.completed += 1
            self.seconds += int(job.request.seconds)
        elif job.status is JobStatus.FAILED:
            self.failed += 1
        elif job.status is JobStatus.CANCELLED:
            self.cancelled += 1
        else:
            self.running += 1
        final = costs.final_micros(job)
        if final is not None:
            self.cost_micros += final
        else:
            self.pending_micros += job.cost_estimated_micros or 0

    def merge(self, other: _Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> UsageCounts:
        return UsageCounts(
            jobs=self.jobs,
            completed=self.completed,
            failed=self.failed,
            cancelled=self.cancelled,
            running=self.running,
            seconds=self.seconds,
            cost_usd=usd(self.cost_micros),
            pending_usd=usd(self.pending_micros),
        )


def _epoch(day: datetime.date) -> int:
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())


def date_range(
    query: UsageQuery, today: datetime.date | None = None
) -> tuple[datetime.date, datetime.date]:
    """The days asked for, defaults applied; :class:`InvalidRequestError` when unusable."""
    end = query.end or today or datetime.datetime.now(datetime.UTC).date()
    start = query.start or end.replace(day=1)
    if start > end:
        raise InvalidRequestError(
            f"start ({start}) is after end ({end}).", param="start", code="invalid_value"
        )
    if (end - start).days + 1 > USAGE_MAX_DAYS:
        raise InvalidRequestError(
            f"The range {start}..{end} spans more than {USAGE_MAX_DAYS} days; ask for less.",
            param="end",
            code="invalid_value",
        )
    return start, end


def usage_report(
    tenant_id: str, query: UsageQuery, *, today: datetime.date | None = None
) -> UsageReport:
    """The tenant's usage over the query's days (both ends included, UTC)."""
    start, end = date_range(query, today)
    lines: dict[tuple[datetime.date, str], _Tally] = {}
    after_end = end + datetime.timedelta(days=1)
    for job in jobs.created_between(tenant_id, _epoch(start), _epoch(after_end)):
        day = datetime.datetime.fromtimestamp(job.created_at, datetime.UTC).date()
        lines.setdefault((day, job.request.model), _Tally()).add(job)
    totals = _Tally()
    for tally in lines.values():
        totals.merge(tally)
    return UsageReport(
        start=start,
        end=end,
        data=[
            UsageLine(day=day, model=model, **tally.counts().model_dump())
            for (day, model), tally in sorted(lines.items())
        ],
        totals=totals.counts(),
        budgets=costs.budget_status(tenant_id),
    )
