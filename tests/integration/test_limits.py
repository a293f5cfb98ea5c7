"""The global limits on the real state machine: at most MaxConcurrentJobs videos in flight
(the rest wait in line, with a queue position), no slot leaked when executions are aborted,
and provider requests held to ProviderRequestsPerMinute across every function."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from pipeline_support import API_LIMITS_OFF, PIPELINE_SPEED, semaphore, slot_line, wait_until

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

MAX_CONCURRENT = 3
RATE_PER_MINUTE = 120  # the bucket's capacity too: one minute of requests
FAST = PIPELINE_SPEED  # a 4-s sora-2 clip generates in about 0.75 s
# Slow enough that the first jobs hold their slots while the test looks at the line.
SLOW = 1.0
# The parked wait's safety net, far longer than any test here: a waiting job is woken when a
# slot is handed to it, never by this timer.
SLOT_WAIT = 600
# The module's stack (see conftest.running_service).
STACK_PARAMETERS = (
    f"MaxConcurrentJobs={MAX_CONCURRENT} ProviderRequestsPerMinute={RATE_PER_MINUTE} "
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=4 MaxPollIntervalSeconds=4 "
    f"SlotWaitSeconds={SLOT_WAIT} "
    f"ProviderRetryIntervalSeconds=1 ProgressRefreshSeconds=1 {API_LIMITS_OFF}"
)
TERMINAL = {"completed", "failed", "cancelled"}


# --- helpers ---------------------------------------------------------------------------------


def submit_jobs(api: httpx.Client, count: int, label: str) -> list[dict[str, Any]]:
    jobs = []
    for index in range(count):
        response = api.post(
            "/videos",
            json={"prompt": f"{label} {index}: a lighthouse", "seconds": "4", "size": "720x1280"},
        )
        assert response.status_code == 200, response.text
        jobs.append(response.json())
    return jobs


def execution_arn(service: LocalVideojobs, job_id: str) -> str:
    machine = str(service.state()["state_machine_arn"])
    return machine.replace(":stateMachine:", ":execution:") + ":" + job_id


def jobs_waiting_in_index(service: LocalVideojobs) -> int:
    resp = service.stack.client("dynamodb").query(
        TableName=service.state()["jobs_table"],
        IndexName="by-waiting",
        KeyConditionExpression="waiting = :w",
        ExpressionAttributeValues={":w": {"S": "slot"}},
        Select="COUNT",
    )
    return int(resp["Count"])


def finish_all(service: LocalVideojobs, jobs: list[dict[str, Any]], timeout: float) -> None:
    """Wait for every execution to end (without reading the jobs through the API, which
    would add provider requests of its own)."""
    deadline = time.monotonic() + timeout
    for job in jobs:
        left = max(1.0, deadline - time.monotonic())
        service.stack.wait_for_execution(execution_arn(service, job["id"]), timeout=left)


def statuses(api: httpx.Client, jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for job in jobs:
        response = api.get(f"/videos/{job['id']}")
        assert response.status_code == 200, response.text
        found[job["id"]] = response.json()
    return found


# --- concurrency -----------------------------------------------------------------------------


def test_twelve_jobs_never_exceed_three_in_flight_and_queued_ones_show_their_place(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a slow provider, so that the first jobs hold their slots for a while
    service.emulator.update_config(speed=SLOW)
    # When 12 jobs are submitted at once
    jobs = submit_jobs(api, 12, "concurrency")
    wait_until(
        lambda: service.emulator.stats()["created"] == MAX_CONCURRENT,
        timeout=20,
        what="three jobs to reach the provider",
    )
    # Then 3 hold a slot and are not in line, and the other 9 are queued with places 1..9,
    # the oldest first
    seen = statuses(api, jobs)
    in_flight, holders = semaphore(service)
    assert in_flight == MAX_CONCURRENT
    assert len(holders) == MAX_CONCURRENT
    assert all(seen[job_id]["queue_position"] is None for job_id in holders)
    waiting = sorted(
        (job for job_id, job in seen.items() if job_id not in holders),
        key=lambda job: (job["created_at"], job["id"]),
    )
    assert [job["status"] for job in waiting] == ["queued"] * 9
    assert [job["queue_position"] for job in waiting] == list(range(1, 10))
    # And when the provider speeds up, all 12 complete, never more than 3 generating at once
    service.emulator.update_config(speed=FAST)
    finish_all(service, jobs, timeout=40)
    done = statuses(api, jobs)
    assert {job["status"] for job in done.values()} == {"completed"}
    assert all(job["queue_position"] is None for job in done.values())
    stats = service.emulator.stats()
    assert stats["created"] == 12
    assert stats["max_in_progress"] <= MAX_CONCURRENT
    assert semaphore(service) == (0, set())
    assert jobs_waiting_in_index(service) == 0
    # And no job in line polled for its slot: each tried AcquireSlot once, parked once, and
    # was handed a slot (its wait never timed out)
    sfn = service.stack.client("stepfunctions")
    for job in waiting:
        entered = states_entered(sfn, execution_arn(service, job["id"]))
        assert entered["AcquireSlot"] == 1, entered
        assert entered["ParkForSlot"] == 1, entered
        assert timeouts(sfn, execution_arn(service, job["id"])) == 0


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return list(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


def states_entered(sfn: Any, arn: str) -> Counter[str]:
    """How many times an execution entered each state."""
    return Counter(
        event["stateEnteredEventDetails"]["name"]
        for event in history(sfn, arn)
        if event["type"].endswith("StateEntered")
    )


def timeouts(sfn: Any, arn: str) -> int:
    """How many of an execution's task-token waits ran out of time."""
    return sum(1 for event in history(sfn, arn) if event["type"] == "TaskTimedOut")


def test_aborting_executions_mid_flight_leaks_no_slot(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given 6 jobs: 3 generating slowly with a slot each, 3 waiting in line
    service.emulator.update_config(speed=SLOW)
    jobs = submit_jobs(api, 6, "abort")
    wait_until(
        lambda: service.emulator.stats()["created"] == MAX_CONCURRENT,
        timeout=20,
        what="three jobs to reach the provider",
    )
    _, holders = semaphore(service)
    running = [job["id"] for job in jobs if job["id"] in holders]
    queued = [job["id"] for job in jobs if job["id"] not in holders]
    # When an operator aborts two running executions and one waiting for a slot
    aborted = [running[0], running[1], queued[0]]
    sfn = service.stack.client("stepfunctions")
    for job_id in aborted:
        sfn.stop_execution(executionArn=execution_arn(service, job_id), cause="operator")
    service.emulator.update_config(speed=FAST)
    finish_all(service, jobs, timeout=40)
    # Then the aborted jobs end failed with the reason, and every other job completes
    wait_until(
        lambda: all(job["status"] in TERMINAL for job in statuses(api, jobs).values()),
        timeout=15,
        what="the reaper to settle the aborted jobs",
    )
    done = statuses(api, jobs)
    for job_id in aborted:
        assert done[job_id]["status"] == "failed", done[job_id]
        assert done[job_id]["error"]["code"] == "workflow_aborted"
    assert [done[j]["status"] for j in done if j not in aborted] == ["completed"] * 3
    # And no slot is held by anyone, and no job is left in line
    wait_until(lambda: semaphore(service) == (0, set()), timeout=10, what="slots to be freed")
    assert jobs_waiting_in_index(service) == 0
    assert slot_line(service) == []
    # The reaper hands an aborted job's slot to the next job at once; the aborted job's video
    # may still be generating at the provider then (an abort does not delete it), so the
    # provider can see the two aborted videos on top of the three jobs in flight.
    assert service.emulator.stats()["max_in_progress"] <= MAX_CONCURRENT + 2


def test_the_sweep_frees_slots_whose_execution_ended_and_leaves_running_ones(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    from botocore.exceptions import ClientError

    from videojobs.logic.finalize_job import sweep_slots

    sfn = service.stack.client("stepfunctions")
    ddb = service.stack.client("dynamodb")
    control = service.state()["control_table"]
    # Given a finished job whose slot came back into the semaphore as if its release was
    # lost, a holder with no execution at all, and a job still generating
    [finished] = submit_jobs(api, 1, "sweep finished")
    finish_all(service, [finished], timeout=30)
    service.emulator.update_config(speed=SLOW)
    [running] = submit_jobs(api, 1, "sweep running")
    wait_until(lambda: running["id"] in semaphore(service)[1], timeout=20, what="a slot taken")
    ghost = "video_" + "0" * 32
    ddb.update_item(
        TableName=control,
        Key={"pk": {"S": "semaphore#jobs"}},
        UpdateExpression="SET in_flight = in_flight + :two ADD holders :leaked",
        ExpressionAttributeValues={":two": {"N": "2"}, ":leaked": {"SS": [finished["id"], ghost]}},
    )
    assert semaphore(service) == (3, {finished["id"], ghost, running["id"]})

    def execution_status(job_id: str) -> str | None:
        try:
            described = sfn.describe_execution(executionArn=execution_arn(service, job_id))
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ExecutionDoesNotExist"
            return None
        return str(described["status"])

    # When the sweep runs
    reaped = sweep_slots(execution_status)
    # Then the two stale slots are free, the running job keeps its slot, and nothing changed
    # for the finished job
    assert reaped == sorted([finished["id"], ghost])
    assert semaphore(service) == (1, {running["id"]})
    assert statuses(api, [finished])[finished["id"]]["status"] == "completed"
    service.emulator.update_config(speed=FAST)
    finish_all(service, [running], timeout=30)
    assert semaphore(service) == (0, set())


# --- provider request rate -------------------------------------------------------------------


def heaviest_window_excess(times: list[float], capacity: float, per_second: float) -> float:
    """How far the busiest stretch of requests goes over the bucket's promise: in any window
    of ``d`` seconds, at most ``capacity + per_second * d`` requests. <= 0 means within.

    A request reaches the provider a moment after its token was taken; 0.25 s of that
    delay is forgiven at each end of a window.
    """
    ordered = sorted(times)
    worst = float("-inf")
    for i, start in enumerate(ordered):
        for j in range(i, len(ordered)):
            allowed = capacity + per_second * (ordered[j] - start + 0.25)
            worst = max(worst, (j - i + 1) - allowed)
    return worst


def test_a_burst_over_the_rate_is_queued_within_the_limit_and_fails_no_job(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    from videojobs.logic.provider_access import get_provider
    from videojobs.settings import get_settings

    # Given a full bucket of 120 requests a minute (2 a second, up to 120 at once)
    service.stack.client("dynamodb").delete_item(
        TableName=service.state()["control_table"], Key={"pk": {"S": "ratelimit#provider"}}
    )
    get_settings.cache_clear()
    assert get_settings().provider_requests_per_minute == RATE_PER_MINUTE
    # When other work sends 125 provider requests at once while 4 jobs run
    burst, errors = 125, []
    left = iter(range(burst))
    lock = threading.Lock()

    def caller() -> None:
        provider = get_provider(max_wait_seconds=60)
        while True:
            with lock:
                if next(left, None) is None:
                    return
            try:
                provider.list(limit=1)
            except Exception as exc:  # whatever it is, the test reports it
                errors.append(exc)

    callers = [threading.Thread(target=caller) for _ in range(8)]
    for thread in callers:
        thread.start()
    jobs = submit_jobs(api, 4, "rate")
    for thread in callers:
        thread.join(timeout=60)
    finish_all(service, jobs, timeout=45)
    # Then every request went through, the jobs all completed, and the provider saw no
    # stretch of requests beyond the bucket's promise, nor a single 429
    assert errors == []
    assert {job["status"] for job in statuses(api, jobs).values()} == {"completed"}
    log = service.emulator.requests()
    assert len(log) >= burst + 4 * 4
    assert all(r["status"] != 429 for r in log)
    times = [float(r["time"]) for r in log]
    assert heaviest_window_excess(times, RATE_PER_MINUTE, RATE_PER_MINUTE / 60) <= 0
    # And the bucket really held requests back: past the first 120, two a second at most
    assert max(times) - min(times) >= (len(times) - RATE_PER_MINUTE) / 2 - 1
