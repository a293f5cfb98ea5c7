"""The line for a concurrency slot, on the real semaphore item and slot-line table (moto): a
job that finds no slot parks, a freed slot goes to the oldest job in line whose tenant is
under its cap, and neither a race between parking and freeing nor a stale task token loses or
leaks a slot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from job_factory import NOW, make_job
from template_tables import create_table

from videojobs.adapters import workflow
from videojobs.adapters.dal import control, jobs
from videojobs.logic import slots
from videojobs.models.errors import JobCancelledError
from videojobs.models.job import JobStatus
from videojobs.settings import get_settings

CONTROL_TABLE = "videojobs-control-unit"
SLOT_LINE_TABLE = "videojobs-slot-line-unit"


@dataclass
class Wakes:
    """SendTaskSuccess as the workflow sees it: live tokens wake, stale ones answer False."""

    stale: set[str] = field(default_factory=set)
    woken: list[str] = field(default_factory=list)

    def wake(self, token: str, output: dict[str, Any]) -> bool:
        if token in self.stale:
            return False
        self.woken.append(token)
        return True


@pytest.fixture
def line(jobs_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wakes]:
    """Two slots, at most one per tenant; the control table beside the jobs table."""
    monkeypatch.setenv("CONTROL_TABLE", CONTROL_TABLE)
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "2")
    monkeypatch.setenv("MAX_JOBS_PER_TENANT", "1")
    get_settings.cache_clear()
    monkeypatch.setenv("SLOT_LINE_TABLE", SLOT_LINE_TABLE)
    create_table("ControlTable", CONTROL_TABLE)
    create_table("SlotLineTable", SLOT_LINE_TABLE)
    wakes = Wakes()
    monkeypatch.setattr(workflow, "wake", wakes.wake)
    yield wakes
    get_settings.cache_clear()


def queued_job(job_id: str, tenant: str, age: int) -> str:
    """A queued job created ``age`` seconds before the others (older = earlier in line)."""
    jobs.create(make_job(job_id=job_id, tenant_id=tenant, created_at=NOW - age))
    return job_id


def acquire(job_id: str, tenant: str) -> None:
    """What the state machine's AcquireSlot writes when it succeeds."""
    boto3.resource("dynamodb").Table(CONTROL_TABLE).update_item(
        Key={"pk": control.SEMAPHORE_KEY},
        UpdateExpression="SET in_flight = if_not_exists(in_flight, :zero) + :one "
        "ADD holders :h, #t :h",
        ExpressionAttributeNames={"#t": control.tenant_holders_attribute(tenant)},
        ExpressionAttributeValues={":zero": 0, ":one": 1, ":h": {job_id}},
    )


def semaphore() -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(CONTROL_TABLE)
    return dict(table.get_item(Key={"pk": control.SEMAPHORE_KEY}).get("Item") or {})


def test_a_freed_slot_goes_to_the_oldest_parked_job_which_is_woken(line: Wakes) -> None:
    # Given both slots taken and two jobs of other tenants parked, the younger first
    acquire("run-a", "a")
    acquire("run-b", "b")
    assert slots.park_for_slot(queued_job("young", "c", age=1), "c", "token-young") is False
    assert slots.park_for_slot(queued_job("old", "d", age=5), "d", "token-old") is False
    assert line.woken == []
    # When one slot is freed
    assert slots.free("run-a") is True
    # Then the older job holds it and was woken; the younger still waits in line
    assert line.woken == ["token-old"]
    item = semaphore()
    assert item["holders"] == {"run-b", "old"}
    assert int(item["in_flight"]) == 2
    assert [w.job_id for w in control.line()] == ["young"]


def test_a_job_whose_tenant_is_at_its_cap_is_passed_over_not_dropped(line: Wakes) -> None:
    # Given tenant a holding its one slot, with an older job of its own in line
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("a-2", "a", age=9), "a", "token-a-2")
    slots.park_for_slot(queued_job("c-1", "c", age=1), "c", "token-c-1")
    # When tenant b's job ends, freeing a slot tenant a may not take
    slots.free("run-b")
    # Then tenant c's younger job gets it, and a's job keeps its place
    assert line.woken == ["token-c-1"]
    assert [w.job_id for w in control.line()] == ["a-2"]
    # And when a's own job ends, a's waiting job gets that slot
    slots.free("run-a")
    assert line.woken == ["token-c-1", "token-a-2"]
    assert semaphore()["holders"] == {"c-1", "a-2"}


def test_a_job_parking_just_as_the_last_slot_frees_wakes_itself(line: Wakes) -> None:
    # Given a job whose AcquireSlot failed while both slots were taken
    acquire("run-a", "a")
    acquire("run-b", "b")
    late = queued_job("late", "c", age=0)
    # When a slot is freed before it parks (nobody is in line to hand it to)
    assert slots.free("run-a") is True
    assert line.woken == []
    # Then parking finds the free slot and wakes the job itself, holding it
    assert slots.park_for_slot(late, "c", "token-late") is True
    assert line.woken == ["token-late"]
    assert "late" in semaphore()["holders"]
    assert control.line() == []


def test_a_job_that_already_holds_a_slot_goes_on_without_joining_the_line(line: Wakes) -> None:
    # Given an AcquireSlot that took the slot but whose answer was lost (its retry was refused)
    acquire("dup", "a")
    queued_job("dup", "a", age=0)
    # When the job parks
    woke = slots.park_for_slot("dup", "a", "token-dup")
    # Then it wakes itself at once, still holding exactly one slot
    assert woke is True and line.woken == ["token-dup"]
    item = semaphore()
    assert item["holders"] == {"dup"} and int(item["in_flight"]) == 1
    assert control.line() == []


def test_a_stale_token_gives_the_slot_back_and_it_goes_to_the_next_job(line: Wakes) -> None:
    # Given two parked jobs, the older one's wait already over (its token is stale)
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("gone", "c", age=9), "c", "token-gone")
    slots.park_for_slot(queued_job("next", "d", age=1), "d", "token-next")
    line.stale.add("token-gone")
    # When a slot is freed
    slots.free("run-a")
    # Then the slot did not stay with the job that could not be woken: the next job has it
    item = semaphore()
    assert item["holders"] == {"run-b", "next"}
    assert int(item["in_flight"]) == 2
    assert line.woken == ["token-next"]
    assert "gone" not in item.get(control.WOKEN, set())


def test_a_job_that_confirmed_its_slot_keeps_it_despite_a_stale_first_token(line: Wakes) -> None:
    # Given a job granted a slot whose first wait had timed out, and which parked again
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("slow", "c", age=9), "c", "token-1")
    line.stale.add("token-1")
    assert control.grant_next(limit=3, tenant_limit=1) is not None  # a third slot appears
    # When its second park confirms the slot before the granter learns the token was stale
    assert slots.park_for_slot("slow", "c", "token-2") is True
    # Then the granter's late give-back changes nothing: the job keeps its slot
    assert control.release_unconfirmed("slow") is False
    assert "slow" in semaphore()["holders"]
    assert line.woken == ["token-2"]


def test_a_job_cancelled_while_parked_leaves_the_line(line: Wakes) -> None:
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("cancelled", "c", age=5), "c", "token-c")
    jobs.transition("cancelled", JobStatus.CANCELLED, allowed_from=[JobStatus.QUEUED])
    # When its cancel gives back what it holds
    assert slots.free("cancelled") is False
    # Then it is out of the line, and a freed slot wakes nobody for it
    assert control.line() == []
    slots.free("run-a")
    assert line.woken == []
    assert int(semaphore()["in_flight"]) == 1


def test_a_job_that_ended_cannot_park(line: Wakes) -> None:
    queued_job("ended", "a", age=0)
    jobs.transition("ended", JobStatus.CANCELLED, allowed_from=[JobStatus.QUEUED])
    with pytest.raises(JobCancelledError):
        slots.park_for_slot("ended", "a", "token-ended")
    assert control.line() == []


def test_releasing_twice_frees_one_slot(line: Wakes) -> None:
    acquire("run-a", "a")
    acquire("run-b", "b")
    assert slots.free("run-a") is True
    assert slots.free("run-a") is False
    assert int(semaphore()["in_flight"]) == 1


def test_the_semaphore_item_does_not_grow_with_the_line(line: Wakes) -> None:
    # Given both slots taken, and the semaphore's size with nobody in line
    acquire("run-a", "a")
    acquire("run-b", "b")
    empty_line = len(repr(sorted(semaphore().items())))
    # When sixty jobs park
    for number in range(60):
        job_id = f"parked-{number:02d}"
        slots.park_for_slot(
            queued_job(job_id, f"t{number}", age=100 - number), f"t{number}", job_id
        )
    # Then they are all in line, oldest first, and the semaphore item is the size it was
    assert [w.job_id for w in control.line()] == [f"parked-{n:02d}" for n in range(60)]
    assert len(repr(sorted(semaphore().items()))) == empty_line
    # And a freed slot still goes to the oldest, read past the first page of the line
    slots.free("run-a")
    assert line.woken == ["parked-00"]


def test_a_job_in_line_that_already_holds_a_slot_is_dropped_not_granted_twice(
    line: Wakes,
) -> None:
    # Given a parked job that then got a slot by its own AcquireSlot (its wait had timed out)
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("both", "c", age=9), "c", "token-both")
    slots.park_for_slot(queued_job("next", "d", age=1), "d", "token-next")
    slots.free("run-a")
    assert line.woken == ["token-both"]
    assert [w.job_id for w in control.line()] == ["next"]
    # When a job is put back in line while holding its slot (a retried join)
    table = boto3.resource("dynamodb").Table(SLOT_LINE_TABLE)
    table.put_item(Item={"line": "jobs", "place": "0#both", "job_id": "both", "tenant_id": "c"})
    slots.free("run-b")
    # Then the freed slot goes to the next job, and the holder's stale place is dropped
    assert line.woken == ["token-both", "token-next"]
    assert control.line() == []
    assert semaphore()["holders"] == {"both", "next"}


def test_the_sweep_wakes_a_granted_job_its_waker_left_parked(
    line: Wakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job granted a slot whose waker stopped before SendTaskSuccess
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("left", "c", age=5), "c", "token-left")
    slots.free("run-a")
    line.woken.clear()  # the wake-up that never went out
    # When the sweep runs well after the job parked
    later = jobs.get("left").updated_at + slots.STALLED_GRANT_SECONDS + 1
    monkeypatch.setattr(slots.time, "time", lambda: later)
    woken = slots.sweep_line()
    # Then it is woken again, still holding its one slot
    assert woken == ["left"] and line.woken == ["token-left"]
    assert semaphore()["holders"] == {"run-b", "left"}


def test_the_sweep_leaves_a_job_granted_a_moment_ago_alone(line: Wakes) -> None:
    # Given a job just granted a slot (its wake-up may still be on its way)
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("fresh", "c", age=5), "c", "token-fresh")
    slots.free("run-a")
    line.woken.clear()
    # When the sweep runs at once, Then nobody is woken twice
    assert slots.sweep_line() == []
    assert line.woken == []


def test_the_sweep_hands_out_a_slot_whose_releaser_stopped_before_handing_it_on(
    line: Wakes,
) -> None:
    # Given a parked job and a slot released without the hand-out that should follow
    acquire("run-a", "a")
    acquire("run-b", "b")
    slots.park_for_slot(queued_job("waiting", "c", age=5), "c", "token-waiting")
    assert control.release_slot("run-a")
    assert line.woken == []
    # When the sweep runs, Then the free slot goes to the job in line
    assert slots.sweep_line() == ["waiting"]
    assert line.woken == ["token-waiting"]
    assert control.line() == []
