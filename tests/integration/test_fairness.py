"""Fairness between tenants on the real state machine: one tenant's burst holds at most
MaxJobsPerTenant of the MaxConcurrentJobs slots, so another tenant's job starts while the
first tenant's others wait; every way a job ends gives both counts back, and a cancel of a
waiting job gives back nothing it did not hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pipeline_support import (
    API_LIMITS_OFF,
    PIPELINE_SPEED,
    semaphore,
    tenant_slots,
    wait_for_job,
    wait_until,
)

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

MAX_CONCURRENT = 3
PER_TENANT = 1
# Slow enough that the first jobs hold their slots while the test looks at the line.
SLOW = 1.0
STACK_PARAMETERS = (
    f"MaxConcurrentJobs={MAX_CONCURRENT} MaxJobsPerTenant={PER_TENANT} "
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=4 MaxPollIntervalSeconds=4 "
    "SlotWaitSeconds=2 ProviderRetryIntervalSeconds=1 ProgressRefreshSeconds=1 "
    f"ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}"
)


def submit(api: httpx.Client, count: int, label: str) -> list[dict[str, Any]]:
    jobs = []
    for index in range(count):
        response = api.post(
            "/videos",
            json={"prompt": f"{label} {index}: a harbour", "seconds": "4", "size": "720x1280"},
        )
        assert response.status_code == 200, response.text
        jobs.append(response.json())
    return jobs


@pytest.fixture
def other_tenant(service: LocalVideojobs) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=service.api_url,
        headers={"Authorization": f"Bearer {service.create_tenant_key('tenant-b')}"},
        timeout=30.0,
    ) as client:
        yield client


def test_one_tenants_burst_does_not_keep_another_tenant_waiting(
    service: LocalVideojobs, api: httpx.Client, other_tenant: httpx.Client
) -> None:
    # Given a slow provider, and tenant A with 4 jobs submitted at once
    service.emulator.update_config(speed=SLOW)
    a_jobs = submit(api, 4, "tenant a")
    wait_until(
        lambda: service.emulator.stats()["created"] == PER_TENANT,
        timeout=20,
        what="tenant A's first job to reach the provider",
    )
    # When tenant B submits one job while A's other three wait
    [b_job] = submit(other_tenant, 1, "tenant b")
    # Then B's job gets a slot and reaches the provider although A's jobs are older
    wait_until(
        lambda: b_job["id"] in semaphore(service)[1],
        timeout=20,
        what="tenant B's job to take a slot",
    )
    wait_until(
        lambda: service.emulator.stats()["created"] == 2, timeout=20, what="B's job submitted"
    )
    # And A holds exactly one slot, with a free one left that A may not take
    in_flight, holders = semaphore(service)
    a_holding = [job["id"] for job in a_jobs if job["id"] in holders]
    assert (in_flight, len(a_holding)) == (2, PER_TENANT)
    assert tenant_slots(service) == {service.tenant_id: set(a_holding), "tenant-b": {b_job["id"]}}
    # And A's waiting jobs say that it is A's own cap that holds them
    a_waiting = [job["id"] for job in a_jobs if job["id"] not in holders]
    for job_id in a_waiting:
        seen = api.get(f"/videos/{job_id}").json()
        assert seen["status"] == "queued"
        assert seen["status_reason"] == "waiting_for_tenant_slot"
        assert seen["queue_position"] is not None
    running = api.get(f"/videos/{a_holding[0]}").json()
    assert running["queue_position"] is None
    assert running["status_reason"] not in {"waiting_for_slot", "waiting_for_tenant_slot"}

    # When A cancels one of its waiting jobs
    cancelled = a_waiting[0]
    assert api.delete(f"/videos/{cancelled}").status_code == 200
    # Then nothing is released that the job did not hold
    assert semaphore(service) == (2, {a_holding[0], b_job["id"]})
    assert tenant_slots(service) == {service.tenant_id: set(a_holding), "tenant-b": {b_job["id"]}}

    # And when the provider speeds up, every other job completes, A never generating two
    # videos at once, and no slot is left behind by anyone
    service.emulator.update_config(speed=PIPELINE_SPEED)
    for job in a_jobs:
        if job["id"] != cancelled:
            assert wait_for_job(api, job["id"], timeout=60)["status"] == "completed"
    assert wait_for_job(other_tenant, b_job["id"], timeout=60)["status"] == "completed"
    assert service.emulator.stats()["max_in_progress"] <= PER_TENANT + 1
    wait_until(lambda: semaphore(service) == (0, set()), timeout=15, what="slots to be freed")
    assert tenant_slots(service) == {}


def test_aborted_executions_give_back_their_tenants_slots(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given tenant A's job generating slowly with A's one slot, and a second one waiting
    service.emulator.update_config(speed=SLOW)
    first, second = submit(api, 2, "abort")
    wait_until(
        lambda: first["id"] in semaphore(service)[1], timeout=20, what="the first job's slot"
    )
    # When an operator aborts the running execution
    machine = str(service.state()["state_machine_arn"])
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + first["id"]
    service.stack.client("stepfunctions").stop_execution(executionArn=arn, cause="operator")
    # Then the reaper gives A's slot back, and A's next job takes it and completes
    service.emulator.update_config(speed=PIPELINE_SPEED)
    assert wait_for_job(api, first["id"])["error"]["code"] == "workflow_aborted"
    assert wait_for_job(api, second["id"])["status"] == "completed"
    wait_until(lambda: semaphore(service) == (0, set()), timeout=15, what="slots to be freed")
    assert tenant_slots(service) == {}


def test_the_sweep_gives_back_a_tenants_count_with_a_stale_slot(
    service: LocalVideojobs, api: httpx.Client, in_process: None
) -> None:
    from videojobs.adapters.workflow import execution_status
    from videojobs.logic.finalize_job import sweep_slots

    # Given a holder with no execution at all, counted in the global slots and in tenant A's,
    # as if its execution had ended without its release or its status-change event
    ghost = "video_" + "0" * 32
    service.stack.client("dynamodb").update_item(
        TableName=service.state()["control_table"],
        Key={"pk": {"S": "semaphore#jobs"}},
        UpdateExpression="SET in_flight = if_not_exists(in_flight, :zero) + :one "
        "ADD holders :ghost, #tenant :ghost",
        ExpressionAttributeNames={"#tenant": f"tenant#{service.tenant_id}"},
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":ghost": {"SS": [ghost]},
        },
    )
    assert tenant_slots(service) == {service.tenant_id: {ghost}}
    # When the periodic sweep runs
    assert sweep_slots(execution_status) == [ghost]
    # Then both counts are free, and tenant A's next job gets its one slot and completes
    assert semaphore(service) == (0, set())
    assert tenant_slots(service) == {}
    [job] = submit(api, 1, "after the sweep")
    assert wait_for_job(api, job["id"])["status"] == "completed"
    # And a second sweep finds nothing to free
    assert sweep_slots(execution_status) == []
