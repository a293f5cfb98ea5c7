"""``GET /v1/usage``: a tenant's jobs, generated seconds and cost by UTC day and model."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

USAGE_MAX_DAYS = 366


class UsageQuery(BaseModel):
    """The query string: an inclusive range of UTC days (default: this month so far)."""

    model_config = ConfigDict(extra="forbid")

    start: datetime.date | None = Field(
        default=None,
        description="First UTC day, YYYY-MM-DD (default: the first day of end's month).",
    )
    end: datetime.date | None = Field(
        default=None, description="Last UTC day, YYYY-MM-DD, included (default: today)."
    )


class UsageCounts(BaseModel):
    """Jobs, seconds and USD for one day and model, or for the whole range."""

    jobs: int = Field(0, description="Jobs submitted (by creation time).")
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    running: int = Field(0, description="Still queued or in progress.")
    seconds: int = Field(0, description="Seconds of video generated (completed jobs).")
    cost_usd: float = Field(0.0, description="Settled cost of the jobs that have ended.")
    pending_usd: float = Field(
        0.0, description="Estimated cost of the jobs still running (reserved, not settled)."
    )


class UsageLine(UsageCounts):
    day: datetime.date
    model: str


class BudgetStatus(BaseModel):
    """One of the tenant's budgets in the current UTC period."""

    period: str = Field(description="The current UTC day (YYYY-MM-DD) or month (YYYY-MM).")
    limit_usd: float | None = Field(description="None: no limit.")
    spent_usd: float = Field(description="Settled costs of jobs charged to the period.")
    reserved_usd: float = Field(description="Estimates of the period's jobs still running.")
    remaining_usd: float | None = Field(description="What a new submit may still cost.")


class UsageBudgets(BaseModel):
    daily: BudgetStatus
    monthly: BudgetStatus


class UsageReport(BaseModel):
    """Usage of the caller's tenant over ``start``..``end`` (UTC days, both included)."""

    object: Literal["usage"] = "usage"
    start: datetime.date
    end: datetime.date
    data: list[UsageLine] = Field(description="One line per day and model with any job.")
    totals: UsageCounts
    budgets: UsageBudgets
