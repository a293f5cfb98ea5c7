"""API keys: stored as SHA-256 hashes, each belonging to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from videojobs import aws
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


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().api_keys_table)


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
    return ApiKeyRecord(
        key_hash=str(item["key_hash"]),
        key_id=str(item["key_id"]),
        tenant_id=str(item["tenant_id"]),
        created_at=int(item["created_at"]),
        revoked=bool(item.get("revoked", False)),
    )


def create(tenant_id: str) -> tuple[str, ApiKeyRecord]:
    """A new key for ``tenant_id``: returns the key (shown once) and its record."""
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_hash=hash_key(api_key),
        key_id="key_" + secrets.token_hex(8),
        tenant_id=tenant_id,
        created_at=int(time.time()),
    )
    _table().put_item(
        Item=record.model_dump(), ConditionExpression="attribute_not_exists(key_hash)"
    )
    return api_key, record
