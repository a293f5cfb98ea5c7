"""When the first status check comes: the webhook is trusted until a clip like the job's is
normally done (``FirstStatusCheckSeconds``), never sooner than ``PollIntervalSeconds``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from job_factory import JOB_ID, make_job
from pydantic import ValidationError

from videojobs.adapters.dal import control, jobs
from videojobs.logic import submit_job
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.settings import Settings, get_settings
from videojobs_local.stack.template import load_yaml


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


@pytest.mark.parametrize(
    ("model", "seconds", "expected"),
    [
        ("sora-2", 4, 220),
        ("sora-2", 12, 300),
        ("sora-2-pro", 4, 440),
        ("sora-2-pro", 12, 600),
        ("a-model-nobody-listed", 4, 0),
    ],
)
def test_default_table_grows_with_model_and_length(model: str, seconds: int, expected: int) -> None:
    assert settings().first_status_check(model, seconds) == expected


def test_one_number_applies_to_every_clip() -> None:
    configured = settings(FIRST_STATUS_CHECK_SECONDS="7.5")

    assert configured.first_status_check("sora-2", 4) == 8
    assert configured.first_status_check("sora-2-pro", 12) == 8


def test_a_table_may_list_some_models_and_a_default() -> None:
    configured = settings(FIRST_STATUS_CHECK_SECONDS='{"sora-2-pro": [100, 5], "*": [30, 0]}')

    assert configured.first_status_check("sora-2-pro", 8) == 140
    assert configured.first_status_check("sora-2", 8) == 30


@pytest.mark.parametrize(
    "value",
    ["-1", "inf", "nan", "90000", "soon", "[1, 2]", '{"sora-2": [1]}', '{"sora-2": [1, -2]}'],
)
def test_bad_values_are_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="FIRST_STATUS_CHECK_SECONDS"):
        settings(FIRST_STATUS_CHECK_SECONDS=value)


class _NoProvider:
    """The already-submitted path must not call the provider at all."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"provider.{name} called")


def _submitted_job(model: str, seconds: str) -> Job:
    return make_job(
        JobStatus.IN_PROGRESS,
        request=VideoRequest(prompt="a lighthouse", model=model, seconds=seconds),  # type: ignore[arg-type]
        provider_video_id="video_abc",
        provider_status="in_progress",
    )


@pytest.mark.parametrize(
    ("env", "model", "seconds", "interval"),
    [
        ({}, "sora-2", "4", 220),
        ({}, "sora-2-pro", "12", 600),
        # Set below the poll interval (or to 0, as polling-only deployments may), the poll
        # interval is the floor.
        ({"FIRST_STATUS_CHECK_SECONDS": "3"}, "sora-2", "8", 15),
        ({"FIRST_STATUS_CHECK_SECONDS": "0", "POLL_INTERVAL_SECONDS": "4"}, "sora-2", "4", 4),
    ],
)
def test_submit_asks_the_workflow_to_wait_until_the_first_check(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    model: str,
    seconds: str,
    interval: int,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    job = _submitted_job(model, seconds)
    monkeypatch.setattr(submit_job, "get_provider", lambda **_: _NoProvider())
    monkeypatch.setattr(jobs, "get", lambda job_id: job)
    # Webhooks are arriving: the last one a minute ago.
    monkeypatch.setattr(control, "last_wakeup", lambda protocol: int(time.time()) - 60)

    outcome = submit_job.submit(JOB_ID)

    assert outcome.outcome == "submitted"
    assert outcome.interval_seconds == interval


@pytest.mark.parametrize(
    ("last_webhook_age", "interval"),
    [(None, 15), (3601, 15), (3599, 220), (0, 220)],
)
def test_without_recent_webhooks_the_first_check_comes_at_the_poll_interval(
    monkeypatch: pytest.MonkeyPatch, last_webhook_age: int | None, interval: int
) -> None:
    # Given template defaults and a provider whose last webhook is that old (None: never)
    job = _submitted_job("sora-2", "4")
    monkeypatch.setattr(submit_job, "get_provider", lambda **_: _NoProvider())
    monkeypatch.setattr(jobs, "get", lambda job_id: job)
    asked: list[str] = []

    def last_wakeup(protocol: str) -> int | None:
        asked.append(protocol)
        return None if last_webhook_age is None else int(time.time()) - last_webhook_age

    monkeypatch.setattr(control, "last_wakeup", last_wakeup)
    # When the submitted job hands its first wait to the workflow
    outcome = submit_job.submit(JOB_ID)
    # Then the webhook is trusted only while webhooks have come within the hour
    assert outcome.interval_seconds == interval
    assert asked == ["openai"]


def test_bedrock_jobs_go_by_the_arrival_of_bedrock_output_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = _submitted_job("amazon.nova-reel-v1:1", "6")
    monkeypatch.setattr(jobs, "get", lambda job_id: job)
    recent = {"bedrock": int(time.time()) - 10}
    monkeypatch.setattr(control, "last_wakeup", lambda protocol: recent.get(protocol))

    assert submit_job.submit(JOB_ID).interval_seconds == 60 + 8 * 6
    recent.clear()
    assert submit_job.submit(JOB_ID).interval_seconds == 15


def test_the_template_refuses_a_value_the_functions_would_refuse_at_deploy_time() -> None:
    # Given the template's parameter, as SAM and the local stack check it
    template = load_yaml((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
    spec = template["Parameters"]["FirstStatusCheckSeconds"]
    pattern = spec["AllowedPattern"]
    # Then its default and the documented forms pass, and what is neither a number nor a JSON
    # object is refused before any function starts
    for value in (spec["Default"], "0", "7.5", '{"*": [30, 0]}'):
        assert re.fullmatch(pattern, value), value
        settings(FIRST_STATUS_CHECK_SECONDS=value)
    for value in ("soon", "-1", "[1, 2]", ""):
        assert not re.fullmatch(pattern, value), value
