"""The configured provider client, built once per key (a rotated key builds a new one)."""

from __future__ import annotations

import hashlib
import threading

from videojobs.credentials import provider_secret
from videojobs.models.provider import ProviderConfig
from videojobs.providers import VideoProvider, build_provider
from videojobs.settings import get_settings

_lock = threading.Lock()
_cached: tuple[str, VideoProvider] | None = None


def get_provider() -> VideoProvider:
    """The provider client for the current settings and secret (reused across invocations)."""
    global _cached
    settings = get_settings()
    key = provider_secret().provider_api_key
    fingerprint = hashlib.sha256(
        f"{settings.provider_base_url}|{settings.provider_auth_style}|{key.get_secret_value()}".encode()
    ).hexdigest()
    with _lock:
        if _cached is not None and _cached[0] == fingerprint:
            return _cached[1]
        if _cached is not None:
            _cached[1].close()
        config = ProviderConfig(
            base_url=settings.provider_base_url,
            auth_style=settings.provider_auth_style,
            api_key=key,
        )
        client = build_provider(config)
        _cached = (fingerprint, client)
        return client


def reset_provider() -> None:
    """Forget the cached client (tests point it at a fresh emulator)."""
    global _cached
    with _lock:
        if _cached is not None:
            _cached[1].close()
        _cached = None
