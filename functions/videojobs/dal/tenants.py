"""The tenants table: one item per tenant, holding the secret its callbacks are signed with
and its spending budgets."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from videojobs import aws, standard_webhooks
from videojobs.dal.dynamo import conditional_failed
from videojobs.models.errors import InvalidRequestError
from videojobs.models.job import TenantId
from videojobs.models.money import usd
from videojobs.settings import get_settings

_TENANT_ID = TypeAdapter(TenantId)


class Tenant(BaseModel):
    """A tenant: every API key belongs to one, and its callbacks carry its signature."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    # repr=False: a tenant logged or shown in a traceback never shows its signing secret.
    webhook_secret: str = Field(repr=False)
    created_at: int
    daily_budget_micros: int | None = Field(default=None, ge=0)
    """Most the tenant may spend per UTC day (micro-dollars); None: unlimited."""
    monthly_budget_micros: int | None = Field(default=None, ge=0)
    """Most the tenant may spend per UTC calendar month (micro-dollars); None: unlimited."""

    @property
    def daily_budget_usd(self) -> float | None:
        return None if self.daily_budget_micros is None else usd(self.daily_budget_micros)

    @property
    def monthly_budget_usd(self) -> float | None:
        return None if self.monthly_budget_micros is None else usd(self.monthly_budget_micros)


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().tenants_table)


def checked_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a valid tenant id, else :class:`InvalidRequestError`."""
    try:
        return _TENANT_ID.validate_python(tenant_id)
    except ValidationError as exc:
        raise InvalidRequestError(
            "A tenant id is 1-64 characters: letters, digits, '_', '.', '-', "
            "starting with a letter or digit.",
            param="tenant_id",
            code="invalid_tenant_id",
        ) from exc


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _from_item(item: dict[str, Any]) -> Tenant:
    return Tenant(
        tenant_id=str(item["tenant_id"]),
        webhook_secret=str(item["webhook_secret"]),
        created_at=int(item["created_at"]),
        daily_budget_micros=_optional_int(item.get("daily_budget_micros")),
        monthly_budget_micros=_optional_int(item.get("monthly_budget_micros")),
    )


def get_tenant(tenant_id: str) -> Tenant | None:
    """The tenant, read consistently; None when there is none."""
    item = _table().get_item(Key={"tenant_id": tenant_id}, ConsistentRead=True).get("Item")
    return None if item is None else _from_item(item)


def ensure_tenant(tenant_id: str) -> Tenant:
    """The tenant, created with a fresh webhook secret if it does not exist yet.

    The create is conditional, so two concurrent calls agree on one secret: the loser reads
    the winner's item instead of overwriting it.
    """
    tenant_id = checked_tenant_id(tenant_id)
    existing = get_tenant(tenant_id)
    if existing is not None:
        return existing
    tenant = Tenant(
        tenant_id=tenant_id,
        webhook_secret=standard_webhooks.generate_secret(),
        created_at=int(time.time()),
    )
    try:
        _table().put_item(
            Item=tenant.model_dump(exclude_none=True),
            ConditionExpression="attribute_not_exists(tenant_id)",
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise
        winner = get_tenant(tenant_id)
        if winner is None:  # created and deleted in between: not something we do
            raise
        return winner
    return tenant


_UNCHANGED: Any = object()


def set_budgets(
    tenant_id: str,
    *,
    daily_micros: int | None = _UNCHANGED,
    monthly_micros: int | None = _UNCHANGED,
) -> Tenant:
    """Set (an amount) or lift (None) an existing tenant's budgets; omitted ones stay.

    Takes effect from the next submit; what is already reserved or spent stays counted.
    """
    sets: dict[str, int] = {}
    removes: list[str] = []
    for name, value in (
        ("daily_budget_micros", daily_micros),
        ("monthly_budget_micros", monthly_micros),
    ):
        if value is _UNCHANGED:
            continue
        if value is None:
            removes.append(name)
        elif value < 0:
            raise InvalidRequestError("A budget cannot be negative.", param=name)
        else:
            sets[name] = value
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(f"{name} = :{name}" for name in sets))
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    if not clauses:
        tenant = get_tenant(tenant_id)
        if tenant is None:
            raise InvalidRequestError(f"No tenant '{tenant_id}'.", param="tenant_id")
        return tenant
    arguments: dict[str, Any] = {
        "Key": {"tenant_id": tenant_id},
        "UpdateExpression": " ".join(clauses),
        "ConditionExpression": "attribute_exists(tenant_id)",
        "ReturnValues": "ALL_NEW",
    }
    if sets:
        arguments["ExpressionAttributeValues"] = {f":{n}": v for n, v in sets.items()}
    try:
        item = _table().update_item(**arguments)["Attributes"]
    except ClientError as exc:
        if not conditional_failed(exc):
            raise
        raise InvalidRequestError(f"No tenant '{tenant_id}'.", param="tenant_id") from exc
    return _from_item(item)


def tenant_ids() -> list[str]:
    """Every tenant id, sorted (a scan of the tenants table: one small item per tenant)."""
    query: dict[str, Any] = {"ProjectionExpression": "tenant_id"}
    found: list[str] = []
    while True:
        resp = _table().scan(**query)
        found.extend(str(item["tenant_id"]) for item in resp.get("Items", []))
        last = resp.get("LastEvaluatedKey")
        if last is None:
            return sorted(found)
        query["ExclusiveStartKey"] = last
