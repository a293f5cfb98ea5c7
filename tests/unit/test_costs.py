"""What jobs cost and how budgets hold: prices, micro-dollar arithmetic, the settle rules,
settling once per job, and the budget ledgers' transactions (moto, in-process)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from template_tables import create_table

from videojobs.adapters import aws, eventbus
from videojobs.adapters.dal import budgets, tenants
from videojobs.adapters.dal import jobs as jobs_dal
from videojobs.adapters.dal.budgets import Charge, OverBudgetError
from videojobs.logic import callbacks, costs, usage
from videojobs.models.errors import (
    BudgetExceededError,
    InvalidRequestError,
    StaleTransitionError,
)
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.models.money import format_usd, micros_from_usd, usd
from videojobs.models.usage import BudgetStatus, UsageBudgets, UsageQuery
from videojobs.settings import get_settings

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY, MONTH = "2027-01-15", "2027-01"
JOBS_TABLE = "videojobs-jobs-test"
CONTROL_TABLE = "videojobs-control-test"


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PRICING_TABLE", raising=False)
    monkeypatch.delenv("BILL_FAILED_JOBS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def make_job(
    status: JobStatus = JobStatus.QUEUED,
    *,
    job_id: str = "video_" + "1" * 32,
    model: str = "sora-2",
    seconds: str = "4",
    size: str = "720x1280",
    **changes: Any,
) -> Job:
    return Job(
        job_id=job_id,
        tenant_id="acme",
        status=status,
        created_at=NOW,
        updated_at=NOW,
        request=VideoRequest.model_validate(
            {"prompt": "a lighthouse", "model": model, "seconds": seconds, "size": size}
        ),
        **changes,
    )


# --- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "seconds", "micros"),
    [
        ("sora-2", "720x1280", "4", 400_000),
        ("sora-2", "1280x720", "12", 1_200_000),
        ("sora-2-pro", "1280x720", "8", 2_400_000),
        ("sora-2-pro", "1024x1792", "12", 6_000_000),
        ("sora-2-pro", "1792x1024", "4", 2_000_000),
    ],
)
def test_the_default_prices_are_the_published_ones(
    model: str, size: str, seconds: str, micros: int
) -> None:
    # Given the default pricing table, when a request is estimated
    estimate = costs.estimate_micros(make_job(model=model, size=size, seconds=seconds).request)
    # Then it is seconds x the price per second, in micro-dollars
    assert estimate == micros


def test_a_configured_price_with_fractions_of_a_cent_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a pricing table with a price of $0.125 per second
    monkeypatch.setenv("PRICING_TABLE", json.dumps({"sora-2": {"720x1280": 0.125}}))
    get_settings.cache_clear()
    # When a 12-second video is estimated
    estimate = costs.estimate_micros(make_job(seconds="12").request)
    # Then it costs exactly $1.50
    assert estimate == 1_500_000
    assert usd(estimate) == 1.5


def test_a_model_and_size_without_a_price_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a pricing table that prices only sora-2
    monkeypatch.setenv("PRICING_TABLE", json.dumps({"sora-2": {"720x1280": 0.1}}))
    get_settings.cache_clear()
    # When sora-2-pro is priced, then it is a clear 400, not a free video
    with pytest.raises(InvalidRequestError) as caught:
        costs.price_micros_per_second("sora-2-pro", "1792x1024")
    assert caught.value.code == "unpriced_model"
    assert "sora-2-pro at 1792x1024" in caught.value.message


# --- micro-dollars ---------------------------------------------------------------------------


def test_micro_dollars_add_up_where_floats_drift() -> None:
    # Given ten reservations of $0.10
    amounts = [micros_from_usd(0.1)] * 10
    # Then their sum is exactly $1.00, which the same running total in floats is not (a
    # ledger adds one amount at a time; python3.12+'s sum() compensates, so add by hand)
    assert sum(amounts) == 1_000_000
    running = 0.0
    for amount in [0.1] * 10:
        running += amount
    assert running != 1.0
    # And releasing them one by one returns exactly to zero
    committed = sum(amounts)
    for amount in amounts:
        committed -= amount
    assert committed == 0


@pytest.mark.parametrize(
    ("value", "micros"),
    [("0.1", 100_000), (0.3, 300_000), ("12.5", 12_500_000), ("0.0000005", 1), (0, 0)],
)
def test_usd_converts_to_micro_dollars_rounding_half_up(value: Any, micros: int) -> None:
    assert micros_from_usd(value) == micros


@pytest.mark.parametrize("value", ["ten", "nan", "inf", ""])
def test_what_is_not_an_amount_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        micros_from_usd(value)


@pytest.mark.parametrize(
    ("micros", "shown"),
    [(400_000, "$0.40"), (125_000, "$0.125"), (12_000_000, "$12.00"), (1, "$0.000001")],
)
def test_amounts_are_shown_with_cents_and_no_spurious_digits(micros: int, shown: str) -> None:
    assert format_usd(micros) == shown


# --- settle rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "provider_video_id", "bill_failed", "expected"),
    [
        (JobStatus.COMPLETED, "video_p", False, 400_000),
        (JobStatus.FAILED, "video_p", False, 0),
        (JobStatus.FAILED, "video_p", True, 400_000),
        (JobStatus.FAILED, None, True, 0),
        (JobStatus.CANCELLED, None, False, 0),
        (JobStatus.CANCELLED, None, True, 0),
        # The provider bills a video it started, cancelled or not.
        (JobStatus.CANCELLED, "video_p", False, 400_000),
        (JobStatus.CANCELLED, "video_p", True, 400_000),
    ],
)
def test_what_an_ended_job_costs(
    monkeypatch: pytest.MonkeyPatch,
    status: JobStatus,
    provider_video_id: str | None,
    bill_failed: bool,
    expected: int,
) -> None:
    # Given a $0.40 job that ended as `status`, and the failed-job billing setting
    monkeypatch.setenv("BILL_FAILED_JOBS", "true" if bill_failed else "false")
    get_settings.cache_clear()
    job = make_job(status, provider_video_id=provider_video_id, cost_estimated_micros=400_000)
    # Then completed costs its estimate, and so does a job cancelled after the provider
    # accepted it; failed costs nothing unless billed and the provider had made a video of it
    assert costs.settled_micros(job) == expected


class FakeLedgers:
    """``dal.budgets.settle``, remembering calls; answers as if settled unless told not to."""

    def __init__(self, *, already_settled: bool = False) -> None:
        self.calls: list[tuple[str, int, int, list[Charge]]] = []
        self.already_settled = already_settled

    def settle(self, job: Job, reserved: int, settled: int, charges: list[Charge]) -> Job | None:
        self.calls.append((job.job_id, reserved, settled, list(charges)))
        if self.already_settled:
            return None
        return job.with_changes(cost_settled_micros=settled)


@pytest.fixture
def ledgers(monkeypatch: pytest.MonkeyPatch) -> FakeLedgers:
    fake = FakeLedgers()
    monkeypatch.setattr(budgets, "settle", fake.settle)
    return fake


def test_settling_a_failed_job_releases_its_whole_reservation_on_its_own_periods(
    ledgers: FakeLedgers,
) -> None:
    # Given a failed $0.40 job created on 2027-01-15
    job = make_job(JobStatus.FAILED, cost_estimated_micros=400_000)
    # When its cost is settled
    settled = costs.settle_cost(job)
    # Then it costs 0 and the ledgers of its creation day and month lose the $0.40 reserved
    assert settled.cost_settled_micros == 0
    assert settled.cost_settled_usd == 0.0
    assert ledgers.calls == [(job.job_id, 400_000, 0, [Charge("day", DAY), Charge("month", MONTH)])]


@pytest.mark.parametrize(
    "job",
    [
        make_job(JobStatus.IN_PROGRESS, cost_estimated_micros=400_000),
        make_job(JobStatus.COMPLETED, cost_estimated_micros=400_000, cost_settled_micros=400_000),
        make_job(JobStatus.COMPLETED),
    ],
    ids=["running", "already-settled", "no-estimate"],
)
def test_settling_is_a_no_op_when_there_is_nothing_to_settle(
    ledgers: FakeLedgers, job: Job
) -> None:
    assert costs.settle_cost(job) is job
    assert ledgers.calls == []


def test_a_job_settled_meanwhile_by_another_caller_is_read_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a completed job whose settle transaction finds it settled already
    fake = FakeLedgers(already_settled=True)
    monkeypatch.setattr(budgets, "settle", fake.settle)
    stored = make_job(JobStatus.COMPLETED, cost_estimated_micros=400_000).with_changes(
        cost_settled_micros=400_000
    )
    monkeypatch.setattr(jobs_dal, "get", lambda job_id: stored)
    # When this caller settles it, then it gets the job as the winner settled it
    job = make_job(JobStatus.COMPLETED, cost_estimated_micros=400_000)
    assert costs.settle_cost(job) == stored
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    ("job", "shown"),
    [
        (make_job(JobStatus.QUEUED, cost_estimated_micros=400_000), (0.4, None)),
        (make_job(JobStatus.FAILED, cost_estimated_micros=400_000), (0.4, 0.0)),
        (make_job(JobStatus.COMPLETED, cost_estimated_micros=400_000), (0.4, 0.4)),
        (
            make_job(JobStatus.COMPLETED, cost_estimated_micros=400_000, cost_settled_micros=0),
            (0.4, 0.0),
        ),
    ],
    ids=["running", "failed-settling", "completed-settling", "settled"],
)
def test_a_job_shows_its_final_cost_from_the_moment_it_ends(
    job: Job, shown: tuple[float, float | None]
) -> None:
    # The settlement lands a moment after the status; what it will be is already known
    cost = costs.video_cost(job)
    assert cost is not None
    assert (cost.estimated_usd, cost.settled_usd) == shown


def test_the_event_and_the_callback_carry_the_cost() -> None:
    # Given a failed job, settled
    job = make_job(JobStatus.FAILED, cost_estimated_micros=2_000_000, cost_settled_micros=0)
    # Then its EventBridge detail and its callback's Video resource both show the cost
    expected = {"estimated_usd": 2.0, "settled_usd": 0.0}
    assert eventbus.job_event_detail(job)["cost"] == expected
    assert callbacks.video_data(job)["cost"] == expected


# --- the ledgers on DynamoDB -----------------------------------------------------------------


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "JOBS_TABLE": JOBS_TABLE,
        "CONTROL_TABLE": CONTROL_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    aws.reset_clients()
    with mock_aws():
        create_table("JobsTable", JOBS_TABLE)
        create_table("ControlTable", CONTROL_TABLE)
        # A cancel takes its job out of the slot line (the conftest's SLOT_LINE_TABLE).
        create_table("SlotLineTable", get_settings().slot_line_table)
        yield
    aws.reset_clients()


def charges(day_limit: int | None = None, month_limit: int | None = None) -> list[Charge]:
    return [Charge("day", DAY, day_limit), Charge("month", MONTH, month_limit)]


def job_number(n: int, status: JobStatus = JobStatus.QUEUED, **changes: Any) -> Job:
    return make_job(status, job_id=f"video_{n:032x}", cost_estimated_micros=400_000, **changes)


def stored(job_id: str) -> bool:
    item = boto3.client("dynamodb").get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": job_id}})
    return "Item" in item


@pytest.mark.usefixtures("tables")
def test_reservations_fill_a_budget_exactly_and_a_refused_job_is_not_stored() -> None:
    # Given a $1.00 daily budget and $0.40 jobs
    # When three are created
    for n in (1, 2):
        budgets.create_reserving(job_number(n), 400_000, charges(day_limit=1_000_000))
    with pytest.raises(OverBudgetError) as caught:
        budgets.create_reserving(job_number(3), 400_000, charges(day_limit=1_000_000))
    # Then two fit, the third is refused naming the day and what was committed
    assert (caught.value.period, caught.value.committed_micros) == ("day", 800_000)
    # And the refused job was not stored, and neither ledger counts it
    assert stored(job_number(1).job_id) and not stored(job_number(3).job_id)
    for period, key in (("day", DAY), ("month", MONTH)):
        ledger = budgets.get_ledger("acme", period, key)  # type: ignore[arg-type]
        assert (ledger.committed_micros, ledger.reserved_micros, ledger.jobs) == (
            800_000,
            800_000,
            2,
        )


@pytest.mark.usefixtures("tables")
def test_a_full_month_refuses_without_touching_the_day() -> None:
    # Given a $0.90 monthly budget, no daily one, and two $0.40 jobs reserved
    for n in (1, 2):
        budgets.create_reserving(job_number(n), 400_000, charges(month_limit=900_000))
    # When a third is created, then it is refused naming the month
    with pytest.raises(OverBudgetError) as caught:
        budgets.create_reserving(job_number(3), 400_000, charges(month_limit=900_000))
    assert caught.value.period == "month"
    # And the day ledger was left as it was: both updates are one transaction
    assert budgets.get_ledger("acme", "day", DAY).committed_micros == 800_000


@pytest.mark.usefixtures("tables")
def test_a_job_dearer_than_the_whole_budget_is_refused_at_once() -> None:
    with pytest.raises(OverBudgetError) as caught:
        budgets.create_reserving(job_number(1), 400_000, charges(day_limit=300_000))
    assert caught.value.period == "day"
    assert not stored(job_number(1).job_id)


@pytest.mark.usefixtures("tables")
def test_the_same_job_id_cannot_be_stored_twice() -> None:
    budgets.create_reserving(job_number(1), 400_000, charges())
    with pytest.raises(StaleTransitionError):
        budgets.create_reserving(job_number(1), 400_000, charges())
    assert budgets.get_ledger("acme", "day", DAY).jobs == 1


@pytest.mark.usefixtures("tables")
def test_settling_moves_the_reservation_once_and_refunds_exactly() -> None:
    # Given two $0.40 jobs reserved on a $1.00 day
    for n in (1, 2):
        budgets.create_reserving(job_number(n), 400_000, charges(day_limit=1_000_000))
    # When one completes and the other fails, each settled twice
    completed = job_number(1, JobStatus.COMPLETED)
    failed = job_number(2, JobStatus.FAILED)
    boto3.client("dynamodb").update_item(
        TableName=JOBS_TABLE,
        Key={"job_id": {"S": completed.job_id}},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": {"S": "completed"}},
    )
    boto3.client("dynamodb").update_item(
        TableName=JOBS_TABLE,
        Key={"job_id": {"S": failed.job_id}},
        UpdateExpression="SET #s = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": "failed"}},
    )
    first = budgets.settle(completed, 400_000, 400_000, charges())
    second = budgets.settle(failed, 400_000, 0, charges())
    repeats = [
        budgets.settle(completed, 400_000, 400_000, charges()),
        budgets.settle(failed, 400_000, 0, charges()),
    ]
    # Then each settled once: the completed one is spent, the failed one refunded to the cent
    assert first is not None and first.cost_settled_micros == 400_000
    assert second is not None and second.cost_settled_micros == 0
    assert repeats == [None, None]
    day = budgets.get_ledger("acme", "day", DAY)
    assert (day.reserved_micros, day.spent_micros, day.committed_micros) == (0, 400_000, 400_000)
    # And the settled cost is on the stored job
    item = boto3.client("dynamodb").get_item(
        TableName=JOBS_TABLE, Key={"job_id": {"S": completed.job_id}}
    )["Item"]
    assert item["cost_settled_micros"] == {"N": "400000"}


@pytest.mark.usefixtures("tables")
def test_a_running_job_is_not_settled() -> None:
    budgets.create_reserving(job_number(1), 400_000, charges())
    assert budgets.settle(job_number(1), 400_000, 0, charges()) is None
    assert budgets.get_ledger("acme", "day", DAY).reserved_micros == 400_000


@pytest.mark.usefixtures("tables")
def test_a_batch_that_cannot_fit_is_refused_before_any_of_it_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a tenant with a $1.00 daily budget, $0.40 of it already reserved
    tenant = tenants.Tenant(tenant_id="acme", created_at=NOW, daily_budget_micros=1_000_000)
    monkeypatch.setattr(tenants, "get_tenant", lambda tenant_id: tenant)
    budgets.create_reserving(job_number(1), 400_000, charges(day_limit=1_000_000))
    one = job_number(2).request
    # Then one more $0.40 video fits, two do not, and the refusal names the daily budget
    costs.ensure_affordable("acme", [one], NOW)
    with pytest.raises(BudgetExceededError) as caught:
        costs.ensure_affordable("acme", [one, one], NOW)
    assert caught.value.budget == "daily"
    assert "costs $0.80 and $0.60 of the $1.00 daily budget is left" in caught.value.message
    # And checking reserved nothing
    assert budgets.get_ledger("acme", "day", DAY).committed_micros == 400_000


def test_periods_are_utc_days_and_months() -> None:
    # 2027-01-31T23:59:59Z and one second later
    assert budgets.period_keys(1_801_439_999) == {"day": "2027-01-31", "month": "2027-01"}
    assert budgets.period_keys(1_801_440_000) == {"day": "2027-02-01", "month": "2027-02"}


# --- usage -----------------------------------------------------------------------------------


TODAY = datetime.date(2027, 1, 15)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, ("2027-01-01", "2027-01-15")),
        ("2026-12-20", None, ("2026-12-20", "2027-01-15")),
        (None, "2026-12-24", ("2026-12-01", "2026-12-24")),
        ("2024-01-01", "2024-12-31", ("2024-01-01", "2024-12-31")),
    ],
    ids=["this-month", "start-only", "end-only", "leap-year"],
)
def test_usage_ranges_default_to_this_month_so_far(
    start: str | None, end: str | None, expected: tuple[str, str]
) -> None:
    query = UsageQuery.model_validate({"start": start, "end": end})
    days = usage.date_range(query, TODAY)
    assert tuple(day.isoformat() for day in days) == expected


@pytest.mark.parametrize(
    ("start", "end", "param"),
    [("2027-01-16", None, "start"), ("2025-01-01", "2026-01-02", "end")],
    ids=["start-after-end", "367-days"],
)
def test_usage_ranges_backwards_or_too_long_are_refused(
    start: str, end: str | None, param: str
) -> None:
    query = UsageQuery.model_validate({"start": start, "end": end})
    with pytest.raises(InvalidRequestError) as caught:
        usage.date_range(query, TODAY)
    assert caught.value.param == param


def test_usage_adds_up_the_jobs_by_day_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given jobs over two days and two models, one still running and one just ended
    day_two = NOW + 86_400
    found = [
        make_job(
            JobStatus.COMPLETED,
            job_id=f"video_{1:032x}",
            cost_estimated_micros=400_000,
            cost_settled_micros=400_000,
        ),
        make_job(JobStatus.FAILED, job_id=f"video_{2:032x}", cost_estimated_micros=400_000),
        make_job(JobStatus.IN_PROGRESS, job_id=f"video_{3:032x}", cost_estimated_micros=400_000),
        make_job(
            JobStatus.COMPLETED,
            job_id=f"video_{4:032x}",
            model="sora-2-pro",
            size="1792x1024",
            seconds="12",
            cost_estimated_micros=6_000_000,
            cost_settled_micros=6_000_000,
        ).with_changes(created_at=day_two),
    ]
    asked: list[tuple[str, int, int]] = []

    def created_between(tenant_id: str, start: int, end: int) -> Iterator[Job]:
        asked.append((tenant_id, start, end))
        return iter(found)

    monkeypatch.setattr(jobs_dal, "created_between", created_between)
    unlimited = BudgetStatus(
        period="-", limit_usd=None, spent_usd=0, reserved_usd=0, remaining_usd=None
    )
    budgets_now = UsageBudgets(daily=unlimited, monthly=unlimited)
    monkeypatch.setattr(costs, "budget_status", lambda tenant_id: budgets_now)

    # When the usage of 2027-01-15..16 is computed
    query = UsageQuery.model_validate({"start": "2027-01-15", "end": "2027-01-16"})
    report = usage.usage_report("acme", query, today=TODAY)

    # Then the jobs were read for exactly those two UTC days
    assert asked == [("acme", 1_799_971_200, 1_800_144_000)]
    # And each day and model has its own line; the failed job counts at $0, the running one
    # as pending, and the totals are the sums
    lines = {(line.day.isoformat(), line.model): line for line in report.data}
    first = lines[("2027-01-15", "sora-2")]
    assert (first.jobs, first.completed, first.failed, first.running) == (3, 1, 1, 1)
    assert (first.seconds, first.cost_usd, first.pending_usd) == (4, 0.4, 0.4)
    second = lines[("2027-01-16", "sora-2-pro")]
    assert (second.jobs, second.seconds, second.cost_usd) == (1, 12, 6.0)
    totals = report.totals
    assert (totals.jobs, totals.seconds, totals.cost_usd, totals.pending_usd) == (4, 16, 6.4, 0.4)


# --- cancelled jobs on the ledgers -----------------------------------------------------------


class _Provider:
    def delete(self, video_id: str) -> None:
        """The provider's copy is removed; it was billed all the same."""


@pytest.fixture
def cancelling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real cancel on moto tables, with the workflow, events and batch count stubbed."""
    from videojobs.adapters import workflow
    from videojobs.logic import cancel_job, provider_access

    monkeypatch.setattr(workflow, "stop", lambda job_id, cause: True)
    monkeypatch.setattr(eventbus, "publish_job_event", lambda job, event_type: None)
    monkeypatch.setattr(cancel_job, "on_job_terminal", lambda job: None)
    monkeypatch.setattr(provider_access, "get_provider", lambda **_: _Provider())
    monkeypatch.setattr(tenants, "get_tenant", lambda tenant_id: None)
    monkeypatch.setattr(
        jobs_dal, "created_between", lambda tenant_id, start, end: iter([jobs_dal.get(JOB_1)])
    )


JOB_1 = f"video_{1:032x}"


@pytest.mark.usefixtures("tables", "cancelling")
@pytest.mark.parametrize("bill_failed", ["false", "true"])
def test_a_job_cancelled_after_the_provider_accepted_it_is_spent_at_its_estimate(
    monkeypatch: pytest.MonkeyPatch, bill_failed: str
) -> None:
    from videojobs.logic.cancel_job import cancel_job

    # Given a $0.40 job reserved and accepted by the provider, whatever BillFailedJobs says
    monkeypatch.setenv("BILL_FAILED_JOBS", bill_failed)
    get_settings.cache_clear()
    budgets.create_reserving(job_number(1), 400_000, charges())
    jobs_dal.record_submission(JOB_1, "video_p", "in_progress")
    # When its owner cancels it
    cancelled = cancel_job("acme", JOB_1)
    # Then it settles at its estimate: the provider bills the video it started
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.cost_settled_micros == 400_000
    day = budgets.get_ledger("acme", "day", DAY)
    assert (day.reserved_micros, day.spent_micros) == (0, 400_000)
    # And the usage report shows it as spent, not pending
    report = usage.usage_report("acme", UsageQuery(), today=TODAY)
    assert (report.totals.cancelled, report.totals.cost_usd, report.totals.pending_usd) == (
        1,
        0.4,
        0.0,
    )
    assert costs.budget_status("acme", now=NOW).daily.spent_usd == 0.4


@pytest.mark.usefixtures("tables", "cancelling")
def test_a_job_cancelled_before_submission_releases_its_reservation() -> None:
    from videojobs.logic.cancel_job import cancel_job

    # Given a $0.40 job reserved and still waiting for a slot
    budgets.create_reserving(job_number(1), 400_000, charges())
    # When its owner cancels it
    cancelled = cancel_job("acme", JOB_1)
    # Then it costs nothing and the whole reservation is back
    assert cancelled.cost_settled_micros == 0
    day = budgets.get_ledger("acme", "day", DAY)
    assert (day.reserved_micros, day.spent_micros, day.committed_micros) == (0, 0, 0)
    report = usage.usage_report("acme", UsageQuery(), today=TODAY)
    assert (report.totals.cancelled, report.totals.cost_usd) == (1, 0.0)
