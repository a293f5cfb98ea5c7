"""The correlation id reaches every log line of the workflow: the step handlers take it from
the execution's input (the ASL hands it to every task), the reaper from the status-change
event; the logic they call logs with it set. The API side and the callback header are
exercised end to end in tests/integration/test_operations.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from videojobs.handlers import reaper, steps
from videojobs.logic import apply_provider_status, finalize_job, store_assets, submit_job
from videojobs.models.job import JobStatus
from videojobs.observability import logger

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ASL = ROOT / "infra/statemachine/video_job.asl.json"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


class _Seen:
    """A stand-in for a logic function that records the correlation id it ran under."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.correlation_ids: list[str | None] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.correlation_ids.append(logger.get_correlation_id())
        return self.result


class _Result:
    status = JobStatus.COMPLETED
    error = None
    assets: dict[str, Any] = {}  # noqa: RUF012 - read only

    def model_dump(self) -> dict[str, Any]:
        return {"outcome": "submitted"}


def test_every_lambda_task_in_the_asl_is_handed_the_executions_input() -> None:
    definition = json.loads(re.sub(r"\$\{\w+\}", "7", ASL.read_text()))
    lambda_tasks = {
        name: state
        for name, state in definition["States"].items()
        if state["Type"] == "Task" and ":lambda:" in state["Resource"]
    }
    # ParkForSlot and AwaitCompletion (the await function), and the five other steps
    assert len(lambda_tasks) == 7
    for name, state in lambda_tasks.items():
        payload = state["Parameters"]["Payload"]
        assert payload.get("execution_input.$") == "$$.Execution.Input", name


@pytest.mark.parametrize(
    ("handler", "module", "function"),
    [
        ("submit", submit_job, "submit"),
        ("await_completion", apply_provider_status, "await_completion"),
        ("check_status", apply_provider_status, "check_status"),
        ("store_assets", store_assets, "store_assets"),
        ("finalize", finalize_job, "finalize"),
        ("record_failure", finalize_job, "record_failure"),
    ],
)
def test_a_step_handler_runs_its_logic_under_the_jobs_correlation_id(
    handler: str,
    module: Any,
    function: str,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    # Given the sample step payload, whose execution input carries a correlation id
    event = sample("step_submit.json")
    event.update(task_token="token", interval_seconds=5, error=None)
    seen = _Seen(_Result())
    monkeypatch.setattr(module, function, seen)

    # When the step handler runs
    getattr(steps, handler)(event, lambda_context)

    # Then its logic ran (and logged) with that correlation id set
    assert seen.correlation_ids == [event["execution_input"]["correlation_id"]]


def test_a_step_payload_without_execution_input_still_runs(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # Given a payload from an execution started before correlation ids existed
    event = sample("step_submit.json")
    del event["execution_input"]
    seen = _Seen(_Result())
    monkeypatch.setattr(submit_job, "submit", seen)

    # When the step runs, it runs without a correlation id
    steps.submit(event, lambda_context)
    assert seen.correlation_ids == [None]


def test_the_reaper_takes_the_correlation_id_from_the_executions_input(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # Given the sample status-change event of an aborted execution
    event = sample("reaper_execution_aborted.json")
    seen = _Seen(None)
    monkeypatch.setattr(reaper, "reap", seen)

    # When the reaper handles it
    reaper.handler(event, lambda_context)

    # Then the job is reaped under the correlation id its execution was started with
    assert seen.correlation_ids == [json.loads(event["detail"]["input"])["correlation_id"]]


def test_the_reaper_accepts_an_event_whose_input_is_not_json(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    event = sample("reaper_execution_aborted.json")
    event["detail"]["input"] = "not json"
    seen = _Seen(None)
    monkeypatch.setattr(reaper, "reap", seen)

    reaper.handler(event, lambda_context)

    assert seen.correlation_ids == [None]
