"""The sample events in events/ drive their handlers, in-process, on the real template.

Why ``LocalStack`` and not a bare ``mock_aws``: the handlers need the tables (with their GSIs),
the provider secret and the state machine exactly as template.yaml declares them, and the
environment the template gives the functions. ``LocalStack`` provisions all of that from the
template itself, so a renamed table, a missing GSI or a changed environment variable fails
here as it would after ``sam deploy``; a hand-built ``mock_aws`` fixture would only re-state
what the test author believes the template says.

The provider is unreachable (``127.0.0.1:9``). So that a created job's execution cannot get
as far as calling it, the stack runs with one concurrency slot and that slot is held by a
stand-in: the execution starts and parks in ParkForSlot until the test stops it.
The Submit step is exercised directly, with a fake provider.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline_support import API_LIMITS_OFF

from videojobs import standard_webhooks
from videojobs.adapters import aws, workflow
from videojobs.adapters.dal import api_keys, control, jobs
from videojobs.adapters.providers import ContentStream, VideoProvider
from videojobs.handlers import api, authorizer, provider_webhook, reaper, steps
from videojobs.logic import submit_job
from videojobs.logic.provider_access import reset_provider
from videojobs.models.job import Job, JobStatus, VideoRequest, new_job_id
from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderVideo,
    ProviderVideoStatus,
    RetrievedVideo,
    VideoPage,
)
from videojobs.settings import get_settings
from videojobs_local.stack import LambdaContext as LocalLambdaContext
from videojobs_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
WEBHOOK_SECRET = standard_webhooks.generate_secret()
PARAMETERS = (
    "ProviderBaseUrl=http://127.0.0.1:9/v1 "
    # One slot, taken by SLOT_BLOCKER: executions wait for it instead of calling the provider.
    f"MaxConcurrentJobs=1 SlotWaitSeconds=60 {API_LIMITS_OFF}"
)
SLOT_BLOCKER = "held-by-the-tests"
JOB_ID = re.compile(r"^video_[0-9a-f]{32}$")


def _reset_caches() -> None:
    get_settings.cache_clear()
    aws.reset_clients()
    reset_provider()


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    with LocalStack(
        ROOT / "template.yaml",
        parameter_overrides=PARAMETERS,
        # The provider is plain http on loopback: only the local stack's own setting allows it.
        function_environment={"VIDEOJOBS_LOCAL_MODE": "true"},
        secret_values={
            "ProviderApiKeySecret": json.dumps({"provider_api_key": "sk-never-used"}),
            "ProviderWebhookSecret": json.dumps({"provider_webhook_secret": WEBHOOK_SECRET}),
        },
    ) as stack:
        _reset_caches()
        aws.dynamodb().Table(get_settings().control_table).put_item(
            Item={"pk": control.SEMAPHORE_KEY, "in_flight": 1, "holders": {SLOT_BLOCKER}}
        )
        try:
            yield stack
        finally:
            _reset_caches()
    _reset_caches()


@pytest.fixture
def started_jobs(local: LocalStack) -> Iterator[list[str]]:
    """Job ids whose executions a test started; they are stopped afterwards."""
    started: list[str] = []
    yield started
    sfn = local.client("stepfunctions")
    for job_id in started:
        arn = workflow.execution_arn(job_id)
        # Stopped only once it waits for the slot: moto cannot stop an execution that has not
        # entered its first state yet.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            history = sfn.get_execution_history(executionArn=arn, maxResults=100)["events"]
            if any(event["type"] == "WaitStateEntered" for event in history):
                break
            time.sleep(0.05)
        if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            sfn.stop_execution(executionArn=arn)


def context(local: LocalStack, logical_id: str) -> LambdaContext:
    """What the Lambda runtime would pass to the template's function ``logical_id``."""
    spec = local.stack.function(logical_id)
    runtime_context = LocalLambdaContext(
        function=spec,
        request_id=str(uuid.uuid4()),
        invoked_function_arn=spec.arn,
        deadline=time.time() + spec.timeout,
    )
    return cast(LambdaContext, runtime_context)


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def queued_job(tenant_id: str = "acme") -> Job:
    """A job stored as the API would store it, without an execution."""
    now = int(time.time())
    return jobs.create(
        Job(
            job_id=new_job_id(),
            tenant_id=tenant_id,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            request=VideoRequest(prompt="a paper boat on a rainy street", size="1280x720"),
        )
    )


def submitted_job(provider_video_id: str) -> Job:
    job = queued_job()
    return jobs.record_submission(job.job_id, provider_video_id, "in_progress")


# --- authorizer --------------------------------------------------------------------------


def authorizer_event(headers: dict[str, str]) -> dict[str, Any]:
    event = sample("authorizer_request.json")
    event["headers"] = {"Host": event["headers"]["Host"], **headers}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    return event


@pytest.mark.parametrize("header", ["Authorization", "x-api-key"])
def test_authorizer_allows_a_live_key_on_every_route_with_its_tenant(
    local: LocalStack, header: str
) -> None:
    # Given a key issued to tenant acme, presented the way the sample event does (or x-api-key)
    key, record = api_keys.create("acme")
    value = f"Bearer {key}" if header == "Authorization" else key
    event = authorizer_event({header: value})

    # When the authorizer runs on the sample event
    result = authorizer.handler(event, context(local, "AuthorizerFunction"))

    # Then it allows the whole stage of this API (one cached decision for every route) ...
    (statement,) = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    api_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123"
    for route in ("POST/v1/videos", "GET/v1/videos/video_1", "GET/v1/videos/video_1/content"):
        assert fnmatch.fnmatchcase(f"{api_arn}/live/{route}", statement["Resource"])
    assert not fnmatch.fnmatchcase(f"{api_arn}/other-stage/POST/v1/videos", statement["Resource"])
    assert not fnmatch.fnmatchcase(
        "arn:aws:execute-api:us-east-1:123456789012:otherapi/live/POST/v1/videos",
        statement["Resource"],
    )
    # ... and hands the API the tenant, never the key
    assert result["principalId"] == record.key_id
    assert result["context"] == {"tenant_id": "acme", "key_id": record.key_id}
    assert key not in json.dumps(result)


def _revoked_key() -> str:
    key, record = api_keys.create("acme")
    aws.dynamodb().Table(get_settings().api_keys_table).update_item(
        Key={"key_hash": record.key_hash},
        UpdateExpression="SET revoked = :yes",
        ExpressionAttributeValues={":yes": True},
    )
    return key


PRESENTED: dict[str, Any] = {
    "unknown key": lambda: {"Authorization": "Bearer vj_" + uuid.uuid4().hex},
    "no key": lambda: {},
    "revoked key": lambda: {"Authorization": f"Bearer {_revoked_key()}"},
    "revoked key as x-api-key": lambda: {"x-api-key": _revoked_key()},
    "bearer without a key": lambda: {"Authorization": "Bearer "},
    "another service's key": lambda: {"Authorization": "Bearer sk-proj-" + uuid.uuid4().hex},
    "the sample's placeholder": lambda: {"Authorization": "Bearer vj_example-key-replace-me"},
}


@pytest.mark.parametrize("case", sorted(PRESENTED))
def test_authorizer_refuses_with_the_message_api_gateway_maps_to_401(
    local: LocalStack, case: str
) -> None:
    # Given the sample event carrying no usable key
    event = authorizer_event(PRESENTED[case]())

    # When / Then the authorizer raises exactly "Unauthorized" (anything else is a 500)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, context(local, "AuthorizerFunction"))


# --- API -----------------------------------------------------------------------------------


def create_from_sample(local: LocalStack, started: list[str]) -> dict[str, Any]:
    response = api.handler(sample("api_create_video.json"), context(local, "ApiFunction"))
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = json.loads(response["body"])
    started.append(body["id"])
    return body


def get_event(video_id: str, tenant_id: str) -> dict[str, Any]:
    event = sample("api_get_video.json")
    placeholder = event["pathParameters"]["video_id"]
    event["path"] = event["path"].replace(placeholder, video_id)
    event["requestContext"]["path"] = event["requestContext"]["path"].replace(placeholder, video_id)
    event["pathParameters"] = {"video_id": video_id}
    event["requestContext"]["authorizer"]["tenant_id"] = tenant_id
    return event


def test_create_video_sample_stores_a_queued_job_and_starts_its_execution(
    local: LocalStack, started_jobs: list[str]
) -> None:
    # Given the sample create request for tenant acme
    # When the API handler runs on it
    video = create_from_sample(local, started_jobs)

    # Then the answer is the OpenAI Video object of a queued job ...
    assert JOB_ID.match(video["id"])
    assert video["object"] == "video"
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2", "4", "1280x720")
    assert video["prompt"] == "A paper boat drifting down a rainy street, cinematic"
    assert video["metadata"] == {"campaign": "spring"}
    assert video["error"] is None and video["assets"] is None
    # ... stored for acme ...
    stored = jobs.get(video["id"])
    assert stored.tenant_id == "acme"
    assert stored.status is JobStatus.QUEUED
    assert stored.request.size == "1280x720"
    # ... with the API request's id as its correlation id ...
    request_id = sample("api_create_video.json")["requestContext"]["requestId"]
    assert stored.correlation_id == request_id
    # ... and its workflow started under the job's id, carrying that correlation id
    described = local.client("stepfunctions").describe_execution(
        executionArn=workflow.execution_arn(video["id"])
    )
    assert described["name"] == video["id"]
    assert described["status"] == "RUNNING"
    assert json.loads(described["input"]) == {
        "job_id": video["id"],
        "tenant_id": "acme",
        "correlation_id": request_id,
    }


def test_a_queued_job_parks_for_its_slot_and_enters_no_state_while_it_waits(
    local: LocalStack, started_jobs: list[str]
) -> None:
    # Given a job whose execution finds the only slot taken (SlotWaitSeconds=60)
    video = create_from_sample(local, started_jobs)
    sfn = local.client("stepfunctions")
    arn = workflow.execution_arn(video["id"])

    def entered() -> list[str]:
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in events
            if event["type"].endswith("StateEntered")
        ]

    # When it has parked for the slot
    deadline = time.monotonic() + 30
    while "ParkForSlot" not in entered() and time.monotonic() < deadline:
        time.sleep(0.2)
    parked = entered()
    # Then it tried AcquireSlot once and parked, and while it waits it enters no state at all
    assert parked == ["AcquireSlot", "ParkForSlot"], parked
    time.sleep(2)
    assert entered() == parked
    # ... and it is still queued, never submitted
    stored = jobs.get(video["id"])
    assert stored.status is JobStatus.QUEUED
    assert stored.provider_video_id is None


def test_get_video_sample_answers_the_owning_tenant(
    local: LocalStack, started_jobs: list[str]
) -> None:
    # Given a job created from the sample for acme
    created = create_from_sample(local, started_jobs)

    # When acme reads it with the sample get event
    response = api.handler(get_event(created["id"], "acme"), context(local, "ApiFunction"))

    # Then it gets the same video
    assert response["statusCode"] == 200, response["body"]
    video = json.loads(response["body"])
    assert video["id"] == created["id"]
    assert video["status"] == "queued"
    assert video["prompt"] == created["prompt"]


def test_get_video_sample_hides_the_job_from_another_tenant(
    local: LocalStack, started_jobs: list[str]
) -> None:
    # Given acme's job
    created = create_from_sample(local, started_jobs)

    # When another tenant asks for it by id
    response = api.handler(get_event(created["id"], "globex"), context(local, "ApiFunction"))

    # Then it does not exist for them, in the OpenAI error shape
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {
        "error": {
            "message": f"No video found with id '{created['id']}'.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


# --- provider webhook ----------------------------------------------------------------------


def webhook_event(provider_video_id: str, webhook_id: str) -> dict[str, Any]:
    """The sample webhook for ``provider_video_id``, signed now with the stack's secret."""
    event = sample("provider_webhook_completed.json")
    payload = json.loads(event["body"])
    payload["data"]["id"] = provider_video_id
    payload["created_at"] = int(time.time())
    body = json.dumps(payload)
    event["body"] = body
    event["headers"] = {
        "Content-Type": "application/json",
        **standard_webhooks.signed_headers(WEBHOOK_SECRET, webhook_id, body),
    }
    return event


def test_webhook_sample_for_an_unknown_video_is_acknowledged(local: LocalStack) -> None:
    # Given the sample webhook, validly signed, about a video no job owns
    event = webhook_event("video_provider_" + uuid.uuid4().hex, "wh_" + uuid.uuid4().hex)

    # When the webhook handler runs
    response = provider_webhook.handler(event, context(local, "ProviderWebhookFunction"))

    # Then the sender gets a 200 (no retries for 72 h) that says so
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "unknown_video"}


def test_webhook_sample_completes_the_owning_job_once(local: LocalStack) -> None:
    # Given a job whose provider video is rendering, and the signed completion webhook for it
    provider_video_id = "video_provider_" + uuid.uuid4().hex
    job = submitted_job(provider_video_id)
    event = webhook_event(provider_video_id, "wh_" + uuid.uuid4().hex)
    ctx = context(local, "ProviderWebhookFunction")

    # When it is delivered
    first = provider_webhook.handler(event, ctx)

    # Then the job records the provider's completion (no parked workflow to wake yet)
    assert first["statusCode"] == 200
    assert json.loads(first["body"]) == {"status": "recorded"}
    after_first = jobs.get(job.job_id)
    assert after_first.provider_status == "completed"
    assert after_first.progress == 100

    # When the provider redelivers the same webhook-id
    again = provider_webhook.handler(copy.deepcopy(event), ctx)

    # Then it is a duplicate and the job is not written again
    assert again["statusCode"] == 200
    assert json.loads(again["body"]) == {"status": "duplicate"}
    assert jobs.get(job.job_id).version == after_first.version


# --- reaper --------------------------------------------------------------------------------


def test_reaper_sample_fails_a_job_whose_execution_was_aborted(local: LocalStack) -> None:
    # Given a running job whose execution was aborted (the sample event, renamed to the job)
    job = submitted_job("video_provider_" + uuid.uuid4().hex)
    event = sample("reaper_execution_aborted.json")
    placeholder = event["detail"]["name"]
    event["detail"] = {
        key: value.replace(placeholder, job.job_id) if isinstance(value, str) else value
        for key, value in event["detail"].items()
    }
    assert event["detail"]["name"] == job.job_id

    # When the reaper handles the status change
    result = reaper.handler(event, context(local, "ReaperFunction"))

    # Then the job is failed with the workflow's fate, retryable, and billed (it was submitted)
    assert result == {"job_id": job.job_id, "status": "failed"}
    reaped = jobs.get(job.job_id)
    assert reaped.status is JobStatus.FAILED
    assert reaped.error is not None
    assert reaped.error.code == "workflow_aborted"
    assert (reaped.error.retryable, reaped.error.billed) == (True, True)


# --- step: submit --------------------------------------------------------------------------


class FakeProvider:
    """Accepts every create and remembers it; any other call is a test failure."""

    def __init__(self) -> None:
        self.created: list[CreateVideoRequest] = []

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        self.created.append(request)
        return ProviderVideo(
            id=f"video_fake_{len(self.created)}_{uuid.uuid4().hex[:8]}",
            model=request.model,
            status=ProviderVideoStatus.QUEUED,
            seconds=request.seconds,
            size=request.size,
            prompt=request.prompt,
            created_at=int(time.time()),
        )

    def retrieve(self, video_id: str) -> RetrievedVideo:
        raise AssertionError("submit must not poll")

    def list(
        self, after: str | None = None, limit: int | None = None, order: ListOrder | None = None
    ) -> VideoPage:
        raise AssertionError("a first submit has no earlier attempt to adopt")

    def delete(self, video_id: str) -> DeletedVideo:
        raise AssertionError("submit of a queued job must not delete")

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        raise AssertionError("not a remix")

    def moderate(self, text: str) -> ModerationResult:
        raise AssertionError("submit does not moderate (create does, before any paid call)")

    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> AbstractContextManager[ContentStream]:
        raise AssertionError("submit must not download")

    def close(self) -> None:
        pass


def _submit_state() -> dict[str, Any]:
    """The Submit state of the deployed (substituted) state machine definition."""
    definition = (ROOT / "infra/statemachine/video_job.asl.json").read_text()
    parsed = json.loads(re.sub(r"\$\{\w+\}", "1", definition))
    state: dict[str, Any] = parsed["States"]["Submit"]
    return state


def test_submit_step_accepts_the_sample_and_answers_what_the_state_machine_reads(
    local: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queued job, a provider that accepts it, and the sample Submit payload for it
    fake = FakeProvider()
    assert isinstance(fake, VideoProvider)
    monkeypatch.setattr(submit_job, "get_provider", lambda **_: fake)
    job = queued_job()
    event = sample("step_submit.json")
    placeholder = event["job_id"]
    event = json.loads(json.dumps(event).replace(placeholder, job.job_id))
    state = _submit_state()
    sent = {key.removesuffix(".$") for key in state["Parameters"]["Payload"]}
    assert set(event) == sent, "the sample must have the shape the ASL sends"

    # When the Submit handler runs
    result = steps.submit(event, context(local, "SubmitFunction"))

    # Then the provider got the job's request, once ...
    assert [(r.prompt, r.model, r.seconds, r.size) for r in fake.created] == [
        ("a paper boat on a rainy street", "sora-2", "4", "1280x720")
    ]
    # ... the job is bound to the provider's video ...
    stored = jobs.get(job.job_id)
    assert stored.provider_video_id is not None
    assert stored.provider_video_id.startswith("video_fake_1_")
    assert stored.provider_status == "queued"
    assert stored.submit_attempted_at is not None
    # ... and the answer has every field the ASL's ResultSelector reads
    read = {value.removeprefix("$.Payload.") for value in state["ResultSelector"].values()}
    assert read <= set(result)
    assert result["outcome"] == "submitted"
    assert result["provider_status"] == "queued"
    # The first status check waits until a clip like this one is normally done.
    assert result["interval_seconds"] == get_settings().first_status_check(
        job.request.model, int(job.request.seconds)
    )
    assert result["interval_seconds"] > get_settings().poll_interval_seconds

    # When the same step is retried (Step Functions retries Lambda tasks)
    again = steps.submit(event, context(local, "SubmitFunction"))

    # Then nothing is created twice
    assert len(fake.created) == 1
    assert again["outcome"] == "submitted"
    assert jobs.get(job.job_id).provider_video_id == stored.provider_video_id
