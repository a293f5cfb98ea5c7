"""Creating tenants and rotating their callback secrets: the operator's side (the keys CLI,
the local stack). No function of the deployed stack calls these: they encrypt with the
callback-secret key, which only the operator's credentials may use to encrypt."""

from __future__ import annotations

import time

from videojobs import standard_webhooks
from videojobs.adapters import callback_secrets
from videojobs.adapters.dal import tenants
from videojobs.adapters.dal.tenants import Tenant
from videojobs.models.errors import InvalidRequestError

DEFAULT_OVERLAP_SECONDS = 24 * 3600


def ensure_tenant(tenant_id: str) -> tuple[Tenant, str | None]:
    """The tenant, created with a fresh callback secret if it does not exist yet.

    Returns the secret itself only when it was just created: it is shown once, and nothing
    but the callbacks function can read it back.
    """
    tenant_id = tenants.checked_tenant_id(tenant_id)
    existing = tenants.get_tenant(tenant_id)
    if existing is not None:
        return existing, None
    secret = standard_webhooks.generate_secret()
    ciphertext = callback_secrets.encrypt(tenant_id, secret)
    stored = tenants.create_tenant(
        Tenant(tenant_id=tenant_id, callback_secret=ciphertext, created_at=int(time.time()))
    )
    return stored, secret if stored.callback_secret == ciphertext else None


def rotate_callback_secret(
    tenant_id: str, *, overlap_seconds: int = DEFAULT_OVERLAP_SECONDS, now: int | None = None
) -> tuple[Tenant, str]:
    """A new callback secret for ``tenant_id``; returns the tenant and the new secret.

    For ``overlap_seconds`` callbacks carry two signatures, with the old and the new secret
    (Standard Webhooks allows several), so receivers can switch whenever they like within it;
    after that only the new one. Rotating again within the overlap ends the oldest secret.
    """
    if overlap_seconds < 0:
        raise InvalidRequestError("The overlap cannot be negative.", param="overlap")
    tenant = tenants.get_tenant(tenants.checked_tenant_id(tenant_id))
    if tenant is None:
        raise InvalidRequestError(f"No tenant '{tenant_id}'.", param="tenant_id")
    secret = standard_webhooks.generate_secret()
    ciphertext = callback_secrets.encrypt(tenant.tenant_id, secret)
    current = int(time.time()) if now is None else now
    updated = tenants.replace_callback_secret(
        tenant.tenant_id,
        ciphertext,
        replacing=tenant.callback_secret,
        previous_until=current + overlap_seconds,
    )
    return updated, secret
