"""The control table: the concurrency semaphore and webhook de-duplication records.

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


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().control_table)


def release_slot(holder: str) -> bool:
    """Give back ``holder``'s slot. True if it held one; False if it was already released."""
    try:
        _table().update_item(
            Key={"pk": SEMAPHORE_KEY},
            UpdateExpression="SET in_flight = in_flight - :one DELETE holders :holder",
            ConditionExpression="contains(holders, :name)",
            ExpressionAttributeValues={":one": 1, ":holder": {holder}, ":name": holder},
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def slot_holders() -> set[str]:
    """Who holds a slot now (job ids)."""
    item = _table().get_item(Key={"pk": SEMAPHORE_KEY}, ConsistentRead=True).get("Item") or {}
    return {str(h) for h in item.get("holders", set())}


def slots_in_flight() -> int:
    """How many slots are taken."""
    item = _table().get_item(Key={"pk": SEMAPHORE_KEY}, ConsistentRead=True).get("Item") or {}
    return int(item.get("in_flight", 0))


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
