"""Standard Webhooks signatures (https://www.standardwebhooks.com), in both directions.

Stdlib only: the provider-webhook Lambda imports this on its cold path.

A signature is ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` where ``key`` is the
base64-decoded part of a ``whsec_<base64>`` secret. A header may carry several signatures
separated by spaces (secret rotation); any ``v1`` entry that matches is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from videojobs.models.errors import InvalidWebhookSignatureError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
TOLERANCE_SECONDS = 300

_ID = "webhook-id"
_TIMESTAMP = "webhook-timestamp"
_SIGNATURE = "webhook-signature"


def generate_secret(num_bytes: int = 32) -> str:
    """A new ``whsec_`` secret with ``num_bytes`` of randomness."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        # The secret is ours, not the caller's: say what is wrong without echoing it.
        raise ValueError("webhook secret is not whsec_<base64>") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _to_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value (one ``v1,`` entry) for this message."""
    key = _secret_key(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + _to_bytes(body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secret: str | list[str], msg_id: str, body: bytes | str, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for an outgoing message.

    Several secrets (a rotation) give several space-separated ``v1,`` signatures, in order;
    a receiver that knows any one of the secrets accepts the message.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    keys = [secret] if isinstance(secret, str) else secret
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    return {
        _ID: msg_id,
        _TIMESTAMP: str(ts),
        _SIGNATURE: " ".join(sign(key, msg_id, ts, body) for key in keys),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    # API Gateway keeps the sender's header case; HTTP says names are case-insensitive.
    for key, value in headers.items():
        if key.lower() == name:
            if not value:
                break
            return value
    raise InvalidWebhookSignatureError(f"missing {name} header")


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secrets_: str | list[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received webhook; return its ``webhook-id``.

    ``secrets_`` may list several secrets (our side of a rotation). Every way a message can be
    wrong raises :class:`InvalidWebhookSignatureError` and nothing else; a secret that is not
    ``whsec_<base64>`` raises ``ValueError`` (configuration, not input).
    """
    # A bad secret is our misconfiguration, not the sender's fault: ValueError, raised first.
    keys = [_secret_key(s) for s in ([secrets_] if isinstance(secrets_, str) else secrets_)]
    msg_id = _header(headers, _ID)
    raw_ts = _header(headers, _TIMESTAMP)
    raw_sigs = _header(headers, _SIGNATURE)

    if not raw_ts.isascii() or not raw_ts.isdigit():
        raise InvalidWebhookSignatureError("webhook-timestamp is not a whole number of seconds")
    timestamp = int(raw_ts)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise InvalidWebhookSignatureError("webhook-timestamp is too old")
    if timestamp > current + tolerance:
        raise InvalidWebhookSignatureError("webhook-timestamp is in the future")

    candidates: list[bytes] = []
    for entry in raw_sigs.split(" "):
        version, sep, value = entry.partition(",")
        if not sep or version != "v1" or not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not candidates:
        raise InvalidWebhookSignatureError("webhook-signature has no v1 signature")

    signed = f"{msg_id}.{timestamp}.".encode() + _to_bytes(body)
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        # compare_digest on every candidate: no early exit that leaks which one matched.
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return msg_id
    raise InvalidWebhookSignatureError("no webhook signature matches")
