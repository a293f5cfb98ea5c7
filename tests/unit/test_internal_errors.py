"""Internal failures reach a tenant as a fixed message and a reference, never as their text.

Each case injects a failure whose own text quotes internals (an AWS error with ARNs, account
and table, a pydantic error quoting its input, a provider secret of the wrong shape holding a
recognisable key) and checks what a tenant can see: the API's answer, the job's error (what
GET, callbacks and events carry). The reference in a 500 is the API Gateway request id, and
the log line of the failure carries it as its correlation id.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import FakeLambdaContext
from job_factory import JOB_ID, make_job

from videojobs.adapters import aws, credentials
from videojobs.handlers import api, api_videos, steps
from videojobs.logic import apply_provider_status, finalize_job, provider_access
from videojobs.models.errors import ProviderConfigError, RequestRateExceededError
from videojobs.models.job import Job, JobStatus
from videojobs.observability import logger
from videojobs.settings import get_settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCOUNT = "123456789012"
TABLE = "videojobs-JobsTable-1A2B3C"
BUCKET = "videojobs-assetsbucket-9z8y7x"
FAKE_KEY = "sk-live-FAKE-KEY-0042"
LEAKS = ("arn:", ACCOUNT, TABLE, BUCKET, "botocore", "ClientError", FAKE_KEY, "input_value")

ARN_MESSAGE = (
    f"User: arn:aws:sts::{ACCOUNT}:assumed-role/videojobs-ApiFunctionRole-X/api is not "
    f"authorized to perform: dynamodb:GetItem on resource: "
    f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{TABLE}"
)


class FakeSecrets:
    """Powertools' Secrets Manager provider, answering with a fixed secret string."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str, **_: Any) -> str:
        return self.value


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Every tenant request first takes a request token; here the bucket always has one.
    monkeypatch.setattr(api.request_rate, "admit", lambda tenant: None)
    get_settings.cache_clear()
    provider_access.reset_provider()
    yield
    provider_access.reset_provider()
    get_settings.cache_clear()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the service logs, formatted as Powertools formats it (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def get_video_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "api_get_video.json").read_text())
    event["path"] = event["requestContext"]["path"] = f"/v1/videos/{JOB_ID}"
    event["pathParameters"] = {"video_id": JOB_ID}
    return copy.deepcopy(event)


def running_job() -> Job:
    return make_job(JobStatus.IN_PROGRESS, provider_video_id="video_provider_1")


def dynamodb_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(tenant: str, job_id: str) -> Job:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": ARN_MESSAGE}}, "GetItem"
        )

    monkeypatch.setattr(api_videos.jobs, "get_for_tenant", denied)


def pydantic_error_in_logic(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_view(job: Job) -> Any:
        # A model built from stored values that no longer fit it: pydantic quotes the input.
        return Job.model_validate({"job_id": f"arn:aws:dynamodb:::{ACCOUNT}:table/{TABLE}"})

    monkeypatch.setattr(api_videos.jobs, "get_for_tenant", lambda tenant, job_id: make_job())
    monkeypatch.setattr(api_videos, "video_resource", broken_view)


def misshaped_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # A running job's read refreshes its progress from the provider: the secret is read.
    monkeypatch.setattr(api_videos.jobs, "get_for_tenant", lambda tenant, job_id: running_job())
    monkeypatch.setattr(apply_provider_status.jobs, "claim_progress_check", lambda *_: True)
    secret = FakeSecrets(f'{{"api_key": "{FAKE_KEY}"}}')
    monkeypatch.setattr(aws, "secrets_provider", lambda: secret)


def request_rate_store_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tenant's request bucket is read before any route runs.
    def denied(tenant: str) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": ARN_MESSAGE}}, "UpdateItem"
        )

    monkeypatch.setattr(api.request_rate, "admit", denied)


INJECTIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "DynamoDB ClientError quoting ARNs": dynamodb_denied,
    "request-rate bucket unreadable": request_rate_store_denied,
    "pydantic error in a logic function": pydantic_error_in_logic,
    "provider secret of the wrong shape": misshaped_secret,
}


@pytest.mark.parametrize("inject", INJECTIONS.values(), ids=list(INJECTIONS))
def test_an_internal_failure_answers_500_with_a_reference_and_nothing_else(
    inject: Callable[[pytest.MonkeyPatch], None],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
    log_output: io.StringIO,
) -> None:
    # Given a failure inside the API whose own text quotes internals
    inject(monkeypatch)
    event = get_video_event()
    request_id = event["requestContext"]["requestId"]

    # When a tenant reads a video
    response = api.handler(event, lambda_context)  # type: ignore[arg-type]

    # Then the answer is a 500 in the OpenAI shape, naming only the request's reference
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body["error"] == {
        "message": f"Internal error; reference {request_id}",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert response["multiValueHeaders"]["x-request-id"] == [request_id]
    for leak in LEAKS:
        assert leak not in response["body"]
    # ... and the failure is in the log under that reference
    records = [json.loads(line) for line in log_output.getvalue().splitlines()]
    (failure,) = [r for r in records if r["message"] == "internal error"]
    assert failure["correlation_id"] == request_id
    assert failure["level"] == "ERROR"


def test_a_misshaped_secret_is_named_by_its_fields_never_by_its_content(
    monkeypatch: pytest.MonkeyPatch, log_output: io.StringIO
) -> None:
    # Given provider secrets of the wrong shape, each holding the key
    for value in (f'{{"api_key": "{FAKE_KEY}"}}', f"not json {FAKE_KEY}", f'["{FAKE_KEY}"]'):
        monkeypatch.setattr(aws, "secrets_provider", lambda v=value: FakeSecrets(v))

        # When the service reads it
        with pytest.raises(ProviderConfigError) as raised:
            credentials.provider_api_key()

        # Then the error says what is wrong without quoting it, nor chaining what did
        error = raised.value
        assert FAKE_KEY not in str(error) and FAKE_KEY not in repr(error)
        assert error.__cause__ is None and error.__suppress_context__
    assert FAKE_KEY not in log_output.getvalue()


def test_a_step_that_meets_a_misshaped_secret_fails_the_job_with_a_fixed_message(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, log_output: io.StringIO
) -> None:
    # Given the submit step and a provider secret of the wrong shape
    monkeypatch.setattr(aws, "secrets_provider", lambda: FakeSecrets(f'{{"key": "{FAKE_KEY}"}}'))
    monkeypatch.setattr(steps.submit_job.jobs, "get", lambda job_id: make_job())
    monkeypatch.setattr(steps.submit_job.control, "last_wakeup", lambda protocol: None)

    # When the step runs, it fails with an error whose text (the Lambda's errorMessage, which
    # Step Functions records as the Cause) holds no key
    with pytest.raises(ProviderConfigError) as raised:
        steps.submit({"job_id": JOB_ID}, lambda_context)  # type: ignore[arg-type]
    cause = json.dumps({"errorMessage": str(raised.value), "errorType": "ProviderConfigError"})
    assert FAKE_KEY not in cause

    # ... and RecordFailure gives the job the code's fixed message
    reason = finalize_job.normalise_error(
        make_job(), {"Error": "ProviderConfigError", "Cause": cause}
    )
    assert (reason.code, reason.message) == (
        "provider_unavailable",
        "The service could not reach the provider.",
    )
    assert FAKE_KEY not in log_output.getvalue()


def test_a_step_failing_on_aws_keeps_the_aws_text_out_of_the_job_error(
    log_output: io.StringIO,
) -> None:
    # Given a step that raised botocore's ClientError quoting ARNs, as Step Functions reports it
    cause = json.dumps(
        {
            "errorMessage": f"An error occurred (AccessDeniedException): {ARN_MESSAGE}",
            "errorType": "ClientError",
            "stackTrace": ['  File "/var/task/botocore/client.py", line 1'],
        }
    )

    # When RecordFailure normalises it
    reason = finalize_job.normalise_error(make_job(), {"Error": "ClientError", "Cause": cause})

    # Then the job error (GET, callbacks, events) carries none of it; the log keeps it
    shown = reason.model_dump_json()
    for leak in LEAKS:
        assert leak not in shown
    assert reason.code == "internal_error"
    assert ARN_MESSAGE in log_output.getvalue()


def test_a_tenant_over_its_request_rate_gets_the_openai_429_before_any_route_runs(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given a tenant whose request bucket is empty for another 2.3 s
    def empty(tenant: str) -> None:
        raise RequestRateExceededError(retry_after=2.3)

    def route_ran(tenant: str, job_id: str) -> Job:
        raise AssertionError("the route ran")

    monkeypatch.setattr(api.request_rate, "admit", empty)
    monkeypatch.setattr(api_videos.jobs, "get_for_tenant", route_ran)

    # When it reads a video
    response = api.handler(get_video_event(), lambda_context)  # type: ignore[arg-type]

    # Then it is told to wait 3 s in OpenAI's rate-limit shape, and nothing was read
    assert response["statusCode"] == 429
    assert response["multiValueHeaders"]["Retry-After"] == ["3"]
    assert json.loads(response["body"])["error"]["code"] == "rate_limit_exceeded"
