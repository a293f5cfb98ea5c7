"""Tenant callback secrets under KMS: the only module that talks to KMS.

A tenant's ``whsec_`` secret signs its callbacks. It is stored in the tenants table only as
KMS ciphertext, bound to the tenant by the encryption context, and the key policy lets only
the callbacks function decrypt: the API and every other function can read the tenants table
(budgets) without ever seeing a secret. Encrypting is for the operator's side (the keys CLI,
the local stack), which names the key (``CALLBACK_SECRET_KEY_ID``).
"""

from __future__ import annotations

from functools import lru_cache

from videojobs.adapters import aws
from videojobs.settings import get_settings

PURPOSE = "callback-secret"


def _context(tenant_id: str) -> dict[str, str]:
    # A ciphertext copied onto another tenant's item does not decrypt there.
    return {"purpose": PURPOSE, "tenant_id": tenant_id}


def encrypt(tenant_id: str, secret: str) -> bytes:
    """``secret`` encrypted under the callback-secret key, for ``tenant_id`` only."""
    key_id = get_settings().callback_secret_key_id
    response = aws.kms().encrypt(
        KeyId=key_id, Plaintext=secret.encode("utf-8"), EncryptionContext=_context(tenant_id)
    )
    return bytes(response["CiphertextBlob"])


@lru_cache(maxsize=256)
def decrypt(tenant_id: str, ciphertext: bytes) -> str:
    """The secret in ``ciphertext`` (cached per ciphertext: a retry costs no KMS call)."""
    response = aws.kms().decrypt(CiphertextBlob=ciphertext, EncryptionContext=_context(tenant_id))
    return bytes(response["Plaintext"]).decode("utf-8")
