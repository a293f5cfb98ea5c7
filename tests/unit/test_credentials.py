"""The provider's credentials are two secrets: the key, and the webhook-signing secret(s).
Each reader asks Secrets Manager for its own secret only (a fake provider records the ids)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videojobs.adapters import aws, credentials
from videojobs.settings import get_settings

KEY_ID = "arn:aws:secretsmanager:us-east-1:123456789012:secret:key"
WEBHOOK_ID = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook"


class FakeSecrets:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, name: str, *, max_age: int, transform: str | None = None) -> Any:
        self.asked.append(name)
        return self.values[name]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSecrets]:
    monkeypatch.setenv("PROVIDER_API_KEY_SECRET_ID", KEY_ID)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET_ID", WEBHOOK_ID)
    get_settings.cache_clear()
    fake = FakeSecrets(
        {
            KEY_ID: {"provider_api_key": "sk-the-key"},
            WEBHOOK_ID: {"provider_webhook_secret": ["whsec_new", "whsec_old"]},
        }
    )
    monkeypatch.setattr(aws, "secrets_provider", lambda: fake)
    yield fake
    get_settings.cache_clear()


def test_verifying_webhooks_reads_the_webhook_secret_only(secrets: FakeSecrets) -> None:
    # When the webhook function reads what it needs
    accepted = credentials.provider_webhook_secrets()
    # Then it got both secrets of a rotation, and never asked for the key's secret
    assert accepted == ["whsec_new", "whsec_old"]
    assert secrets.asked == [WEBHOOK_ID]


def test_calling_the_provider_reads_the_key_secret_only(secrets: FakeSecrets) -> None:
    key = credentials.provider_api_key()
    assert key.get_secret_value() == "sk-the-key"
    assert "sk-the-key" not in repr(key)
    assert secrets.asked == [KEY_ID]


def test_a_webhook_secret_not_set_yet_accepts_nothing(secrets: FakeSecrets) -> None:
    # The placeholder the stack creates holds no signing secret until the operator sets one
    secrets.values[WEBHOOK_ID] = {"placeholder": "generated"}
    assert credentials.provider_webhook_secrets() == []
