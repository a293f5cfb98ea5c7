"""The slot hand-off on the real state machine: with one slot, a job that finds it taken parks
(entering no state while it waits), whoever frees the slot hands it to the oldest parked job
and wakes it, and a slot freed just before a job parks is found by the parking job itself.

The parked wait's safety net (SlotWaitSeconds) is far longer than any test here, and each
history is checked for it: a job that needed it would enter AcquireSlot twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pipeline_support import (
    API_LIMITS_OFF,
    PIPELINE_SPEED,
    semaphore,
    slot_line,
    wait_for_job,
    wait_until,
)

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

# Slow enough that the first job holds the slot while the others park.
SLOW = 1.0
STACK_PARAMETERS = (
    "MaxConcurrentJobs=1 SlotWaitSeconds=600 "
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=8 MaxPollIntervalSeconds=8 "
    "ProviderRetryIntervalSeconds=1 ProgressRefreshSeconds=1 "
    f"ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}"
)


def submit(api: httpx.Client, label: str) -> str:
    response = api.post("/videos", json={"prompt": f"{label}: a lighthouse", "seconds": "4"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def states_entered(service: LocalVideojobs, job_id: str) -> Counter[str]:
    sfn = service.stack.client("stepfunctions")
    machine = str(service.state()["state_machine_arn"])
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + job_id
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=arn, maxResults=1000)[
        "events"
    ]
    return Counter(
        event["stateEnteredEventDetails"]["name"]
        for event in events
        if event["type"].endswith("StateEntered")
    )


def test_jobs_queued_behind_one_slot_are_handed_it_in_turn_without_polling(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given one slot, held by a job generating slowly
    service.emulator.update_config(speed=SLOW)
    first = submit(api, "first")
    wait_until(lambda: first in semaphore(service)[1], timeout=20, what="the first job's slot")
    # When three more jobs are submitted, and park in line
    queued = [submit(api, f"queued {i}") for i in range(3)]
    wait_until(lambda: slot_line(service) == sorted(queued), timeout=20, what="three parked jobs")
    service.emulator.update_config(speed=PIPELINE_SPEED)
    # Then every job completes
    for job_id in [first, *queued]:
        assert wait_for_job(api, job_id, timeout=60)["status"] == "completed"
    # And each queued job tried for the slot once, parked once, and was handed the slot: no
    # retry loop, no safety-net timeout
    for job_id in queued:
        entered = states_entered(service, job_id)
        assert entered["AcquireSlot"] == 1, entered
        assert entered["ParkForSlot"] == 1, entered
        assert entered["Submit"] == 1, entered
    # And nothing is left holding a slot or standing in line
    wait_until(lambda: semaphore(service) == (0, set()), timeout=10, what="the slot to be freed")
    assert slot_line(service) == []


@pytest.fixture
def slot_freed_just_before_parking(
    service: LocalVideojobs, in_process: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Arranges the race: when the job named ``late`` joins the line, the job named ``holder``
    has just released the slot and found nobody in line to hand it to (its release lands
    between the late job's refused AcquireSlot and its parking)."""
    from videojobs.adapters.dal import control

    names: dict[str, str] = {}
    join_line = control.join_line

    def join_after_the_release(job_id: str, tenant_id: str, arrival: str) -> bool:
        if job_id == names.get("late"):
            assert control.release_slot(names["holder"])
        return join_line(job_id, tenant_id, arrival)

    monkeypatch.setattr(control, "join_line", join_after_the_release)
    yield names


def test_a_slot_freed_between_a_refused_acquire_and_parking_is_not_lost(
    service: LocalVideojobs, api: httpx.Client, slot_freed_just_before_parking: dict[str, str]
) -> None:
    names = slot_freed_just_before_parking
    # Given the one slot held by a job generating slowly
    service.emulator.update_config(speed=SLOW)
    names["holder"] = submit(api, "holder")
    wait_until(lambda: names["holder"] in semaphore(service)[1], timeout=20, what="the slot")
    # When another job finds it taken, and the slot is freed just before that job parks
    names["late"] = late = submit(api, "late")
    # Then the late job finds the free slot when it parks, and runs at once
    wait_until(lambda: late in semaphore(service)[1], timeout=20, what="the late job's slot")
    service.emulator.update_config(speed=PIPELINE_SPEED)
    assert wait_for_job(api, late, timeout=60)["status"] == "completed"
    entered = states_entered(service, late)
    assert entered["AcquireSlot"] == 1, entered
    assert entered["ParkForSlot"] == 1, entered
    # And the holder, whose slot was already given back, still ends normally, with nothing
    # left held or in line
    assert wait_for_job(api, names["holder"], timeout=60)["status"] == "completed"
    wait_until(lambda: semaphore(service) == (0, set()), timeout=10, what="the slot to be freed")
    assert slot_line(service) == []
