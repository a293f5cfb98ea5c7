"""The reaper's schedule frees a slot whose execution is gone (a lost status-change event),
through the template's own Schedule event, and leaves running jobs' slots alone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from pipeline_support import semaphore

from videojobs_local.local import LocalVideojobs

ROOT = Path(__file__).resolve().parents[2]


def test_the_scheduled_sweep_frees_a_leaked_slot_and_keeps_running_ones(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job generating slowly, and a slot held by an execution that does not exist
    service.emulator.update_config(speed=1.0)
    response = api.post("/videos", json={"prompt": "a slow tide", "seconds": "4"})
    assert response.status_code == 200, response.text
    running = response.json()["id"]
    deadline = time.monotonic() + 20
    while running not in semaphore(service)[1]:
        assert time.monotonic() < deadline, "the job never took a slot"
        time.sleep(0.1)
    ghost = "video_" + "f" * 32
    service.stack.client("dynamodb").update_item(
        TableName=service.state()["control_table"],
        Key={"pk": {"S": "semaphore#jobs"}},
        UpdateExpression="SET in_flight = in_flight + :one ADD holders :ghost",
        ExpressionAttributeValues={":one": {"N": "1"}, ":ghost": {"SS": [ghost]}},
    )
    in_flight, holders = semaphore(service)
    assert ghost in holders and in_flight == len(holders)
    # When the template's sweep schedule fires
    service.stack.fire_schedule("ReaperFunctionSlotSweep")
    # Then the leaked slot is freed and the running job keeps its own
    deadline = time.monotonic() + 20
    while ghost in semaphore(service)[1]:
        assert time.monotonic() < deadline, "the leaked slot was never freed"
        time.sleep(0.1)
    in_flight, holders = semaphore(service)
    assert running in holders
    assert in_flight == len(holders)


def test_the_sample_scheduled_event_drives_the_sweep(service: LocalVideojobs) -> None:
    # Given a leaked slot
    ghost = "video_" + "e" * 32
    service.stack.client("dynamodb").update_item(
        TableName=service.state()["control_table"],
        Key={"pk": {"S": "semaphore#jobs"}},
        UpdateExpression=(
            "SET in_flight = if_not_exists(in_flight, :zero) + :one ADD holders :ghost"
        ),
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":ghost": {"SS": [ghost]},
        },
    )
    # When the reaper gets the sample scheduled event (as with sam local invoke -e)
    event = json.loads((ROOT / "events/reaper_scheduled_sweep.json").read_text())
    result = service.stack.invoke("ReaperFunction", event)
    # Then it swept the leaked slot
    assert result.function_error is None
    assert ghost in result.json()["swept"]
    assert ghost not in semaphore(service)[1]
    # ... and sampled the slot line for the dashboard (SlotsInUse, JobsWaiting), after the sweep
    assert result.json()["slots_in_use"] == semaphore(service)[0]
    assert result.json()["jobs_waiting"] == 0
