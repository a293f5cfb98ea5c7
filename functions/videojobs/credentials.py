"""Secrets Manager access (Powertools parameters, cached in memory for a few minutes).

The secret is one JSON document::

    {"provider_api_key": "...", "provider_webhook_secret": "whsec_..."}

``provider_webhook_secret`` may also be a list, to accept two secrets during a rotation.
Values are wrapped in ``SecretStr`` so that no repr, log line or error shows them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from videojobs import aws
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
    """The provider credentials, from Secrets Manager through the Powertools cache."""
    settings = get_settings()
    raw = aws.secrets_provider().get(
        settings.provider_secret_id, transform="json", max_age=settings.secret_cache_seconds
    )
    return ProviderSecret.model_validate(raw)
