"""The scale bench's end-of-run checks: the semaphore item read as slots, the slot line and
unconfirmed wake-ups, duplicate provider creates, and the rate-limit envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def scale() -> Iterator[ModuleType]:
    """bench/scale.py, importable as the benches import each other (bench/ on the path)."""
    import importlib

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))
        yield importlib.import_module("scale")


def test_the_semaphore_and_the_line_show_holders_waiters_and_unconfirmed_wake_ups(
    scale: ModuleType,
) -> None:
    from videojobs.adapters.dal.control import WOKEN

    item = {
        "pk": {"S": "semaphore#jobs"},
        "in_flight": {"N": "2"},
        "holders": {"SS": ["video_a", "video_b"]},
        "tenant#acme": {"SS": ["video_a", "video_b"]},
        WOKEN: {"SS": ["video_b"]},
    }
    line = [
        {"line": {"S": "jobs"}, "place": {"S": p}, "job_id": {"S": j}, "tenant_id": {"S": "acme"}}
        for p, j in (("1#video_c", "video_c"), ("2#video_d", "video_d"))
    ]

    state = scale.semaphore_state(item, line)

    assert state.in_flight == 2
    assert state.holders == {"video_a", "video_b"}
    assert state.waiters == {"video_c", "video_d"}
    assert state.woken == {"video_b"}


def test_an_empty_semaphore_item_holds_nothing(scale: ModuleType) -> None:
    state = scale.semaphore_state({})

    assert (state.in_flight, state.holders, state.waiters, state.woken) == (0, set(), set(), set())


def test_duplicate_creates_counts_videos_beyond_one_per_job(scale: ModuleType) -> None:
    videos = ["job 1", "job 2", "job 2", "job 3", "job 3", "job 3", "someone else", "someone else"]

    duplicates = scale.duplicate_creates(videos, ["job 1", "job 2", "job 3", "job 4"])

    # A job with no video (job 4) is not a duplicate; videos of other prompts do not count.
    assert duplicates == {"job 2": 1, "job 3": 2}
    assert sum(duplicates.values()) == 3


def test_the_envelope_is_exceeded_only_by_a_burst_beyond_capacity(scale: ModuleType) -> None:
    within = [0.0, 0.0, 0.0, 1.0]  # capacity 3, then one a second
    beyond = [0.0, 0.0, 0.0, 0.0, 0.0]

    assert scale.envelope_excess(within, capacity=3, per_second=1.0) <= 0
    assert scale.envelope_excess(beyond, capacity=3, per_second=1.0) > 0
    assert scale.busiest_window([*beyond, 100.0], 60.0) == 5
