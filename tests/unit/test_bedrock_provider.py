"""The Bedrock adapter: the modelInput each model gets, and every Bedrock error mapped onto the
provider errors the state machine already knows."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from videojobs.adapters.providers.bedrock_videos import (
    BedrockVideosClient,
    failure_code,
    model_input,
)
from videojobs.models.bedrock import AsyncInvocation, BedrockVideoRequest, FirstFrame
from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)

NOVA = "amazon.nova-reel-v1:1"
LUMA = "luma.ray-v2:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456"


def request(**changes: Any) -> BedrockVideoRequest:
    fields: dict[str, Any] = {
        "model": NOVA,
        "prompt": "a lighthouse",
        "seconds": 6,
        "size": "1280x720",
        "client_token": "video_" + "0" * 32,
        "output_s3_uri": "s3://assets/bedrock/video_" + "0" * 32,
        **changes,
    }
    return BedrockVideoRequest(**fields)


class StubRuntime:
    """boto3's bedrock-runtime client as far as the adapter uses it."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _call(self, name: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((name, kwargs))
        if self.error is not None:
            raise self.error
        return self.answer

    def start_async_invoke(self, **kwargs: Any) -> Any:
        return self._call("start_async_invoke", kwargs)

    def get_async_invoke(self, **kwargs: Any) -> Any:
        return self._call("get_async_invoke", kwargs)


def client_with(stub: StubRuntime, regions: dict[str, str] | None = None) -> BedrockVideosClient:
    table = regions if regions is not None else {NOVA: "us-east-1", LUMA: "us-west-2"}
    return BedrockVideosClient(region_of=lambda m: table.get(m, ""), client_for=lambda _r: stub)


def aws_error(code: str, status: int, message: str = "details") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1"},
        },
        "StartAsyncInvoke",
    )


# --- modelInput ------------------------------------------------------------------------------


def test_a_six_second_nova_reel_clip_is_text_video_with_its_first_frame() -> None:
    frame = FirstFrame(format="png", data=b"\x89PNG...")
    body = model_input(request(first_frame=frame))
    assert body == {
        "taskType": "TEXT_VIDEO",
        "textToVideoParams": {
            "text": "a lighthouse",
            "images": [
                {"format": "png", "source": {"bytes": base64.b64encode(b"\x89PNG...").decode()}}
            ],
        },
        "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720"},
    }


def test_a_longer_nova_reel_clip_is_multi_shot_automated() -> None:
    assert model_input(request(seconds=18)) == {
        "taskType": "MULTI_SHOT_AUTOMATED",
        "multiShotAutomatedParams": {"text": "a lighthouse"},
        "videoGenerationConfig": {"durationSeconds": 18, "fps": 24, "dimension": "1280x720"},
    }


@pytest.mark.parametrize(
    ("size", "seconds", "loop", "expected"),
    [
        ("1280x720", 5, None, ("16:9", "720p", "5s", False)),
        ("540x960", 9, True, ("9:16", "540p", "9s", True)),
        ("1260x540", 5, False, ("21:9", "540p", "5s", False)),
        ("720x720", 9, None, ("1:1", "720p", "9s", False)),
    ],
)
def test_a_luma_clip_names_its_aspect_ratio_resolution_duration_and_loop(
    size: str, seconds: int, loop: bool | None, expected: tuple[str, str, str, bool]
) -> None:
    body = model_input(request(model=LUMA, size=size, seconds=seconds, loop=loop))
    assert body == {
        "prompt": "a lighthouse",
        "aspect_ratio": expected[0],
        "resolution": expected[1],
        "duration": expected[2],
        "loop": expected[3],
    }


# --- calls -----------------------------------------------------------------------------------


def test_start_sends_the_token_and_the_job_s_output_folder() -> None:
    stub = StubRuntime(answer={"invocationArn": ARN})
    assert client_with(stub).start(request()) == ARN
    ((name, kwargs),) = stub.calls
    assert name == "start_async_invoke"
    assert kwargs["modelId"] == NOVA
    assert kwargs["clientRequestToken"] == "video_" + "0" * 32
    assert kwargs["outputDataConfig"] == {
        "s3OutputDataConfig": {"s3Uri": "s3://assets/bedrock/video_" + "0" * 32}
    }


def test_get_reads_status_failure_and_output_location() -> None:
    stub = StubRuntime(
        answer={
            "invocationArn": ARN,
            "status": "Failed",
            "failureMessage": "blocked",
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://assets/bedrock/x"}},
        }
    )
    assert client_with(stub).get(NOVA, ARN) == AsyncInvocation(
        invocation_arn=ARN,
        status="Failed",
        failure_message="blocked",
        output_s3_uri="s3://assets/bedrock/x",
    )
    assert client_with(stub).get(NOVA, ARN).invocation_id == "abcdef123456"


def test_an_answer_without_a_known_status_is_transient() -> None:
    stub = StubRuntime(answer={"invocationArn": ARN, "status": "Exploded"})
    with pytest.raises(ProviderTransientError) as caught:
        client_with(stub).get(NOVA, ARN)
    assert caught.value.code == "invalid_response"


def test_a_model_without_a_region_is_not_called() -> None:
    stub = StubRuntime(answer={"invocationArn": ARN})
    with pytest.raises(ProviderRejectedError) as caught:
        client_with(stub, regions={}).start(request())
    assert caught.value.code == "model_not_found"
    assert stub.calls == []


@pytest.mark.parametrize(
    ("code", "status", "kind", "our_code"),
    [
        ("ThrottlingException", 429, ProviderThrottledError, "throttling"),
        ("ServiceQuotaExceededException", 400, ProviderThrottledError, "service_quota_exceeded"),
        ("InternalServerException", 500, ProviderTransientError, "internal_server"),
        ("ServiceUnavailableException", 503, ProviderTransientError, "service_unavailable"),
        ("ModelTimeoutException", 408, ProviderTransientError, "model_timeout"),
        ("AccessDeniedException", 403, ProviderAuthError, "access_denied"),
        ("ValidationException", 400, ProviderRejectedError, "invalid_request"),
        ("ResourceNotFoundException", 404, ProviderRejectedError, "model_not_found"),
        ("ConflictException", 400, ProviderRejectedError, "idempotency_conflict"),
        ("SomethingNewException", 502, ProviderTransientError, "something_new"),
    ],
)
def test_each_bedrock_error_maps_to_a_provider_error(
    code: str, status: int, kind: type[ProviderError], our_code: str
) -> None:
    stub = StubRuntime(error=aws_error(code, status, "Malformed input request: #/x"))
    with pytest.raises(ProviderError) as caught:
        client_with(stub).start(request())
    assert type(caught.value) is kind
    assert caught.value.code == our_code
    assert caught.value.status_code == status
    assert code in str(caught.value)
    assert "Malformed input request" in str(caught.value)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (EndpointConnectionError(endpoint_url="https://bedrock-runtime"), "connect_error"),
        (ReadTimeoutError(endpoint_url="https://bedrock-runtime"), "read_timeout"),
    ],
)
def test_transport_failures_are_transient(error: Exception, code: str) -> None:
    with pytest.raises(ProviderTransientError) as caught:
        client_with(StubRuntime(error=error)).get(NOVA, ARN)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("The generated video has been blocked by our content filters.", "moderation_blocked"),
        ("Content policy violation: the output was blocked.", "moderation_blocked"),
        ("Amazon Bedrock could not write the output to the S3 location.", "output_write_failed"),
        ("Access denied when writing the output.", "output_write_failed"),
        ("Internal error while generating shot 3.", "generation_failed"),
        (None, "generation_failed"),
    ],
)
def test_failure_messages_map_to_job_error_codes(message: str | None, code: str) -> None:
    assert failure_code(message) == code
