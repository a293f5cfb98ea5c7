"""Secrets Manager access (Powertools parameters, cached in memory for a few minutes).

The provider's credentials are two secrets, so that each function's role can read only the
one it uses (the webhook function verifies signatures and never reads the key):

- the API key secret, ``{"provider_api_key": "..."}`` (``PROVIDER_API_KEY_SECRET_ID``);
- the webhook-signing secret, ``{"provider_webhook_secret": "whsec_..."}``
  (``PROVIDER_WEBHOOK_SECRET_ID``), which may also be a list, to accept two secrets during a
  rotation.

Values are wrapped in ``SecretStr`` so that no repr, log line or error shows them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from videojobs import aws
from videojobs.settings import get_settings


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


def _read(secret_id: str) -> Any:
    return aws.secrets_provider().get(
        secret_id, transform="json", max_age=get_settings().secret_cache_seconds
    )


def provider_api_key() -> SecretStr:
    """The provider key, from its own secret through the Powertools cache."""
    return ProviderKeySecret.model_validate(
        _read(get_settings().provider_api_key_secret_id)
    ).provider_api_key


def provider_webhook_secrets() -> list[str]:
    """Every provider webhook-signing secret currently accepted (empty when none is set)."""
    return ProviderWebhookSecret.model_validate(
        _read(get_settings().provider_webhook_secret_id)
    ).webhook_secrets()
