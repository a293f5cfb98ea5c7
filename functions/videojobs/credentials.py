"""Secrets Manager access (Powertools parameters, cached in memory for a few minutes).

The secret is one JSON document::

    {"provider_api_key": "...", "provider_webhook_secret": "whsec_..."}

``provider_webhook_secret`` may also be a list, to accept two secrets during a rotation.
Values are wrapped in ``SecretStr`` so that no repr, log line or error shows them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from videojobs import aws
from videojobs.models.errors import ProviderConfigError
from videojobs.settings import get_settings


class ProviderSecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    provider_api_key: SecretStr
    provider_webhook_secret: SecretStr | list[SecretStr] | None = None

    def webhook_secrets(self) -> list[str]:
        """Every webhook secret currently accepted (empty when none is configured)."""
        value = self.provider_webhook_secret
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [item.get_secret_value() for item in items if item.get_secret_value()]


def provider_secret() -> ProviderSecret:
    """The provider credentials, from Secrets Manager through the Powertools cache.

    A secret that is not the expected JSON document raises :class:`ProviderConfigError`,
    whose message names the fields at fault and never the secret's content: pydantic's and
    the JSON parser's own messages quote their input, and an exception's text ends up in logs,
    Step Functions causes and error bodies.
    """
    settings = get_settings()
    raw = aws.secrets_provider().get(
        settings.provider_secret_id, max_age=settings.secret_cache_seconds
    )
    return _parsed(raw)


def _parsed(raw: Any) -> ProviderSecret:
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ProviderConfigError("the provider secret is not a JSON document") from None
    try:
        return ProviderSecret.model_validate(document)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(document)" for e in exc.errors()})
        raise ProviderConfigError(
            f"the provider secret is missing or has invalid fields: {', '.join(fields)}"
        ) from None
