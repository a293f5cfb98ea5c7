"""``POST /webhooks/provider``: the provider's signed video.completed / video.failed events.

Verified (Standard Webhooks), de-duplicated on ``webhook-id``, recorded on the job, and the
job's parked workflow woken. Imports no HTTP client: this is the hot, cold-start-sensitive path.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError

from videojobs import standard_webhooks
from videojobs.adapters.credentials import provider_webhook_secrets
from videojobs.adapters.dal import control
from videojobs.logic.apply_provider_status import apply_webhook
from videojobs.models.errors import InvalidWebhookSignatureError
from videojobs.models.webhook import KNOWN_EVENT_TYPES, ProviderEvent
from videojobs.observability import logger
from videojobs.settings import get_settings

_EVENT = TypeAdapter(ProviderEvent)
_MAX_BODY_BYTES = 256 * 1024


def _answer(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
    }


def _error(status: int, message: str, code: str) -> dict[str, Any]:
    return _answer(
        status,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
    )


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw, validate=True)
    return raw.encode("utf-8")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = {k: v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    try:
        body = _body(event)
    except (binascii.Error, ValueError):
        return _error(400, "The body is not valid base64.", "invalid_body")
    if len(body) > _MAX_BODY_BYTES:
        return _error(413, "The webhook body is too large.", "body_too_large")
    try:
        webhook_id = standard_webhooks.verify(body, headers, provider_webhook_secrets())
    except InvalidWebhookSignatureError as exc:
        logger.warning("webhook rejected", extra={"reason": str(exc)})
        return _error(401, f"Webhook verification failed: {exc}.", "invalid_signature")

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested brackets are malformed, not a server fault.
        return _error(400, "The webhook body is not JSON.", "invalid_body")
    kind = payload.get("type") if isinstance(payload, dict) else None
    if not isinstance(kind, str) or kind not in KNOWN_EVENT_TYPES:
        logger.info("webhook type ignored", extra={"type": str(kind)[:64]})
        return _answer(200, {"status": "ignored"})
    try:
        provider_event = _EVENT.validate_python(payload)
    except ValidationError:
        return _error(400, "The webhook body is not a video event.", "invalid_body")

    if not control.remember_webhook(webhook_id, get_settings().webhook_dedupe_hours):
        return _answer(200, {"status": "duplicate"})
    try:
        outcome = apply_webhook(provider_event)
    except BaseException:
        # Not processed: let the sender's retry through the dedupe check.
        control.forget_webhook(webhook_id)
        raise
    logger.info("webhook applied", extra={"video": provider_event.data.id, "outcome": outcome})
    return _answer(200, {"status": outcome})
