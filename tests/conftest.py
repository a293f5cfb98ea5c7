"""Shared fixtures: the provider emulator and a webhook receiver to point it at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from videojobs.standard_webhooks import generate_secret
from videojobs_local.emulator import EmulatorConfig, EmulatorServer, WebhookReceiver

# Fast enough that a four-second sora-2 video completes in about 0.15 s.
EMULATOR_SPEED = 500.0


@pytest.fixture(scope="session")
def render_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache per test worker: each (size, seconds, look) is encoded once."""
    return tmp_path_factory.mktemp("emulator-renders")


@pytest.fixture
def emulator(render_cache_dir: Path) -> Iterator[EmulatorServer]:
    """A fresh emulator on a free port, with a known API key and webhook secret."""
    config = EmulatorConfig(
        api_key="sk-emulator-test",
        webhook_secret=generate_secret(),
        speed=EMULATOR_SPEED,
        render_cache_dir=render_cache_dir,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def emulator_http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """Plain HTTP to the emulator root, authenticated for /v1."""
    with httpx.Client(
        base_url=emulator.url,
        headers={"Authorization": f"Bearer {emulator.config.api_key}"},
        timeout=30.0,
    ) as client:
        yield client


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local endpoint recording what is POSTed to its ``url``."""
    with WebhookReceiver() as receiver:
        yield receiver
