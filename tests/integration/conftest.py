"""The whole service on this machine: the real template and state machine on moto, the
emulator as provider. One stack per test module (a process runs one stack at a time)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from videojobs_local.local import LocalVideojobs, run_local

# Provider-side time runs 100x faster: a 4 s sora-2 video takes about 0.75 s to generate.
PIPELINE_SPEED = 100.0
# Status checks start at the poll interval (FirstStatusCheckSeconds=0, not a clip's normal
# generation time): webhooks wake jobs long before the first one is due (8 s, with room for a
# busy machine), and a test that drops them needs no long wait.
PIPELINE_PARAMETERS = (
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=8 MaxPollIntervalSeconds=8 SlotWaitSeconds=2 "
    "ProviderRetryIntervalSeconds=1 MaxConcurrentJobs=5 ProgressRefreshSeconds=1 "
    # The provider rate limit is exercised by test_limits; elsewhere it would only slow tests.
    "ProviderRequestsPerMinute=6000"
)


@pytest.fixture(scope="module")
def running_service(render_cache_dir: Path) -> Iterator[LocalVideojobs]:
    with run_local(
        emulator_speed=PIPELINE_SPEED,
        parameter_overrides=PIPELINE_PARAMETERS,
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


def wait_for_job(
    api: httpx.Client,
    job_id: str,
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll GET /v1/videos/{id} until ``until`` holds (default: a terminal status)."""
    done = until or (lambda job: job["status"] in {"completed", "failed", "cancelled"})
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/videos/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.2)
