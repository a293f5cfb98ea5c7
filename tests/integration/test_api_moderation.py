"""Pre-submit moderation switched on: a flagged prompt is refused before any job exists or
any paid call is made; a clean one goes through after one free moderation call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pipeline_support import PIPELINE_PARAMETERS, wait_for_job

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


# This module's stack (see conftest.running_service).
STACK_PARAMETERS = f"{PIPELINE_PARAMETERS} PreSubmitModeration=true"


def provider_calls(service: LocalVideojobs, path: str) -> list[dict[str, Any]]:
    return [r for r in service.emulator.requests() if r["method"] == "POST" and r["path"] == path]


def job_count(service: LocalVideojobs) -> int:
    resp = service.stack.client("dynamodb").scan(
        TableName=service.state()["jobs_table"], Select="COUNT"
    )
    return int(resp["Count"])


def test_a_flagged_prompt_is_refused_before_anything_is_created(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a prompt the provider's moderation flags
    before = job_count(service)
    # When it is submitted, as JSON and as the SDK's multipart form
    answers = [
        api.post("/videos", json={"prompt": "a street fight [[flag]]"}),
        api.post("/videos", files=[("prompt", (None, "a street fight [[flag]]"))]),
    ]
    # Then both are a 400 content_policy_violation on the prompt
    for response in answers:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("content_policy_violation", "prompt")
    # And the provider was only asked to moderate: no job, no paid create
    assert len(provider_calls(service, "/v1/moderations")) == 2
    assert provider_calls(service, "/v1/videos") == []
    assert job_count(service) == before


def test_a_clean_prompt_is_moderated_once_and_then_created(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    response = api.post("/videos", json={"prompt": "a quiet harbour at dawn"})
    assert response.status_code == 200, response.text
    job = wait_for_job(api, response.json()["id"])
    assert job["status"] == "completed"
    assert len(provider_calls(service, "/v1/moderations")) == 1
    assert len(provider_calls(service, "/v1/videos")) == 1


def test_a_batch_moderates_each_distinct_prompt_once(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch of three jobs with two distinct prompts
    requests = [{"prompt": "a red kite"}, {"prompt": "a red kite"}, {"prompt": "a blue kite"}]
    # When it is submitted
    response = api.post("/video_batches", json={"requests": requests})
    # Then each distinct prompt was moderated once, while the batch was checked, and never
    # again when its jobs were created
    assert response.status_code == 200, response.text
    for job_id in response.json()["job_ids"]:
        assert wait_for_job(api, job_id)["status"] == "completed"
    assert len(provider_calls(service, "/v1/moderations")) == 2
    assert len(provider_calls(service, "/v1/videos")) == 3


def test_a_flagged_remix_prompt_is_refused(service: LocalVideojobs, api: httpx.Client) -> None:
    # Given a completed video
    source = api.post("/videos", json={"prompt": "a calm lake"}).json()
    assert wait_for_job(api, source["id"])["status"] == "completed"
    # When a remix asks for a flagged prompt
    response = api.post(f"/videos/{source['id']}/remix", json={"prompt": "[[flag]] mayhem"})
    # Then it is refused and no remix reaches the provider
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "content_policy_violation"
    assert not [r for r in service.emulator.requests() if r["path"].endswith("/remix")]
