"""The AWS cost bench's arithmetic: DynamoDB item sizes and request units, and the state
transitions Step Functions bills for an execution history."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def cost() -> Iterator[ModuleType]:
    """bench/aws_cost.py, importable as the benches import each other (bench/ on the path)."""
    import importlib

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))
        yield importlib.import_module("aws_cost")


def test_an_item_is_sized_the_same_from_the_wire_format_and_from_python_values(
    cost: ModuleType,
) -> None:
    wire = {
        "job_id": {"S": "video_1"},
        "bytes": {"N": "12345"},
        "tags": {"SS": ["a", "bc"]},
        "done": {"BOOL": True},
        "assets": {"M": {"key": {"S": "videos/x"}}},
    }
    python = {
        "job_id": "video_1",
        "bytes": Decimal(12345),
        "tags": {"a", "bc"},
        "done": True,
        "assets": {"key": "videos/x"},
    }

    # 6+7, 5+3 (five digits: 5 // 2 + 1), 4+3, 4+1, 6+(3+3+8+1)
    assert cost.item_size(wire) == 13 + 8 + 7 + 5 + 21
    assert cost.item_size(python) == cost.item_size(wire)


def test_writes_cost_a_unit_per_started_kilobyte_and_reads_per_four(cost: ModuleType) -> None:
    assert [cost.write_units(n) for n in (0, 1024, 1025, 3000)] == [1, 1, 2, 3]
    assert cost.read_units(100, consistent=True) == 1.0
    assert cost.read_units(100, consistent=False) == 0.5
    assert cost.read_units(4097, consistent=True) == 2.0


def test_transitions_count_each_state_entered_and_each_retry(cost: ModuleType) -> None:
    history = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "TaskFailed"},
        {"type": "TaskScheduled"},  # a retry: billed
        {"type": "TaskSucceeded"},
        {"type": "TaskStateExited"},
        {"type": "ChoiceStateEntered"},
        {"type": "ChoiceStateExited"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "TaskSucceeded"},
        {"type": "ExecutionSucceeded"},
    ]

    assert cost.transitions(history) == 4
