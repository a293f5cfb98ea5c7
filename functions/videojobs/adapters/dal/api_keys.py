"""API keys: stored as SHA-256 hashes, each belonging to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from videojobs.adapters import aws
from videojobs.adapters.dal import tenants
from videojobs.adapters.dal.dynamo import conditional_failed
from videojobs.settings import get_settings

KEY_PREFIX = "vj_"


class ApiKeyRecord(BaseModel):
    """What is stored about a key (never the key itself)."""

    model_config = ConfigDict(frozen=True)

    key_hash: str
    key_id: str
    tenant_id: str
    created_at: int
    revoked: bool = False
    revoked_at: int | None = None


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().api_keys_table)


def _from_item(item: dict[str, Any]) -> ApiKeyRecord:
    revoked_at = item.get("revoked_at")
    return ApiKeyRecord(
        key_hash=str(item["key_hash"]),
        key_id=str(item["key_id"]),
        tenant_id=str(item["tenant_id"]),
        created_at=int(item["created_at"]),
        revoked=bool(item.get("revoked", False)),
        revoked_at=None if revoked_at is None else int(revoked_at),
    )


def hash_key(api_key: str) -> str:
    """The stored form of a key. Keys are 256-bit random, so a plain SHA-256 is enough."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def lookup(api_key: str) -> ApiKeyRecord | None:
    """The record of an active key; None for unknown or revoked keys."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    item = _table().get_item(Key={"key_hash": hash_key(api_key)}).get("Item")
    if item is None or item.get("revoked"):
        return None
    return _from_item(item)


def create(tenant_id: str) -> tuple[str, ApiKeyRecord]:
    """A new key for ``tenant_id``: returns the key (shown once) and its record.

    The tenant itself (and its callback secret) is created by ``logic.tenant_admin``, which
    the keys CLI calls first.
    """
    tenant_id = tenants.checked_tenant_id(tenant_id)
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_hash=hash_key(api_key),
        key_id="key_" + secrets.token_hex(8),
        tenant_id=tenant_id,
        created_at=int(time.time()),
    )
    _table().put_item(
        Item=record.model_dump(exclude_none=True),
        ConditionExpression="attribute_not_exists(key_hash)",
    )
    return api_key, record


def _scan(**query: Any) -> Iterator[dict[str, Any]]:
    # The table is keyed by hash (what the authorizer looks up); listing and revoking by id
    # are rare admin operations, so a scan is cheaper than an index every lookup would pay for.
    while True:
        resp = _table().scan(ConsistentRead=True, **query)
        yield from resp.get("Items", [])
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return
        query["ExclusiveStartKey"] = last


def list_keys(tenant_id: str | None = None) -> list[ApiKeyRecord]:
    """Every key (of ``tenant_id`` when given), revoked ones included, oldest first."""
    query: dict[str, Any] = {}
    if tenant_id is not None:
        query = {
            "FilterExpression": "tenant_id = :t",
            "ExpressionAttributeValues": {":t": tenant_id},
        }
    records = [_from_item(item) for item in _scan(**query)]
    return sorted(records, key=lambda r: (r.created_at, r.key_id))


def revoke(key_id: str) -> ApiKeyRecord | None:
    """Revoke the key with id ``key_id`` for good; None when there is no such key.

    Revoking twice is harmless: the first revocation time is kept.
    """
    found = list(_scan(FilterExpression="key_id = :k", ExpressionAttributeValues={":k": key_id}))
    if not found:
        return None
    try:
        resp = _table().update_item(
            Key={"key_hash": found[0]["key_hash"]},
            UpdateExpression="SET revoked = :true, revoked_at = if_not_exists(revoked_at, :now)",
            ConditionExpression="attribute_exists(key_hash)",
            ExpressionAttributeValues={":true": True, ":now": int(time.time())},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if conditional_failed(exc):
            return None
        raise
    return _from_item(resp["Attributes"])
