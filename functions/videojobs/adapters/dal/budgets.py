"""Budget ledgers in the control table: what each tenant has committed per UTC day and month.

One item per tenant and period, key ``budget#<tenant>#day#YYYY-MM-DD`` or
``budget#<tenant>#month#YYYY-MM``, with integer micro-dollar counters:

* ``reserved_micros``: estimates of jobs still running;
* ``spent_micros``: settled costs of jobs that ended;
* ``committed_micros`` = reserved + spent: what a limit is checked against;
* ``jobs``: jobs charged to the period.

A job is stored in the same transaction that reserves its estimate on both of its periods,
each update conditional on staying within the period's limit: a refused submit stores
nothing, and concurrent submits cannot together pass a limit. Settling a job is one
transaction too, conditional on the job not being settled yet, so however often the end
paths run, each job moves its reservation into spend (or back out) exactly once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.adapters.dal.jobs import to_item
from videojobs.models.errors import StaleTransitionError
from videojobs.models.job import TERMINAL, Job
from videojobs.settings import get_settings

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")

# Ledgers outlive their period by this long (TTL on ``expires_at``), for operators' questions.
KEEP_AFTER_PERIOD = timedelta(days=400)
# Real DynamoDB cancels a transaction that collides with another on the same item
# (TransactionConflict); those are retried. moto never reports them.
_CONFLICT_ATTEMPTS = 8

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Charge:
    """One ledger a job's cost goes to, with the limit it must stay within (None: none)."""

    period: Period
    key: str
    """``YYYY-MM-DD`` for a day, ``YYYY-MM`` for a month (UTC)."""
    limit_micros: int | None = None


@dataclass(frozen=True)
class Ledger:
    """One tenant's counters for one period."""

    period: Period
    key: str
    reserved_micros: int = 0
    spent_micros: int = 0
    committed_micros: int = 0
    jobs: int = 0


class OverBudgetError(Exception):
    """A reservation was refused: ``period``'s ledger had ``committed_micros`` already."""

    def __init__(self, period: Period, key: str, committed_micros: int | None) -> None:
        super().__init__(f"{period} budget {key} exceeded")
        self.period = period
        self.key = key
        self.committed_micros = committed_micros


def period_keys(epoch_seconds: int) -> dict[Period, str]:
    """The UTC day and month an instant belongs to."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return {"day": moment.strftime("%Y-%m-%d"), "month": moment.strftime("%Y-%m")}


def ledger_pk(tenant_id: str, period: Period, key: str) -> str:
    return f"budget#{tenant_id}#{period}#{key}"


def _period_end(period: Period, key: str) -> datetime:
    if period == "day":
        start = date.fromisoformat(key)
        return datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    year, month = (int(part) for part in key.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _expires_at(period: Period, key: str) -> int:
    return int((_period_end(period, key) + KEEP_AFTER_PERIOD).timestamp())


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _ledger_update(
    tenant_id: str, charge: Charge, *, reserved: int, spent: int, jobs: int, check: int | None
) -> dict[str, Any]:
    """A transaction item adding to one ledger; with ``check``, only if it stays in limit."""
    settings = get_settings()
    values: dict[str, Any] = {
        ":reserved": reserved,
        ":spent": spent,
        ":committed": reserved + spent,
        ":jobs": jobs,
        ":expires": _expires_at(charge.period, charge.key),
    }
    update: dict[str, Any] = {
        "TableName": settings.control_table,
        "Key": {"pk": {"S": ledger_pk(tenant_id, charge.period, charge.key)}},
        "UpdateExpression": (
            "SET expires_at = :expires ADD reserved_micros :reserved, spent_micros :spent, "
            "committed_micros :committed, jobs :jobs"
        ),
    }
    if check is not None:
        # committed + cost <= limit, written as committed <= limit - cost: conditions
        # cannot add. A ledger not written yet has committed nothing.
        update["ConditionExpression"] = (
            "attribute_not_exists(committed_micros) OR committed_micros <= :room"
        )
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        values[":room"] = check
    update["ExpressionAttributeValues"] = _values(values)
    return {"Update": update}


def _reasons(exc: ClientError) -> list[dict[str, Any]]:
    return list(exc.response.get("CancellationReasons") or [])


def _is_conflict(exc: ClientError) -> bool:
    code = exc.response["Error"]["Code"]
    if code == "TransactionConflictException":
        return True
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "TransactionConflict" for reason in _reasons(exc)
    )


def _transact(items: list[dict[str, Any]]) -> None:
    """Run a write transaction, retrying the ones cancelled by a concurrent one."""
    for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
        try:
            aws.dynamodb_client().transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            if not _is_conflict(exc) or attempt == _CONFLICT_ATTEMPTS:
                raise
        time.sleep(random.uniform(0, 0.02 * 2**attempt))


def _committed(reason: Mapping[str, Any]) -> int | None:
    item = reason.get("Item") or {}
    if "committed_micros" not in item:
        return None
    return int(_deserializer.deserialize(item["committed_micros"]))


def create_reserving(job: Job, amount_micros: int, charges: Sequence[Charge]) -> Job:
    """Store a new job and reserve ``amount_micros`` on each of ``charges``, all or nothing.

    Raises :class:`OverBudgetError` (for the first ledger that is full) when a limit would be
    passed, :class:`StaleTransitionError` when the job id exists already.
    """
    for charge in charges:
        if charge.limit_micros is not None and amount_micros > charge.limit_micros:
            raise OverBudgetError(charge.period, charge.key, None)
    put = {
        "Put": {
            "TableName": get_settings().jobs_table,
            "Item": _values(to_item(job)),
            "ConditionExpression": "attribute_not_exists(job_id)",
        }
    }
    reserve = [
        _ledger_update(
            job.tenant_id,
            charge,
            reserved=amount_micros,
            spent=0,
            jobs=1,
            check=None if charge.limit_micros is None else charge.limit_micros - amount_micros,
        )
        for charge in charges
    ]
    try:
        _transact([put, *reserve])
    except ClientError as exc:
        reasons = _reasons(exc)
        if exc.response["Error"]["Code"] != "TransactionCanceledException" or not reasons:
            raise
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            raise StaleTransitionError(f"job {job.job_id} already exists") from exc
        for charge, reason in zip(charges, reasons[1:], strict=False):
            if reason.get("Code") == "ConditionalCheckFailed":
                raise OverBudgetError(charge.period, charge.key, _committed(reason)) from exc
        raise
    return job


def settle(
    job: Job, reserved_micros: int, settled_micros: int, charges: Sequence[Charge]
) -> Job | None:
    """Record ``settled_micros`` as the terminal job's cost, once, and move its reservation.

    On each of ``charges`` the job's ``reserved_micros`` leave the reservation and
    ``settled_micros`` become spend, in the same transaction that marks the job settled.
    Returns the job as settled, or None when it was settled already (or is not terminal).
    """
    statuses = {f":s_{status.value}": status.value for status in TERMINAL}
    mark = {
        "Update": {
            "TableName": get_settings().jobs_table,
            "Key": {"job_id": {"S": job.job_id}},
            "UpdateExpression": (
                "SET cost_settled_micros = :settled, "
                "#version = if_not_exists(#version, :zero) + :one"
            ),
            # Once per job: a repeat (or a job not ended yet) changes nothing anywhere.
            "ConditionExpression": (
                "attribute_exists(job_id) AND attribute_not_exists(cost_settled_micros) "
                f"AND #status IN ({', '.join(statuses)})"
            ),
            "ExpressionAttributeNames": {"#version": "version", "#status": "status"},
            "ExpressionAttributeValues": _values(
                {":settled": settled_micros, ":zero": 0, ":one": 1, **statuses}
            ),
        }
    }
    move = [
        _ledger_update(
            job.tenant_id,
            charge,
            reserved=-reserved_micros,
            spent=settled_micros,
            jobs=0,
            check=None,
        )
        for charge in charges
    ]
    try:
        _transact([mark, *move])
    except ClientError as exc:
        reasons = _reasons(exc)
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return None
        raise
    return job.with_changes(cost_settled_micros=settled_micros, version=job.version + 1)


def _ledger(period: Period, key: str, item: Mapping[str, Any] | None) -> Ledger:
    found = item or {}
    return Ledger(
        period=period,
        key=key,
        reserved_micros=int(found.get("reserved_micros", 0)),
        spent_micros=int(found.get("spent_micros", 0)),
        committed_micros=int(found.get("committed_micros", 0)),
        jobs=int(found.get("jobs", 0)),
    )


def get_ledger(tenant_id: str, period: Period, key: str) -> Ledger:
    """One of the tenant's ledgers, read consistently (zeros when nothing was charged)."""
    table = aws.dynamodb().Table(get_settings().control_table)
    item = table.get_item(Key={"pk": ledger_pk(tenant_id, period, key)}, ConsistentRead=True).get(
        "Item"
    )
    return _ledger(period, key, item)
