"""The control table: the concurrency semaphore (global and per tenant), webhook
de-duplication records and when each protocol's wake-up events last arrived; and beside it
the slot-line table, the jobs parked for a slot.

All of it is made of conditional writes, so a retried Lambda or a repeated webhook is
harmless. The semaphore is acquired by the state machine itself (a direct DynamoDB
integration in infra/statemachine/video_job.asl.json); this module releases it, reads it,
keeps the line and grants freed slots to the jobs in it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.adapters.dal.dynamo import conditional_failed
from videojobs.settings import get_settings

SEMAPHORE_KEY = "semaphore#jobs"
# Next to ``in_flight`` and ``holders``, the semaphore item holds one string set per tenant
# with jobs in flight, ``tenant#<tenant_id>``, which AcquireSlot checks against
# MaxJobsPerTenant in the same conditional update.
TENANT_HOLDERS_PREFIX = "tenant#"
# The line: one item per job parked for a slot in the slot-line table, partition ``jobs``,
# sort key ``place`` = the job's created_key (its arrival), with its ``job_id`` and
# ``tenant_id``. Small items, so that neither joining nor granting rewrites the whole line.
LINE = "jobs"
_LINE_PAGE = 50
# Jobs granted a slot whose wake-up (SendTaskSuccess) has not been confirmed yet: a waker whose
# token turns out stale gives the slot back only while the job is still listed here.
WOKEN = "woken"
# How many times a read-then-conditional-write of the semaphore is tried when other writers
# keep changing it first.
_ATTEMPTS = 25


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().control_table)


def _line_table() -> Any:
    return aws.dynamodb().Table(get_settings().slot_line_table)


def _semaphore() -> dict[str, Any]:
    return dict(_table().get_item(Key={"pk": SEMAPHORE_KEY}, ConsistentRead=True).get("Item") or {})


def tenant_holders_attribute(tenant_id: str) -> str:
    """The semaphore's attribute holding the slots of one tenant (a string set of job ids)."""
    return f"{TENANT_HOLDERS_PREFIX}{tenant_id}"


@dataclass(frozen=True)
class Waiter:
    """A job parked for a slot."""

    job_id: str
    tenant_id: str
    arrival: str


def release_slot(holder: str) -> bool:
    """Give back ``holder``'s slot, and its place in its tenant's count with it. True if it
    held one; False if it was already released (or never held one).

    The tenant's set is the one that lists the holder (a slot taken before per-tenant counts
    existed is in none). Both sets shrink in one conditional update, so a second release, or
    one racing it, changes nothing; DynamoDB drops a set once it is empty.
    """
    return _release_from(holder, _semaphore(), confirmed=True)


def release_unconfirmed(holder: str) -> bool:
    """Give back a slot that was granted to ``holder`` but whose wake-up failed (stale task
    token). True if released; False once the holder has confirmed it (it holds the slot and
    runs) or it was already released."""
    item = _semaphore()
    if holder not in item.get(WOKEN, set()):
        return False
    return _release_from(holder, item, confirmed=False)


def _release_from(holder: str, item: dict[str, Any], *, confirmed: bool) -> bool:
    """The release of :func:`release_slot` from an item already read; with
    ``confirmed=False`` only while the holder is still in ``woken``."""
    if holder not in item.get("holders", set()):
        return False
    tenant_sets = [
        name
        for name, value in item.items()
        if name.startswith(TENANT_HOLDERS_PREFIX) and isinstance(value, set) and holder in value
    ]
    update = "SET in_flight = in_flight - :one DELETE holders :holder, woken :holder"
    condition = "contains(holders, :name)"
    if not confirmed:
        condition += " AND contains(woken, :name)"
    names: dict[str, str] = {}
    for index, name in enumerate(tenant_sets):
        update += f", #t{index} :holder"
        condition += f" AND contains(#t{index}, :name)"
        names[f"#t{index}"] = name
    try:
        _table().update_item(
            Key={"pk": SEMAPHORE_KEY},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues={":one": 1, ":holder": {holder}, ":name": holder},
            **({"ExpressionAttributeNames": names} if names else {}),
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def join_line(job_id: str, tenant_id: str, arrival: str) -> bool:
    """Put a job in the line for a slot (keeping its place if it is already there).

    True when the job turns out to hold a slot already (an earlier AcquireSlot took it, or a
    slot was granted to it while its previous wait timed out): its place in the line is then
    dropped and the grant confirmed, and the job should go on at once.
    """
    _line_table().put_item(
        Item={"line": LINE, "place": arrival, "job_id": job_id, "tenant_id": tenant_id}
    )
    if job_id not in _semaphore().get("holders", set()):
        return False
    confirm_grant(job_id)
    leave_line(arrival)
    return True


def confirm_grant(job_id: str) -> None:
    """The job goes on with the slot it holds: its grant can no longer be given back."""
    try:
        _table().update_item(
            Key={"pk": SEMAPHORE_KEY},
            UpdateExpression="DELETE woken :holder",
            ConditionExpression="contains(holders, :name)",
            ExpressionAttributeValues={":holder": {job_id}, ":name": job_id},
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise


def leave_line(arrival: str) -> None:
    """Take the job that arrived at ``arrival`` out of the line; a no-op if it is not there."""
    _line_table().delete_item(Key={"line": LINE, "place": arrival})


def _line_pages(page_size: int = _LINE_PAGE) -> Iterator[list[Waiter]]:
    """The line, oldest first, a page at a time (consistent reads)."""
    query: dict[str, Any] = {
        "KeyConditionExpression": "#line = :line",
        "ExpressionAttributeNames": {"#line": "line"},
        "ExpressionAttributeValues": {":line": LINE},
        "ConsistentRead": True,
        "Limit": page_size,
    }
    while True:
        page = _line_table().query(**query)
        yield [
            Waiter(
                job_id=str(item["job_id"]),
                tenant_id=str(item["tenant_id"]),
                arrival=str(item["place"]),
            )
            for item in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        if last is None:
            return
        query["ExclusiveStartKey"] = last


def _next_eligible(item: dict[str, Any], tenant_limit: int) -> Waiter | None:
    """The oldest job in line whose tenant is under its cap, given the semaphore ``item``.
    Jobs in line that already hold a slot are taken out of the line on the way."""
    holders = item.get("holders", set())
    for page in _line_pages():
        for waiter in page:
            if waiter.job_id in holders:
                leave_line(waiter.arrival)
                continue
            tenant_set = item.get(tenant_holders_attribute(waiter.tenant_id), set())
            if len(tenant_set) < tenant_limit:
                return waiter
    return None


def grant_next(limit: int, tenant_limit: int) -> Waiter | None:
    """Grant one free slot to the oldest job in the line whose tenant is under its cap.

    One conditional write on the semaphore makes the job a holder (and puts it in ``woken``
    until it confirms), conditional on the slot still being free, the tenant still under its
    cap and the job not holding one already: two granters never give the same slot or the same
    job twice. The job then leaves the line. None when no slot is free or nobody in the line
    may take one.
    """
    for _ in range(_ATTEMPTS):
        item = _semaphore()
        if int(item.get("in_flight", 0)) >= limit:
            return None
        chosen = _next_eligible(item, tenant_limit)
        if chosen is None:
            return None
        try:
            _table().update_item(
                Key={"pk": SEMAPHORE_KEY},
                UpdateExpression=(
                    "SET in_flight = if_not_exists(in_flight, :zero) + :one "
                    "ADD holders :holder, #tenant :holder, woken :holder"
                ),
                ConditionExpression=(
                    "NOT contains(holders, :name) "
                    "AND (attribute_not_exists(in_flight) OR in_flight < :limit) "
                    "AND (attribute_not_exists(#tenant) OR size(#tenant) < :tenant_limit)"
                ),
                ExpressionAttributeNames={"#tenant": tenant_holders_attribute(chosen.tenant_id)},
                ExpressionAttributeValues={
                    ":zero": 0,
                    ":one": 1,
                    ":holder": {chosen.job_id},
                    ":name": chosen.job_id,
                    ":limit": limit,
                    ":tenant_limit": tenant_limit,
                },
            )
        except ClientError as exc:
            if conditional_failed(exc):
                continue  # someone else changed the semaphore first: read it again
            raise
        leave_line(chosen.arrival)
        return chosen
    raise RuntimeError("the semaphore kept changing while a slot was granted")


def line() -> list[Waiter]:
    """The jobs parked for a slot, oldest first."""
    return [waiter for page in _line_pages(page_size=500) for waiter in page]


def unconfirmed_grants() -> set[str]:
    """Jobs granted a slot by a hand-out that still hold it without having confirmed it (the
    semaphore's ``woken``): woken, or about to be, or left parked by a waker that stopped."""
    return {str(job_id) for job_id in _semaphore().get(WOKEN, set())}


def slot_holders() -> set[str]:
    """Who holds a slot now (job ids)."""
    return {str(h) for h in _semaphore().get("holders", set())}


def slots_in_flight() -> int:
    """How many slots are taken."""
    return int(_semaphore().get("in_flight", 0))


def tenant_slots_in_flight(tenant_id: str) -> int:
    """How many slots one tenant's jobs hold now."""
    name = tenant_holders_attribute(tenant_id)
    item = (
        _table()
        .get_item(
            Key={"pk": SEMAPHORE_KEY},
            ProjectionExpression="#t",
            ExpressionAttributeNames={"#t": name},
            ConsistentRead=True,
        )
        .get("Item")
        or {}
    )
    return len(item.get(name, set()))


def remember_webhook(webhook_id: str, keep_hours: int) -> bool:
    """Record a delivered webhook id. True the first time; False for a repeat.

    TTL deletes late, so an expired record still present counts as absent.
    """
    now = int(time.time())
    try:
        _table().put_item(
            Item={"pk": f"webhook#{webhook_id}", "expires_at": now + keep_hours * 3600},
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": now},
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def forget_webhook(webhook_id: str) -> None:
    """Drop a dedupe record so the sender's retry is processed (used when processing failed)."""
    _table().delete_item(Key={"pk": f"webhook#{webhook_id}"})


# When a protocol's wake-up events (provider webhooks, Bedrock output events) last arrived:
# item ``wakeups#<protocol>``, attribute ``at`` (epoch seconds).
WAKEUPS_PREFIX = "wakeups#"


def record_wakeup(protocol: str) -> None:
    """Note that a verified wake-up event of ``protocol`` arrived now (last writer wins)."""
    _table().put_item(Item={"pk": f"{WAKEUPS_PREFIX}{protocol}", "at": int(time.time())})


def last_wakeup(protocol: str) -> int | None:
    """When the last wake-up event of ``protocol`` arrived (epoch seconds), or None if never."""
    item = _table().get_item(Key={"pk": f"{WAKEUPS_PREFIX}{protocol}"}).get("Item") or {}
    at = item.get("at")
    return int(at) if at is not None else None
