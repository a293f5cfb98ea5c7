"""How a state machine error becomes the job's error: ``finalize_job.normalise_error``.

The RecordFailure step hands the Lambda ``{"Error": <ASL error name>, "Cause": <text>}``; the
job's ``error`` (what a caller sees on GET /v1/videos/{id} and in ``video.failed``) must carry
a stable code, a readable message, and honest ``retryable`` / ``billed`` flags. Plain unit
tests: jobs are built as models, and the provider lookup of ``ProviderVideoFailedError`` is a fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from videojobs.adapters.providers import ContentStream, VideoProvider
from videojobs.logic import finalize_job, provider_access
from videojobs.models.errors import ProviderTransientError
from videojobs.models.job import Job, JobError, JobStatus, VideoRequest
from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderVideo,
    ProviderVideoError,
    ProviderVideoStatus,
    RetrievedVideo,
    VideoPage,
)

NOW = 1_800_000_000
PROVIDER_VIDEO_ID = "video_provider_0123456789"


class FakeProvider:
    """A provider whose ``retrieve`` answers with a prepared video (or error), and counts."""

    def __init__(self) -> None:
        self.video_error: ProviderVideoError | None = None
        self.raise_on_retrieve: Exception | None = None
        self.retrieved: list[str] = []

    def retrieve(self, video_id: str) -> RetrievedVideo:
        self.retrieved.append(video_id)
        if self.raise_on_retrieve is not None:
            raise self.raise_on_retrieve
        video = ProviderVideo(
            id=video_id,
            model="sora-2",
            status=ProviderVideoStatus.FAILED,
            seconds="4",
            size="720x1280",
            created_at=NOW,
            error=self.video_error,
        )
        return RetrievedVideo(video=video)

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        raise AssertionError("normalise_error must never create a video")

    def list(
        self, after: str | None = None, limit: int | None = None, order: ListOrder | None = None
    ) -> VideoPage:
        raise AssertionError("normalise_error must never list videos")

    def delete(self, video_id: str) -> DeletedVideo:
        raise AssertionError("normalise_error must never delete a video")

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        raise AssertionError("normalise_error must never remix a video")

    def moderate(self, text: str) -> ModerationResult:
        raise AssertionError("normalise_error must never moderate")

    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> AbstractContextManager[ContentStream]:
        raise AssertionError("normalise_error must never download content")

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """Every test runs with the fake: nothing here may reach a real provider or AWS."""
    fake = FakeProvider()
    assert isinstance(fake, VideoProvider)
    # finalize_job imports get_provider where it needs it (cold start): patch it at its home.
    monkeypatch.setattr(provider_access, "get_provider", lambda **_: fake)
    yield fake


def job(**changes: Any) -> Job:
    base = Job(
        job_id="video_" + "0" * 32,
        tenant_id="acme",
        status=JobStatus.IN_PROGRESS,
        created_at=NOW,
        updated_at=NOW,
        request=VideoRequest(prompt="a lighthouse in a storm"),
    )
    return base.with_changes(**changes)


def lambda_cause(message: str, error_type: str = "ProviderTransientError") -> str:
    """The Cause Step Functions records for a Lambda task that raised."""
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "5f1d1c3e-0000-4000-8000-000000000000",
            "stackTrace": ['  File "/var/task/videojobs/handlers/steps.py", line 25'],
        }
    )


# Written out, not read from finalize_job: a changed code is a changed contract.
# name -> (code, message it starts with, retryable, billed)
MAPPED: dict[str, tuple[str, str, bool, bool]] = {
    "ProviderTransientError": (
        "provider_unavailable",
        "The provider did not answer after several attempts.",
        True,
        False,
    ),
    "ProviderThrottledError": (
        "provider_rate_limited",
        "The provider kept rate-limiting the request.",
        True,
        False,
    ),
    "ProviderAuthError": (
        "provider_auth_failed",
        "The provider refused the configured credentials.",
        True,
        False,
    ),
    "ProviderRejectedError": (
        "provider_rejected",
        "The provider rejected the request.",
        False,
        False,
    ),
    "AssetsExpiredError": (
        "assets_expired",
        "The provider's download window closed before the video was stored.",
        False,
        True,
    ),
    "ProviderConfigError": (
        "provider_unavailable",
        "The service could not reach the provider.",
        True,
        False,
    ),
    "States.Timeout": ("timeout", "The job ran out of time.", True, False),
    "ProviderVideoFailedError": (
        "generation_failed",
        "The provider failed to generate the video.",
        False,
        False,
    ),
}


def test_every_mapped_error_name_has_a_row_here() -> None:
    # Given the names finalize_job maps / When compared with this table / Then none is untested
    assert set(finalize_job._FAILURES) == set(MAPPED)


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_each_mapped_error_name_gets_its_code_and_flags(name: str, provider: FakeProvider) -> None:
    # Given a job with no provider video, failed by the state machine with `name`
    code, message, retryable, billed = MAPPED[name]

    # When the error is normalised
    reason = normalise(job(), {"Error": name, "Cause": None})

    # Then the job error carries the stable code, message and flags
    assert reason == JobError(code=code, message=message, retryable=retryable, billed=billed)
    assert provider.retrieved == []


INTERNAL_MESSAGE = "The job failed because of an internal error. Quote the job id to support."


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_a_lambda_cause_never_reaches_the_job_error(name: str) -> None:
    # Given a Lambda task that raised with a message of ours
    cause = lambda_cause("connection refused status=503 request_id=req_42", error_type=name)

    # When normalised
    reason = normalise(job(), {"Error": name, "Cause": cause})

    # Then the job error is the code's fixed message alone
    code, message, _, _ = MAPPED[name]
    assert (reason.code, reason.message) == (code, message)


@pytest.mark.parametrize(
    "error",
    [
        {"Error": "States.TaskFailed", "Cause": None},
        {"Error": "Sandbox.Timedout", "Cause": ""},
        {"Error": "KeyError", "Cause": lambda_cause("'job_id'", "KeyError")},
        {"Error": ""},
        {},
        None,
    ],
    ids=["States.TaskFailed", "Sandbox.Timedout", "KeyError", "empty name", "no name", "none"],
)
def test_an_unmapped_name_is_an_internal_error_worth_retrying(
    error: dict[str, Any] | None,
) -> None:
    # Given a failure the mapping does not know
    # When normalised
    reason = normalise(job(), error)

    # Then it is an internal error with a fixed message, retryable and not billed
    assert reason == JobError(
        code="internal_error", message=INTERNAL_MESSAGE, retryable=True, billed=False
    )


INTERNALS = [
    (
        "ClientError",
        "An error occurred (AccessDeniedException) when calling the GetItem operation: User: "
        "arn:aws:sts::123456789012:assumed-role/videojobs-StoreFunctionRole-X/fn is not "
        "authorized to perform: dynamodb:GetItem on resource: "
        "arn:aws:dynamodb:eu-west-1:123456789012:table/videojobs-JobsTable-ABC",
    ),
    (
        "ValidationError",
        "1 validation error for ProviderSecret\nprovider_api_key\n  Field required "
        "[type=missing, input_value={'api_key': 'sk-live-FAKE-KEY-0042'}, input_type=dict]",
    ),
    ("NoSuchBucket", "The specified bucket videojobs-assetsbucket-1x2y3z does not exist"),
]


@pytest.mark.parametrize(("name", "text"), INTERNALS, ids=[n for n, _ in INTERNALS])
def test_internal_exception_text_stays_out_of_the_job_error(name: str, text: str) -> None:
    # Given a step that failed with an AWS or pydantic error quoting internals
    reason = normalise(job(), {"Error": name, "Cause": lambda_cause(text, name)})

    # Then the job error carries none of it
    shown = reason.model_dump_json()
    for leak in ("arn:", "123456789012", "videojobs-", "botocore", "sk-live-FAKE-KEY-0042"):
        assert leak not in shown
    assert reason.message == INTERNAL_MESSAGE


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (None, None),
        ("", None),
        ("not json at all", "not json at all"),
        (lambda_cause("boom"), "boom"),
        ('{"errorMessage": ""}', ""),
        ("z" * 501, "z" * 500),
    ],
    ids=["none", "empty", "text", "lambda error", "empty message", "501 chars"],
)
def test_cause_message(cause: str | None, expected: str | None) -> None:
    assert finalize_job._cause_message(cause) == expected


def test_provider_video_failed_prefers_the_recorded_provider_error(
    provider: FakeProvider,
) -> None:
    # Given a job whose status check already recorded the provider's reason
    recorded = JobError(code="moderation_blocked", message="The prompt was blocked.")
    failed = job(provider_video_id=PROVIDER_VIDEO_ID, provider_error=recorded)

    # When the workflow's ProviderFailed path is normalised
    reason = normalise(
        failed,
        {
            "Error": "ProviderVideoFailedError",
            "Cause": "The provider reported that generation failed.",
        },
    )

    # Then the provider's own code and message win, without asking the provider again
    assert reason == recorded
    assert provider.retrieved == []


def test_a_rejection_recorded_by_submit_is_the_job_error(provider: FakeProvider) -> None:
    # Given a job whose submit recorded the provider's content-policy reason
    recorded = JobError(
        code="moderation_blocked",
        message="Your request was blocked by our moderation system.",
        retryable=False,
    )

    # When RecordFailure normalises the rejection, whose Cause names our request path
    reason = normalise(
        job(provider_error=recorded),
        {"Error": "ProviderRejectedError", "Cause": lambda_cause("POST /openai/v1/videos: x")},
    )

    # Then the provider's code and words are the job's error, and nothing of ours
    assert reason == recorded
    assert provider.retrieved == []


def test_provider_video_failed_asks_the_provider_when_nothing_was_recorded(
    provider: FakeProvider,
) -> None:
    # Given a job failed by a webhook (which says only "failed") and a provider that knows why
    provider.video_error = ProviderVideoError(
        code="content_policy_violation", message="The video violates the content policy."
    )

    # When normalised
    reason = normalise(
        job(provider_video_id=PROVIDER_VIDEO_ID),
        {
            "Error": "ProviderVideoFailedError",
            "Cause": "The provider reported that generation failed.",
        },
    )

    # Then the reason is the provider's, fetched once
    assert reason.code == "content_policy_violation"
    assert reason.message == "The video violates the content policy."
    assert provider.retrieved == [PROVIDER_VIDEO_ID]


def test_provider_video_failed_without_a_provider_message_gets_a_readable_one(
    provider: FakeProvider,
) -> None:
    provider.video_error = ProviderVideoError(code="internal_error", message="")

    reason = normalise(
        job(provider_video_id=PROVIDER_VIDEO_ID), {"Error": "ProviderVideoFailedError"}
    )

    assert reason == JobError(code="internal_error", message="Generation failed.")


@pytest.mark.parametrize(
    "situation", ["provider unreachable", "provider gives no reason", "no provider video"]
)
def test_provider_video_failed_falls_back_to_the_mapping(
    situation: str, provider: FakeProvider
) -> None:
    # Given a provider that cannot say why (or no provider video to ask about)
    failed = job(provider_video_id=PROVIDER_VIDEO_ID)
    if situation == "provider unreachable":
        provider.raise_on_retrieve = ProviderTransientError("connect timeout")
    elif situation == "no provider video":
        failed = job()

    # When normalised
    reason = normalise(
        failed,
        {
            "Error": "ProviderVideoFailedError",
            "Cause": "The provider reported that generation failed.",
        },
    )

    # Then the mapped reason stands, and the Pass state's canned Cause is not appended
    assert reason == JobError(
        code="generation_failed",
        message="The provider failed to generate the video.",
        retryable=False,
        billed=False,
    )
    expected_calls = [] if situation == "no provider video" else [PROVIDER_VIDEO_ID]
    assert provider.retrieved == expected_calls


def normalise(failed: Job, error: dict[str, Any] | None) -> JobError:
    return finalize_job.normalise_error(failed, error)
