"""The jobs table: the only module that reads or writes job items.

Every write is conditional, so duplicated or reordered events (webhooks arrive unordered and
repeat; Step Functions retries Lambda tasks) can never move a job backward: a write that
would is refused by DynamoDB and reported as :class:`StaleTransitionError` or ignored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.adapters.dal.dynamo import conditional_failed, plain
from videojobs.models.errors import JobNotFoundError, StaleTransitionError
from videojobs.models.job import (
    TERMINAL,
    CallbackAttempt,
    Job,
    JobError,
    JobStatus,
    StoredAsset,
    VideoRequest,
)
from videojobs.models.provider_types import ContentVariant
from videojobs.settings import get_settings

PROVIDER_ID_INDEX = "by-provider-video-id"
TENANT_INDEX = "by-tenant"
WAITING_INDEX = "by-waiting"
# The sparse ``waiting`` attribute: present (= this value) only while a queued job has not
# reached its submit step, i.e. is still waiting for a concurrency slot. It keys the
# ``by-waiting`` index, so the index holds exactly the jobs in the queue.
WAITING_FOR_SLOT = "slot"

# The jobs table's TTL attribute: set when a job is deleted, so that its prompt, metadata and
# callback URL are purged once the retention period has passed. TTL deletes late (up to days
# after), so every read treats an item past its ``purge_at`` as gone.
PURGE_AT = "purge_at"

# Provider statuses in the order they can happen; a write only ever moves rightwards.
PROVIDER_RANK = {"queued": 0, "in_progress": 1, "completed": 2, "failed": 2}


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().jobs_table)


def _now() -> int:
    return int(time.time())


def to_item(job: Job) -> dict[str, Any]:
    """The stored item for a job (sparse: absent values are not written)."""
    item: dict[str, Any] = {
        "job_id": job.job_id,
        "tenant_id": job.tenant_id,
        "status": job.status.value,
        "version": job.version,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        # Listing key: creation time first, id as a tie-breaker so the order is total.
        "created_key": f"{job.created_at:012d}#{job.job_id}",
        "request": job.request.model_dump(exclude_none=True),
        "progress": job.progress,
        "metadata": dict(job.metadata),
    }
    optional = {
        "provider_video_id": job.provider_video_id,
        "provider_status": job.provider_status,
        "task_token": job.task_token,
        "submit_attempted_at": job.submit_attempted_at,
        "throttled_until": job.throttled_until,
        "completed_at": job.completed_at,
        "provider_expires_at": job.provider_expires_at,
        "execution_arn": job.execution_arn,
        "callback_url": job.callback_url,
        "batch_id": job.batch_id,
        "deleted_at": job.deleted_at,
        "cost_estimated_micros": job.cost_estimated_micros,
        "cost_settled_micros": job.cost_settled_micros,
        "correlation_id": job.correlation_id,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    if (
        job.status is JobStatus.QUEUED
        and job.submit_attempted_at is None
        and job.provider_video_id is None
    ):
        item["waiting"] = WAITING_FOR_SLOT
    if job.provider_status is not None:
        item["provider_rank"] = PROVIDER_RANK[job.provider_status]
    if job.error is not None:
        item["error"] = job.error.model_dump()
    if job.provider_error is not None:
        item["provider_error"] = job.provider_error.model_dump()
    if job.assets:
        item["assets"] = {k: v.model_dump() for k, v in job.assets.items()}
    if job.callback_attempts:
        item["callback_attempts"] = [a.model_dump(exclude_none=True) for a in job.callback_attempts]
    return item


def from_item(item: Mapping[str, Any]) -> Job:
    """The job for a stored item."""
    data = plain(dict(item))
    return Job(
        job_id=data["job_id"],
        tenant_id=data["tenant_id"],
        status=JobStatus(data["status"]),
        version=data.get("version", 0),
        created_at=data["created_at"],
        updated_at=data.get("updated_at", data["created_at"]),
        request=VideoRequest.model_validate(data["request"]),
        progress=data.get("progress", 0),
        provider_video_id=data.get("provider_video_id"),
        provider_status=data.get("provider_status"),
        task_token=data.get("task_token"),
        submit_attempted_at=data.get("submit_attempted_at"),
        throttled_until=data.get("throttled_until"),
        completed_at=data.get("completed_at"),
        provider_expires_at=data.get("provider_expires_at"),
        error=JobError.model_validate(data["error"]) if "error" in data else None,
        provider_error=(
            JobError.model_validate(data["provider_error"]) if "provider_error" in data else None
        ),
        assets={k: StoredAsset.model_validate(v) for k, v in data.get("assets", {}).items()},
        metadata=data.get("metadata", {}),
        execution_arn=data.get("execution_arn"),
        callback_url=data.get("callback_url"),
        callback_attempts=[
            CallbackAttempt.model_validate(a) for a in data.get("callback_attempts", [])
        ],
        batch_id=data.get("batch_id"),
        deleted_at=data.get("deleted_at"),
        cost_estimated_micros=data.get("cost_estimated_micros"),
        cost_settled_micros=data.get("cost_settled_micros"),
        correlation_id=data.get("correlation_id"),
    )


def create(job: Job) -> Job:
    """Store a new job; a second create with the same id is refused."""
    try:
        _table().put_item(Item=to_item(job), ConditionExpression="attribute_not_exists(job_id)")
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"job {job.job_id} already exists") from exc
        raise
    return job


def _purged(item: Mapping[str, Any]) -> bool:
    """A deleted job past its retention: gone, even while DynamoDB has not removed it yet."""
    purge_at = item.get(PURGE_AT)
    return purge_at is not None and int(purge_at) <= _now()


def get(job_id: str) -> Job:
    """The job, read consistently; :class:`JobNotFoundError` when there is none (or it was
    deleted and its retention has passed)."""
    item = _table().get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    if item is None or _purged(item):
        raise JobNotFoundError(job_id)
    return from_item(item)


def get_for_tenant(tenant_id: str, job_id: str) -> Job:
    """The job if it belongs to ``tenant_id`` and was not deleted; otherwise not found.

    Another tenant's job is "not found" too, never "forbidden": ids reveal nothing.
    """
    job = get(job_id)
    if job.tenant_id != tenant_id or job.deleted_at is not None:
        raise JobNotFoundError(job_id)
    return job


# DynamoDB reads a filtered listing in pages of evaluated items and filters afterwards, so a
# filter that matches few of a tenant's many jobs would read all of them in one request. A
# request reads at most this many pages of at least LIST_PAGE_ITEMS items; the caller then
# gets what matched so far and a cursor to go on from.
LIST_MAX_PAGES = 4
LIST_PAGE_ITEMS = 50


@dataclass(frozen=True)
class JobPage:
    """One page of a listing: the jobs, whether more may follow, and where it stopped."""

    jobs: list[Job]
    has_more: bool
    last_id: str | None
    """The id to continue after: the last job of the page, or, when the page stopped at the
    read bound before it was full, the last job read (which may not match the filters)."""


def list_for_tenant(
    tenant_id: str,
    *,
    after: Job | None = None,
    limit: int = 20,
    descending: bool = True,
    status: JobStatus | None = None,
    batch_id: str | None = None,
    max_pages: int | None = LIST_MAX_PAGES,
) -> JobPage:
    """One page of a tenant's jobs (newest first by default) and whether more follow.

    ``after`` is the last job of the previous page (or the ``last_id`` of a page that stopped
    early). Deleted jobs never appear; filters are applied while paging. A page is full unless
    the listing has ended or ``max_pages`` DynamoDB pages were read first (None: no bound);
    then it holds fewer jobs, maybe none, with ``has_more`` and ``last_id`` to go on from.
    """
    key_condition = "tenant_id = :t"
    values: dict[str, Any] = {":t": tenant_id}
    names: dict[str, str] = {}
    filters = ["attribute_not_exists(deleted_at)"]
    if status is not None:
        filters.append("#status = :status")
        names["#status"] = "status"
        values[":status"] = status.value
    if batch_id is not None:
        filters.append("batch_id = :batch")
        values[":batch"] = batch_id
    query: dict[str, Any] = {
        "IndexName": TENANT_INDEX,
        "KeyConditionExpression": key_condition,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not descending,
    }
    if names:
        query["ExpressionAttributeNames"] = names
    if after is not None:
        query["ExclusiveStartKey"] = {
            "tenant_id": tenant_id,
            "created_key": f"{after.created_at:012d}#{after.job_id}",
            "job_id": after.job_id,
        }
    found: list[Job] = []
    pages = 0
    while True:
        query["Limit"] = max(limit + 1, LIST_PAGE_ITEMS)
        resp = _table().query(**query)
        pages += 1
        found.extend(from_item(item) for item in resp.get("Items", []))
        last = resp.get("LastEvaluatedKey")
        if len(found) > limit:
            page = found[:limit]
            return JobPage(jobs=page, has_more=True, last_id=page[-1].job_id)
        if last is None:
            return JobPage(jobs=found, has_more=False, last_id=found[-1].job_id if found else None)
        if max_pages is not None and pages >= max_pages:
            # Read enough for one request: hand back what matched and where to go on from.
            return JobPage(jobs=found, has_more=True, last_id=str(last["job_id"]))
        query["ExclusiveStartKey"] = last


def created_between(tenant_id: str, start: int, end: int) -> Iterator[Job]:
    """Every job of ``tenant_id`` created in ``[start, end)`` (epoch seconds), oldest first.

    Deleted jobs are included (what they cost was spent all the same) until they are purged.
    """
    # created_key is "<12-digit created_at>#<job id>": the bare start and end prefixes
    # bound it, the end one from below, so BETWEEN is the half-open interval.
    query: dict[str, Any] = {
        "IndexName": TENANT_INDEX,
        "KeyConditionExpression": "tenant_id = :t AND created_key BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {
            ":t": tenant_id,
            ":lo": f"{start:012d}",
            ":hi": f"{end:012d}",
        },
    }
    while True:
        resp = _table().query(**query)
        yield from (from_item(item) for item in resp.get("Items", []) if not _purged(item))
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return
        query["ExclusiveStartKey"] = last


def waiting_keys_up_to(created_key: str) -> list[str]:
    """The ``created_key`` of every job waiting for a slot, oldest first, up to and including
    ``created_key`` (one keys-only query, paged: its cost grows with the line, not the table)."""
    query: dict[str, Any] = {
        "IndexName": WAITING_INDEX,
        "KeyConditionExpression": "waiting = :w AND created_key <= :last",
        "ExpressionAttributeValues": {":w": WAITING_FOR_SLOT, ":last": created_key},
        "ProjectionExpression": "created_key",
    }
    keys: list[str] = []
    while True:
        resp = _table().query(**query)
        keys.extend(str(item["created_key"]) for item in resp.get("Items", []))
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return keys
        query["ExclusiveStartKey"] = last


def created_key(job: Job) -> str:
    """The listing key of a job: creation time first, id as a tie-breaker."""
    return f"{job.created_at:012d}#{job.job_id}"


def queue_position(job: Job) -> int | None:
    """The job's place among the jobs waiting for a slot (1 = oldest), or None if it is not
    waiting.

    Counts the waiting jobs created before it on the keys-only ``by-waiting`` index, so the
    cost grows with the position, not with the table.
    """
    item = (
        _table()
        .get_item(
            Key={"job_id": job.job_id},
            ProjectionExpression="waiting, created_key",
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item or item.get("waiting") != WAITING_FOR_SLOT:
        return None
    query: dict[str, Any] = {
        "IndexName": WAITING_INDEX,
        "KeyConditionExpression": "waiting = :w AND created_key < :mine",
        "ExpressionAttributeValues": {":w": WAITING_FOR_SLOT, ":mine": item["created_key"]},
        "Select": "COUNT",
    }
    ahead = 0
    while True:
        resp = _table().query(**query)
        ahead += int(resp.get("Count", 0))
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return ahead + 1
        query["ExclusiveStartKey"] = last


def find_by_provider_id(provider_video_id: str) -> Job | None:
    """The job that owns a provider video, if any (GSI, then a consistent read)."""
    resp = _table().query(
        IndexName=PROVIDER_ID_INDEX,
        KeyConditionExpression="provider_video_id = :v",
        ExpressionAttributeValues={":v": provider_video_id},
        Limit=1,
    )
    items = resp.get("Items", [])
    if not items:
        return None
    try:
        return get(str(items[0]["job_id"]))
    except JobNotFoundError:
        return None


def _update(
    job_id: str,
    sets: Mapping[str, Any],
    condition: str,
    values: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    removes: Iterable[str] = (),
) -> Job:
    """One conditional update that bumps ``version``; returns the job as written."""
    set_parts = [f"#f_{name} = :f_{name}" for name in sets]
    set_parts.append("#version = if_not_exists(#version, :zero) + :one")
    expression = "SET " + ", ".join(set_parts)
    remove_list = list(removes)
    if remove_list:
        expression += " REMOVE " + ", ".join(f"#r_{name}" for name in remove_list)
    attr_names = {f"#f_{name}": name for name in sets}
    attr_names.update({f"#r_{name}": name for name in remove_list})
    attr_names.update({"#version": "version", "#job_id": "job_id"})
    attr_names.update(names or {})
    attr_values: dict[str, Any] = {f":f_{name}": value for name, value in sets.items()}
    attr_values.update({":zero": 0, ":one": 1})
    attr_values.update(values or {})
    resp = _table().update_item(
        Key={"job_id": job_id},
        UpdateExpression=expression,
        ConditionExpression=f"attribute_exists(#job_id) AND ({condition})",
        ExpressionAttributeNames=attr_names,
        ExpressionAttributeValues=attr_values,
        ReturnValues="ALL_NEW",
    )
    return from_item(resp["Attributes"])


def _status_in(statuses: Iterable[JobStatus]) -> tuple[str, dict[str, str], dict[str, str]]:
    values = {f":s_{s.value}": s.value for s in statuses}
    return f"#status IN ({', '.join(values)})", {"#status": "status"}, values


def transition(
    job_id: str,
    to: JobStatus,
    *,
    allowed_from: Iterable[JobStatus],
    fields: Mapping[str, Any] | None = None,
    removes: Iterable[str] = (),
) -> Job:
    """Move a job to ``to`` if it is in one of ``allowed_from``.

    Raises :class:`StaleTransitionError` when the job had already moved elsewhere, so a
    duplicate finalize or a cancel racing a completion resolves to exactly one winner.
    """
    condition, names, values = _status_in(allowed_from)
    sets = {"status": to.value, "updated_at": _now(), **(fields or {})}
    if to in TERMINAL:
        # An ended job leaves the queue, whatever ended it.
        removes = [*removes, "waiting", "slot_token"]
    try:
        return _update(job_id, sets, condition, values, names, removes)
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(
                f"job {job_id} is no longer in a state that allows {to}"
            ) from exc
        raise


def mark_submit_attempt(job_id: str) -> Job:
    """Note that a provider create is about to be sent (only while the job is queued).

    The submit step runs once the job holds a slot, so the job leaves the queue here.
    """
    return transition(
        job_id,
        JobStatus.QUEUED,
        allowed_from=[JobStatus.QUEUED],
        fields={"submit_attempted_at": _now()},
        removes=["waiting"],
    )


def clear_submit_attempt(job_id: str) -> None:
    """Forget an attempt the provider definitely refused (nothing was created)."""
    condition, names, values = _status_in([JobStatus.QUEUED])
    try:
        _update(
            job_id,
            {"updated_at": _now()},
            f"{condition} AND attribute_not_exists(provider_video_id)",
            values,
            names,
            removes=["submit_attempted_at"],
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise


def record_throttle(job_id: str, until: int) -> None:
    """Note that the job's create is held back by the provider's rate until about ``until``
    (epoch seconds); only while the job is queued and not yet submitted."""
    condition, names, values = _status_in([JobStatus.QUEUED])
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET throttled_until = :until",
            ConditionExpression=f"{condition} AND attribute_not_exists(provider_video_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":until": until},
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise


def record_submission(job_id: str, provider_video_id: str, provider_status: str) -> Job:
    """Bind the provider's video to the job, once, and only while it is still queued.

    A cancel that landed first wins: the write is refused and the caller deletes the video.
    """
    condition, names, values = _status_in([JobStatus.QUEUED])
    sets: dict[str, Any] = {
        "provider_video_id": provider_video_id,
        "provider_status": provider_status,
        "provider_rank": PROVIDER_RANK[provider_status],
        "updated_at": _now(),
    }
    if provider_status == "in_progress":
        sets["status"] = JobStatus.IN_PROGRESS.value
    try:
        return _update(
            job_id,
            sets,
            f"{condition} AND attribute_not_exists(provider_video_id)",
            values,
            names,
            removes=["waiting", "throttled_until"],
        )
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"job {job_id} was not waiting for a submission") from exc
        raise


def record_provider_status(
    job_id: str,
    provider_status: str,
    *,
    progress: int | None = None,
    expires_at: int | None = None,
    error: JobError | None = None,
) -> Job:
    """Record what the provider says about the job's video, if it is news.

    News is a later provider status, or the same one with more progress. Anything else (a
    duplicate or late webhook, a poll that crossed a webhook) leaves the item untouched and
    returns the job as stored.
    """
    rank = PROVIDER_RANK[provider_status]
    terminal = {f":t_{s.value}": s.value for s in TERMINAL}
    sets: dict[str, Any] = {
        "provider_status": provider_status,
        "provider_rank": rank,
        "updated_at": _now(),
    }
    if progress is not None:
        sets["progress"] = progress
    if expires_at is not None:
        sets["provider_expires_at"] = expires_at
    if error is not None:
        sets["provider_error"] = error.model_dump()
    values: dict[str, Any] = {":rank": rank, ":progress": progress or 0, **terminal}
    condition = (
        f"NOT #status IN ({', '.join(terminal)}) AND (attribute_not_exists(provider_rank)"
        " OR provider_rank < :rank OR (provider_rank = :rank AND progress < :progress))"
    )
    names = {"#status": "status"}
    if provider_status != "queued":
        # queued -> in_progress is the one job-status change a provider update makes itself:
        # a video the provider finished (or failed) is still being finalized on our side.
        sets["status"] = JobStatus.IN_PROGRESS.value
    try:
        return _update(job_id, sets, condition, values, names)
    except ClientError as exc:
        if conditional_failed(exc):
            return get(job_id)
        raise


def claim_progress_check(job_id: str, min_interval: int) -> bool:
    """Take the right to ask the provider for this job's progress now.

    At most one caller wins per ``min_interval`` seconds, however many clients poll the job.
    """
    now = _now()
    condition, names, values = _status_in([JobStatus.QUEUED, JobStatus.IN_PROGRESS])
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET progress_checked_at = :now",
            ConditionExpression=(
                f"{condition} AND (attribute_not_exists(progress_checked_at)"
                " OR progress_checked_at <= :due)"
            ),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":now": now, ":due": now - min_interval},
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def mark_deleted(job_id: str) -> Job:
    """Hide a terminal job from its tenant for good (DELETE /v1/videos/{id}).

    The item is kept for ``deleted_job_retention_days`` (usage still counts it), then purged
    with its prompt, metadata and callback URL by the table's TTL on ``purge_at``.
    """
    condition, names, values = _status_in(TERMINAL)
    now = _now()
    purge_at = now + get_settings().deleted_job_retention_days * 86_400
    try:
        return _update(
            job_id,
            {"deleted_at": now, "updated_at": now, PURGE_AT: purge_at},
            condition,
            values,
            names,
            removes=["task_token"],
        )
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"job {job_id} is still running") from exc
        raise


def record_callback_attempt(job_id: str, attempt: CallbackAttempt) -> None:
    """Append a callback delivery attempt to the job (atomic: concurrent appends all land)."""
    _table().update_item(
        Key={"job_id": job_id},
        UpdateExpression=(
            "SET callback_attempts = list_append(if_not_exists(callback_attempts, :empty), :a)"
        ),
        ExpressionAttributeValues={":a": [attempt.model_dump(exclude_none=True)], ":empty": []},
    )


def store_task_token(job_id: str, task_token: str) -> Job:
    """Remember the token that wakes the job's workflow; refused once the job is terminal."""
    condition, names, values = _status_in([JobStatus.QUEUED, JobStatus.IN_PROGRESS])
    try:
        return _update(
            job_id, {"task_token": task_token, "updated_at": _now()}, condition, values, names
        )
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"job {job_id} is already finished") from exc
        raise


def store_slot_token(job_id: str, task_token: str) -> str:
    """Remember the token that wakes a job parked for a concurrency slot (``slot_token``);
    returns the job's ``created_key``, its place in the line. Refused unless still queued."""
    condition, names, values = _status_in([JobStatus.QUEUED])
    try:
        job = _update(
            job_id, {"slot_token": task_token, "updated_at": _now()}, condition, values, names
        )
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(f"job {job_id} no longer waits for a slot") from exc
        raise
    return created_key(job)


def _read_one(job_id: str, attribute: str) -> str | None:
    """One attribute of a job (consistent read): None if the job or the attribute is absent."""
    item = (
        _table()
        .get_item(
            Key={"job_id": job_id},
            ProjectionExpression="#a",
            ExpressionAttributeNames={"#a": attribute},
            ConsistentRead=True,
        )
        .get("Item")
        or {}
    )
    value = item.get(attribute)
    return str(value) if value is not None else None


def slot_token(job_id: str) -> str | None:
    """The token of the job's latest wait for a slot (consistent read), if it ever parked."""
    return _read_one(job_id, "slot_token")


def arrival(job_id: str) -> str | None:
    """The job's ``created_key``, its place in the line for a slot (None: no such job)."""
    return _read_one(job_id, "created_key")


def record_assets(job_id: str, assets: Mapping[ContentVariant, StoredAsset]) -> Job:
    """Attach the stored files to a job that is still running."""
    condition, names, values = _status_in([JobStatus.QUEUED, JobStatus.IN_PROGRESS])
    sets = {"assets": {k: v.model_dump() for k, v in assets.items()}, "updated_at": _now()}
    try:
        return _update(job_id, sets, condition, values, names)
    except ClientError as exc:
        if conditional_failed(exc):
            raise StaleTransitionError(
                f"job {job_id} finished before its assets were stored"
            ) from exc
        raise


def count_waiting() -> int:
    """How many jobs wait for a concurrency slot (a COUNT over the keys-only ``by-waiting``)."""
    query: dict[str, Any] = {
        "IndexName": WAITING_INDEX,
        "KeyConditionExpression": "waiting = :w",
        "ExpressionAttributeValues": {":w": WAITING_FOR_SLOT},
        "Select": "COUNT",
    }
    waiting = 0
    while True:
        resp = _table().query(**query)
        waiting += int(resp.get("Count", 0))
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return waiting
        query["ExclusiveStartKey"] = last
