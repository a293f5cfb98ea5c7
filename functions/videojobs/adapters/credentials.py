"""Secrets Manager access (Powertools parameters, cached in memory for a few minutes).

The provider's credentials are two secrets, so that each function's role can read only the
one it uses (the webhook function verifies signatures and never reads the key):

- the API key secret, ``{"provider_api_key": "..."}`` (``PROVIDER_API_KEY_SECRET_ID``);
- the webhook-signing secret, ``{"provider_webhook_secret": "whsec_..."}``
  (``PROVIDER_WEBHOOK_SECRET_ID``), which may also be a list, to accept two secrets during a
  rotation.

Values are wrapped in ``SecretStr`` so that no repr, log line or error shows them. A secret
that is not the expected JSON document raises :class:`ProviderConfigError`, whose message
names the secret and the fields at fault and never the secret's content: pydantic's and the
JSON parser's own messages quote their input, and an exception's text ends up in logs, Step
Functions causes and error bodies.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from videojobs.adapters import aws
from videojobs.models.errors import ProviderConfigError
from videojobs.settings import get_settings

_Secret = TypeVar("_Secret", bound=BaseModel)


class ProviderKeySecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    provider_api_key: SecretStr


class ProviderWebhookSecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    provider_webhook_secret: SecretStr | list[SecretStr] | None = None

    def webhook_secrets(self) -> list[str]:
        """Every webhook secret currently accepted (empty when none is configured)."""
        value = self.provider_webhook_secret
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [item.get_secret_value() for item in items if item.get_secret_value()]


def _read(secret_id: str, model: type[_Secret], name: str) -> _Secret:
    raw = aws.secrets_provider().get(secret_id, max_age=get_settings().secret_cache_seconds)
    return _parsed(raw, model, name)


def _parsed(raw: Any, model: type[_Secret], name: str) -> _Secret:
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ProviderConfigError(f"the {name} secret is not a JSON document") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(document)" for e in exc.errors()})
        raise ProviderConfigError(
            f"the {name} secret is missing or has invalid fields: {', '.join(fields)}"
        ) from None


def provider_api_key() -> SecretStr:
    """The provider key, from its own secret through the Powertools cache."""
    settings = get_settings()
    secret = _read(settings.provider_api_key_secret_id, ProviderKeySecret, "provider API key")
    return secret.provider_api_key


def provider_webhook_secrets() -> list[str]:
    """Every provider webhook-signing secret currently accepted (empty when none is set)."""
    settings = get_settings()
    secret = _read(settings.provider_webhook_secret_id, ProviderWebhookSecret, "provider webhook")
    return secret.webhook_secrets()
