"""Batches on the local stack: submitted over HTTPS, run on the real state machine, counted
to completion, announced once with ``batch.completed``, and private to their tenant."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from pipeline_support import EventProbe, wait_for_job

from videojobs.adapters import workflow
from videojobs.adapters.dal import batches as batches_dal
from videojobs.adapters.dal import jobs as jobs_dal
from videojobs.logic.batches import on_job_terminal
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


def submit_batch(
    api: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = api.post("/video_batches", json=body, headers=headers)
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    return batch


def wait_for_batch(api: httpx.Client, batch_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/video_batches/{batch_id}")
        assert response.status_code == 200, response.text
        batch: dict[str, Any] = response.json()
        if batch["status"] == "completed":
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still running: {batch['counts']}")
        time.sleep(0.25)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def item_count(service: LocalVideojobs, table: str) -> int:
    ddb = service.stack.client("dynamodb")
    return int(ddb.scan(TableName=service.state()[table], Select="COUNT")["Count"])


def test_a_three_job_batch_completes_and_is_announced_once(
    api: httpx.Client, batch_events: EventProbe
) -> None:
    # Given a batch of three jobs, one of which the provider will fail
    body = {
        "requests": [
            {"prompt": "a lighthouse at dawn", "metadata": {"shot": "1"}},
            {"prompt": "a lighthouse at noon", "size": "1280x720"},
            {"prompt": "a lighthouse at night [[fail]]"},
        ],
        "metadata": {"campaign": "coast"},
    }
    # When it is submitted
    batch = submit_batch(api, body)
    # Then it starts with every job queued, in submission order
    assert batch["object"] == "video.batch"
    assert batch["id"].startswith("vbatch_")
    assert (batch["status"], batch["total"], batch["percent_complete"]) == ("in_progress", 3, 0)
    assert batch["counts"] == {
        "queued": 3,
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert batch["metadata"] == {"campaign": "coast"}
    jobs = [api.get(f"/videos/{job_id}").json() for job_id in batch["job_ids"]]
    assert [j["prompt"] for j in jobs] == [r["prompt"] for r in body["requests"]]
    assert {j["batch_id"] for j in jobs} == {batch["id"]}
    assert jobs[0]["metadata"] == {"shot": "1"}
    assert jobs[1]["size"] == "1280x720"

    # When every job has ended
    done = wait_for_batch(api, batch["id"])
    # Then the counts and percentage say so
    assert done["counts"] == {
        "queued": 0,
        "in_progress": 0,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
    }
    assert done["percent_complete"] == 100
    assert done["completed_at"] >= done["created_at"]
    assert done["job_ids"] == batch["job_ids"]
    # And batch.completed is published exactly once, with the final counts
    wait_until(lambda: bool(batch_events.for_batch(batch["id"])))
    time.sleep(1.0)  # room for a duplicate to show up
    published = batch_events.for_batch(batch["id"])
    assert len(published) == 1
    detail = published[0]["detail"]
    assert published[0]["source"] == "videojobs"
    assert detail["tenant_id"] == "local"
    assert detail["total"] == 3
    assert detail["counts"]["completed"] == 2 and detail["counts"]["failed"] == 1
    assert detail["job_ids"] == batch["job_ids"]
    assert detail["has_callback_url"] is False


def test_a_repeated_report_of_a_finished_job_changes_nothing(
    api: httpx.Client, batch_events: EventProbe, in_process: None
) -> None:
    # Given a completed batch that has been announced
    batch = submit_batch(api, {"prompt": "two kites", "n": 2})
    wait_for_batch(api, batch["id"])
    wait_until(lambda: bool(batch_events.for_batch(batch["id"])))
    before = batches_dal.get(batch["id"])
    # When every job's end is reported again (a retried finalize, the reaper, a cancel race)
    for job_id in batch["job_ids"]:
        on_job_terminal(jobs_dal.get(job_id))
    # Then nothing is counted twice and no second event goes out
    after = batches_dal.get(batch["id"])
    assert (
        after.terminal_counts
        == before.terminal_counts
        == {
            "completed": 2,
            "failed": 0,
            "cancelled": 0,
        }
    )
    assert after.finished == frozenset(batch["job_ids"])
    time.sleep(0.5)
    assert len(batch_events.for_batch(batch["id"])) == 1


def test_a_campaign_renders_each_preset(api: httpx.Client) -> None:
    # Given one brief for a landscape and a portrait platform
    batch = submit_batch(api, {"brief": "a trail running shoe", "presets": ["youtube", "tiktok"]})
    # Then there is one job per preset, in the order given, each in its platform's shape
    sizes = [api.get(f"/videos/{job_id}").json()["size"] for job_id in batch["job_ids"]]
    assert sizes == ["1280x720", "720x1280"]
    assert wait_for_batch(api, batch["id"])["counts"]["completed"] == 2


def test_the_fields_of_other_shapes_sent_as_null_are_accepted(api: httpx.Client) -> None:
    # Given a list of requests beside the other shapes' fields, null (as the document allows)
    body = {"requests": [{"prompt": "a paper boat"}], "brief": None, "presets": None, "n": None}
    # When it is submitted
    batch = submit_batch(api, body)
    # Then it is the one-job batch its requests describe
    assert len(batch["job_ids"]) == 1
    assert api.get(f"/videos/{batch['job_ids'][0]}").json()["prompt"] == "a paper boat"


def test_another_tenants_batch_is_not_found(service: LocalVideojobs, api: httpx.Client) -> None:
    # Given a batch of the seeded tenant
    batch = submit_batch(api, {"prompt": "a quiet harbour", "n": 2})
    other_key = service.create_tenant_key(f"other-{uuid.uuid4().hex[:8]}")
    # When another tenant asks for it
    with httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30.0
    ) as other:
        response = other.get(f"/video_batches/{batch['id']}")
        # Then it does not exist for them, and the answer does not say otherwise
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert batch["id"] in error["message"]
        # And none of its jobs are theirs either
        for job_id in batch["job_ids"]:
            assert other.get(f"/videos/{job_id}").status_code == 404
    wait_for_batch(api, batch["id"])


@pytest.mark.parametrize("batch_id", ["vbatch_" + "0" * 32, "vbatch_nope", "x" * 300])
def test_an_unknown_batch_is_not_found(api: httpx.Client, batch_id: str) -> None:
    response = api.get(f"/video_batches/{batch_id}")
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_a_batch_with_one_bad_element_creates_nothing(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch whose third body asks for an impossible length
    jobs_before = item_count(service, "jobs_table")
    batches_before = item_count(service, "batches_table")
    body = {"requests": [{"prompt": "one"}, {"prompt": "two"}, {"prompt": "three", "seconds": 7}]}
    # When it is submitted
    response = api.post("/video_batches", json=body)
    # Then it is refused naming the element, and no batch or job exists
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "requests[2].seconds"
    assert error["type"] == "invalid_request_error"
    assert item_count(service, "jobs_table") == jobs_before
    assert item_count(service, "batches_table") == batches_before
    assert not [
        r for r in service.emulator.requests() if (r["method"], r["path"]) == ("POST", "/v1/videos")
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"requests": [{"prompt": "a"}] * 101}, "requests"),
        ({"prompt": "a", "n": 101}, "n"),
        ({"prompt": "a", "n": 3, "colour": "red"}, "colour"),
        ({"brief": "shoe", "presets": ["youtube", "myspace"]}, "presets[1]"),
        ({"requests": [{"prompt": "a"}], "callback_url": "ftp://example.com"}, "callback_url"),
        ({"prompt": "a"}, None),
    ],
)
def test_malformed_batches_are_refused_without_creating_anything(
    service: LocalVideojobs, api: httpx.Client, body: dict[str, Any], param: str | None
) -> None:
    jobs_before = item_count(service, "jobs_table")
    response = api.post("/video_batches", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert item_count(service, "jobs_table") == jobs_before


def test_a_batch_cut_short_by_the_service_still_completes(
    service: LocalVideojobs,
    api: httpx.Client,
    batch_events: EventProbe,
    monkeypatch: pytest.MonkeyPatch,
    in_process: None,
) -> None:
    # Given a workflow service that refuses the second execution of a three-job batch
    real_client = workflow.aws.stepfunctions
    calls: list[str] = []

    class FlakyStepFunctions:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_client(), name)

        def start_execution(self, **kwargs: Any) -> Any:
            calls.append(kwargs["name"])
            if len(calls) == 2:
                raise ClientError(
                    {"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "StartExecution"
                )
            return real_client().start_execution(**kwargs)

    monkeypatch.setattr(workflow.aws, "stepfunctions", FlakyStepFunctions)
    tag = uuid.uuid4().hex
    # When the batch is submitted
    response = api.post(
        "/video_batches", json={"prompt": "a storm", "n": 3, "metadata": {"t": tag}}
    )
    monkeypatch.setattr(workflow.aws, "stepfunctions", real_client)
    # Then the caller is told to try again
    assert response.status_code == 503, response.text
    # And the batch holds the two jobs that exist: one running, one failed at the start
    ddb = service.stack.client("dynamodb")
    items = ddb.scan(TableName=service.state()["batches_table"])["Items"]
    (item,) = [i for i in items if i.get("metadata", {}).get("M", {}).get("t", {}).get("S") == tag]
    batch_id = item["batch_id"]["S"]
    batch = api.get(f"/video_batches/{batch_id}").json()
    assert batch["total"] == 2
    assert len(batch["job_ids"]) == 2
    assert batch["job_ids"][0] == calls[0]
    assert api.get(f"/videos/{calls[1]}").json()["status"] == "failed"
    wait_for_job(api, calls[0])
    # And it completes when the running one ends, announced once
    done = wait_for_batch(api, batch_id)
    assert (done["counts"]["completed"], done["counts"]["failed"]) == (1, 1)
    wait_until(lambda: bool(batch_events.for_batch(batch_id)))
    assert len(batch_events.for_batch(batch_id)) == 1


# --- Idempotency-Key -------------------------------------------------------------------------


def provider_creates(service: LocalVideojobs) -> int:
    return sum(
        1 for r in service.emulator.requests() if (r["method"], r["path"]) == ("POST", "/v1/videos")
    )


def test_a_retried_batch_with_its_idempotency_key_creates_nothing_more(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch created with an Idempotency-Key
    headers = {"Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    body = {
        "requests": [{"prompt": "a sailing boat"}, {"prompt": "a rowing boat", "seconds": "8"}],
        "metadata": {"project": "boats"},
    }
    first = api.post("/video_batches", json=body, headers=headers)
    assert first.status_code == 200, first.text
    batch = first.json()
    jobs_after_first = item_count(service, "jobs_table")
    batches_after_first = item_count(service, "batches_table")

    # When the same request is sent twice more with the same key (a client retrying timeouts)
    retries = [api.post("/video_batches", json=body, headers=headers) for _ in range(2)]

    # Then each answer is the first batch, as it was created
    assert [r.status_code for r in retries] == [200, 200], [r.text for r in retries]
    assert [r.json() for r in retries] == [batch, batch]
    # And no second batch, job or provider video exists
    assert item_count(service, "batches_table") == batches_after_first
    assert item_count(service, "jobs_table") == jobs_after_first
    done = wait_for_batch(api, batch["id"])
    assert done["counts"]["completed"] == 2
    assert provider_creates(service) == 2


def test_the_same_key_with_another_batch_is_a_409(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch created with an Idempotency-Key
    headers = {"Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    batch = submit_batch(api, {"prompt": "a green kite", "n": 2}, headers)
    jobs_before = item_count(service, "jobs_table")
    batches_before = item_count(service, "batches_table")

    # When the key is sent with another batch, and with a single video
    other_batch = api.post(
        "/video_batches", json={"prompt": "a green kite", "n": 3}, headers=headers
    )
    video = api.post("/videos", json={"prompt": "a green kite"}, headers=headers)

    # Then both are the 409 POST /v1/videos gives for a reused key, and nothing is created
    for response in (other_batch, video):
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "idempotency_key_reused")
    assert item_count(service, "jobs_table") == jobs_before
    assert item_count(service, "batches_table") == batches_before
    wait_for_batch(api, batch["id"])


def test_a_batch_refused_as_invalid_leaves_its_key_unused(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch refused for a bad element, sent with an Idempotency-Key
    headers = {"Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    bad = api.post(
        "/video_batches", json={"requests": [{"prompt": "a", "seconds": 7}]}, headers=headers
    )
    assert bad.status_code == 400, bad.text
    # When the corrected batch is sent with the same key
    batch = submit_batch(api, {"requests": [{"prompt": "a", "seconds": "4"}]}, headers)
    # Then it is created
    assert batch["total"] == 1
    wait_for_batch(api, batch["id"])


def test_an_overlong_idempotency_key_is_a_400_before_anything_is_created(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    batches_before = item_count(service, "batches_table")
    response = api.post(
        "/video_batches", json={"prompt": "a", "n": 2}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert item_count(service, "batches_table") == batches_before
