"""The control table: the concurrency semaphore (global and per tenant) and webhook
de-duplication records.

Both are made of conditional writes, so a retried Lambda or a repeated webhook is harmless.
The semaphore is acquired by the state machine itself (a direct DynamoDB integration in
infra/statemachine/video_job.asl.json); this module releases it and reads it.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from videojobs import aws
from videojobs.dal.dynamo import conditional_failed
from videojobs.settings import get_settings

SEMAPHORE_KEY = "semaphore#jobs"
# Next to ``in_flight`` and ``holders``, the semaphore item holds one string set per tenant
# with jobs in flight, ``tenant#<tenant_id>``, which AcquireSlot checks against
# MaxJobsPerTenant in the same conditional update.
TENANT_HOLDERS_PREFIX = "tenant#"


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().control_table)


def _semaphore() -> dict[str, Any]:
    return dict(_table().get_item(Key={"pk": SEMAPHORE_KEY}, ConsistentRead=True).get("Item") or {})


def tenant_holders_attribute(tenant_id: str) -> str:
    """The semaphore's attribute holding the slots of one tenant (a string set of job ids)."""
    return f"{TENANT_HOLDERS_PREFIX}{tenant_id}"


def release_slot(holder: str) -> bool:
    """Give back ``holder``'s slot, and its place in its tenant's count with it. True if it
    held one; False if it was already released (or never held one).

    The tenant's set is the one that lists the holder (a slot taken before per-tenant counts
    existed is in none). Both sets shrink in one conditional update, so a second release, or
    one racing it, changes nothing; DynamoDB drops a set once it is empty.
    """
    item = _semaphore()
    if holder not in item.get("holders", set()):
        return False
    tenant_sets = [
        name
        for name, value in item.items()
        if name.startswith(TENANT_HOLDERS_PREFIX) and isinstance(value, set) and holder in value
    ]
    update = "SET in_flight = in_flight - :one DELETE holders :holder"
    condition = "contains(holders, :name)"
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
