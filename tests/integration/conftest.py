"""The whole service on this machine: the real template and state machine on moto, the
emulator as provider. One stack per test module (a process runs one stack at a time)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from pipeline_support import PIPELINE_PARAMETERS, PIPELINE_SPEED

from videojobs_local.local import LocalVideojobs, run_local


@pytest.fixture(scope="module")
def running_service(
    request: pytest.FixtureRequest, render_cache_dir: Path
) -> Iterator[LocalVideojobs]:
    """The module's stack: deployed with PIPELINE_PARAMETERS, or the module's own
    ``STACK_PARAMETERS`` when it sets them."""
    with run_local(
        emulator_speed=PIPELINE_SPEED,
        parameter_overrides=getattr(request.module, "STACK_PARAMETERS", PIPELINE_PARAMETERS),
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@pytest.fixture
def service(running_service: LocalVideojobs) -> Iterator[LocalVideojobs]:
    """The module's stack with the provider's faults and counters cleared for this test."""
    running_service.emulator.reset()
    running_service.emulator.update_config(speed=PIPELINE_SPEED)
    yield running_service
    running_service.emulator.reset()


@pytest.fixture
def api(service: LocalVideojobs) -> Iterator[httpx.Client]:
    """An HTTP client for /v1 with the seeded tenant's key."""
    with httpx.Client(
        base_url=service.api_url,
        headers={"Authorization": f"Bearer {service.api_key}"},
        timeout=30.0,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def fx() -> Iterator[ModuleType]:
    """``stack_fixtures.handlers``: the handlers that the local-stack tests' own templates
    name, importable as those templates' ``Handler`` values say."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).parent))
        yield importlib.import_module("stack_fixtures.handlers")
