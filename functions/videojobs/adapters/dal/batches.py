"""The batches table, and reading the jobs of a batch.

Counting finished jobs is the part that must survive duplicates: the finalize, fail, reaper
and cancel paths may each report the same job more than once (Step Functions retries, the
reaper racing a normal finish). Every write here is conditional so that a job is counted
once and a batch is completed once, whatever the order and number of reports.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.adapters.dal import jobs as jobs_dal
from videojobs.adapters.dal.dynamo import conditional_failed, plain
from videojobs.models.batches import Batch
from videojobs.models.errors import BatchNotFoundError, JobNotFoundError, StaleTransitionError
from videojobs.models.intake import IntakeBatch, IntakeSource, PlanLine
from videojobs.models.job import TERMINAL, Job, JobStatus
from videojobs.settings import get_settings

# BatchGetItem takes at most 100 keys per call.
_BATCH_GET_MAX = 100
_UNPROCESSED_RETRIES = 8


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().batches_table)


def _count_attribute(status: JobStatus) -> str:
    return f"count_{status.value}"


def _int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    return int(value) if isinstance(value, Decimal | int) else default


def to_item(batch: Batch) -> dict[str, Any]:
    """The stored item for a batch (the ``finished`` set is absent until a job finishes)."""
    item: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "tenant_id": batch.tenant_id,
        "created_at": batch.created_at,
        "total": batch.total,
        "job_ids": list(batch.job_ids),
        "metadata": dict(batch.metadata),
        "event_published": batch.event_published,
    }
    for status in TERMINAL:
        item[_count_attribute(status)] = batch.terminal_counts.get(status.value, 0)
    if batch.finished:
        item["finished"] = set(batch.finished)
    if batch.callback_url is not None:
        item["callback_url"] = batch.callback_url
    if batch.completed_at is not None:
        item["completed_at"] = batch.completed_at
    if isinstance(batch, IntakeBatch):
        item["source"] = _source_item(batch.source)
    return item


def _source_item(source: IntakeSource) -> dict[str, Any]:
    return source.model_dump(mode="json", exclude_none=True)


def from_item(item: Mapping[str, Any]) -> Batch:
    """The batch for a stored item (an :class:`IntakeBatch` when it came from a file)."""
    fields: dict[str, Any] = dict(
        batch_id=str(item["batch_id"]),
        tenant_id=str(item["tenant_id"]),
        created_at=_int(item.get("created_at")),
        total=_int(item.get("total")),
        job_ids=[str(j) for j in item.get("job_ids", [])],
        finished=frozenset(str(j) for j in item.get("finished", set())),
        terminal_counts={s.value: _int(item.get(_count_attribute(s))) for s in TERMINAL},
        metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
        callback_url=item.get("callback_url"),
        completed_at=_int(item["completed_at"]) if "completed_at" in item else None,
        event_published=bool(item.get("event_published", False)),
    )
    if "source" in item:
        return IntakeBatch(**fields, source=IntakeSource.model_validate(plain(item["source"])))
    return Batch(**fields)


def create(batch: Batch) -> Batch:
    """Store a new batch; a second create with the same id is refused."""
    try:
        _table().put_item(Item=to_item(batch), ConditionExpression="attribute_not_exists(batch_id)")
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"batch {batch.batch_id} already exists") from exc
        raise
    return batch


def get(batch_id: str) -> Batch:
    """The batch, read consistently; :class:`BatchNotFoundError` when there is none."""
    item = _table().get_item(Key={"batch_id": batch_id}, ConsistentRead=True).get("Item")
    if item is None:
        raise BatchNotFoundError(batch_id)
    return from_item(item)


def get_for_tenant(tenant_id: str, batch_id: str) -> Batch:
    """The batch if it belongs to ``tenant_id``; another tenant's batch is not found (404)."""
    batch = get(batch_id)
    if batch.tenant_id != tenant_id:
        raise BatchNotFoundError(batch_id)
    return batch


def set_jobs(batch_id: str, job_ids: Sequence[str], *, total: int | None = None) -> Batch:
    """Record the batch's jobs in submission order (and, when sealing, the real total)."""
    expression = "SET job_ids = :ids"
    values: dict[str, Any] = {":ids": list(job_ids)}
    if total is not None:
        expression += ", #total = :total"
        values[":total"] = total
    update: dict[str, Any] = {
        "Key": {"batch_id": batch_id},
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(batch_id)",
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if total is not None:
        update["ExpressionAttributeNames"] = {"#total": "total"}
    return from_item(_table().update_item(**update)["Attributes"])


def delete(batch_id: str) -> None:
    """Remove a batch that never got a job (its creation failed before the first one)."""
    _table().delete_item(Key={"batch_id": batch_id})


def record_job_finished(tenant_id: str, batch_id: str, job_id: str, status: JobStatus) -> Batch:
    """Count ``job_id`` as finished with ``status``, once; returns the batch as stored.

    The job id goes into the ``finished`` string set in the same atomic update that bumps
    the status counter, conditional on it not being there yet: a repeated report changes
    nothing. :class:`BatchNotFoundError` when the batch does not exist (or is another
    tenant's).
    """
    try:
        resp = _table().update_item(
            Key={"batch_id": batch_id},
            UpdateExpression="ADD finished :job, #count :one",
            ConditionExpression=(
                "attribute_exists(batch_id) AND tenant_id = :tenant"
                " AND NOT contains(finished, :job_id)"
            ),
            ExpressionAttributeNames={"#count": _count_attribute(status)},
            ExpressionAttributeValues={
                ":job": {job_id},
                ":job_id": job_id,
                ":one": 1,
                ":tenant": tenant_id,
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise
        batch = get(batch_id)
        if batch.tenant_id != tenant_id:
            raise BatchNotFoundError(batch_id) from exc
        return batch
    return from_item(resp["Attributes"])


def claim_completion(batch_id: str) -> Batch | None:
    """Mark the batch completed, once: the caller that gets the batch back publishes.

    ``None`` when it was already completed (another report won the race).
    """
    try:
        resp = _table().update_item(
            Key={"batch_id": batch_id},
            UpdateExpression="SET completed_at = :now",
            ConditionExpression="attribute_exists(batch_id) AND attribute_not_exists(completed_at)",
            ExpressionAttributeValues={":now": int(time.time())},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return None
        raise
    return from_item(resp["Attributes"])


def record_intake_progress(batch_id: str, line: PlanLine) -> bool:
    """Note that an intake line has its job; False when the batch was sealed meanwhile."""
    try:
        _table().update_item(
            Key={"batch_id": batch_id},
            UpdateExpression=(
                "SET #source.#progress = list_append(if_not_exists(#source.#progress, :none),"
                " :line)"
            ),
            ConditionExpression="attribute_exists(batch_id) AND #source.sealed = :no",
            ExpressionAttributeNames={"#source": "source", "#progress": "progress"},
            ExpressionAttributeValues={
                ":none": [],
                ":line": [line.model_dump(mode="json", exclude_none=True)],
                ":no": False,
            },
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def seal_intake(batch_id: str, job_ids: Sequence[str], lines: Sequence[PlanLine]) -> Batch:
    """Record an intake batch's jobs and every line's outcome, and its real total; once.

    Until sealed, an intake batch cannot complete (its total counts lines not yet placed). A
    second seal (a redelivered event racing the first) changes nothing and gets the batch
    as the first one left it.
    """
    try:
        resp = _table().update_item(
            Key={"batch_id": batch_id},
            UpdateExpression=(
                "SET job_ids = :ids, #total = :total,"
                " #source.sealed = :yes, #source.#lines = :lines REMOVE #source.#progress"
            ),
            ConditionExpression="attribute_exists(batch_id) AND #source.sealed = :no",
            ExpressionAttributeNames={
                "#total": "total",
                "#source": "source",
                "#lines": "lines",
                "#progress": "progress",
            },
            ExpressionAttributeValues={
                ":ids": list(job_ids),
                ":total": len(job_ids),
                ":yes": True,
                ":no": False,
                ":lines": [line.model_dump(mode="json", exclude_none=True) for line in lines],
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return get(batch_id)
        raise
    return from_item(resp["Attributes"])


def mark_event_published(batch_id: str) -> None:
    """Note that ``batch.completed`` went out, so a retried report does not send it again."""
    _table().update_item(
        Key={"batch_id": batch_id},
        UpdateExpression="SET event_published = :yes",
        ConditionExpression="attribute_exists(batch_id)",
        ExpressionAttributeValues={":yes": True},
    )


def load_jobs(job_ids: Sequence[str]) -> list[Job]:
    """The jobs with these ids that exist, in the order given (BatchGetItem, consistent)."""
    wanted = list(dict.fromkeys(job_ids))
    table_name = get_settings().jobs_table
    found: dict[str, Job] = {}
    for start in range(0, len(wanted), _BATCH_GET_MAX):
        keys = [{"job_id": j} for j in wanted[start : start + _BATCH_GET_MAX]]
        for attempt in range(_UNPROCESSED_RETRIES):
            resp = aws.dynamodb().batch_get_item(
                RequestItems={table_name: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in resp.get("Responses", {}).get(table_name, []):
                job = jobs_dal.from_item(item)
                found[job.job_id] = job
            keys = resp.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
            if not keys:
                break
            # DynamoDB hands back what it could not read under load; back off and ask again.
            time.sleep(min(0.05 * 2**attempt, 1.0))
        for key in keys:
            # Still unread after backing off: one consistent GetItem each (the SDK retries).
            try:
                job = jobs_dal.get(str(key["job_id"]))
            except JobNotFoundError:
                continue
            found[job.job_id] = job
    return [found[j] for j in wanted if j in found]
