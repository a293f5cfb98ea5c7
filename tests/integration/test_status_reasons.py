"""Why a job waits, as the API says it (``status_reason``), on the real state machine: in
line for a full slot pool, held back by the provider request budget, generating, ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pipeline_support import PIPELINE_SPEED, wait_for_job

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

# One slot, so a second job waits in line; a fast provider rate, so only the test's pause
# holds anything back.
STACK_PARAMETERS = (
    "MaxConcurrentJobs=1 ProviderRequestsPerMinute=600 FirstStatusCheckSeconds=0 "
    "PollIntervalSeconds=4 MaxPollIntervalSeconds=4 SlotWaitSeconds=2 "
    "ProviderRetryIntervalSeconds=1 ProgressRefreshSeconds=1"
)
SLOW = 1.0  # a 4-s clip takes over a minute: the first job keeps its slot while we look


def submit(api: httpx.Client, label: str) -> dict[str, Any]:
    response = api.post("/videos", json={"prompt": f"{label}: a lighthouse", "seconds": "4"})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def seen(api: httpx.Client, job_id: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    return wait_for_job(api, job_id, until=check, timeout=30)


def test_a_full_slot_pool_says_who_waits_for_a_slot_and_who_for_the_provider(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a slow provider and one slot
    service.emulator.update_config(speed=SLOW)
    # When two jobs are submitted
    first = submit(api, "first")
    second = submit(api, "second")
    # Then the first, generating, waits for the provider, and the second waits for the slot,
    # first in line
    running = seen(api, first["id"], lambda job: job["status"] == "in_progress")
    assert running["status_reason"] == "waiting_for_provider"
    assert running["queue_position"] is None
    waiting = api.get(f"/videos/{second['id']}").json()
    assert waiting["status"] == "queued"
    assert waiting["status_reason"] == "waiting_for_slot"
    assert waiting["queue_position"] == 1
    # And in the listing too
    listed = {job["id"]: job for job in api.get("/videos").json()["data"]}
    assert listed[second["id"]]["status_reason"] == "waiting_for_slot"
    # And once both have finished, neither has a reason any more
    service.emulator.update_config(speed=PIPELINE_SPEED)
    for job in (first, second):
        done = wait_for_job(api, job["id"], timeout=60)
        assert done["status"] == "completed"
        assert done["status_reason"] is None


def test_a_spent_provider_budget_shows_as_provider_throttled_then_the_job_goes_on(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    from videojobs.adapters.dal.rate_limit import TokenBucket
    from videojobs.settings import get_settings

    # Given a provider request budget that is spent for the next 6 s
    get_settings.cache_clear()
    bucket = TokenBucket(get_settings().provider_requests_per_minute)
    bucket.pause(int((time.time() + 6) * 1000))
    # When a job is submitted
    job = submit(api, "throttled")
    # Then, while its create waits for the budget, the job says so: queued, not in line
    held = seen(api, job["id"], lambda j: j["status_reason"] == "provider_throttled")
    assert held["status"] == "queued"
    assert held["queue_position"] is None
    assert service.emulator.stats()["created"] == 0
    # And once the budget is back it completes, with no reason left
    done = wait_for_job(api, job["id"], timeout=60)
    assert done["status"] == "completed"
    assert done["status_reason"] is None
    assert service.emulator.stats()["created"] == 1
