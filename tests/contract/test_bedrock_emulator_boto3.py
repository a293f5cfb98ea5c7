"""boto3's own bedrock-runtime client against the emulator's Bedrock face: its service model
checks every request shape, and the answers parse as Bedrock's."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import av
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from videojobs_local.emulator import EmulatorConfig, EmulatorServer

NOVA = "amazon.nova-reel-v1:1"
LUMA = "luma.ray-v2:0"


@pytest.fixture(scope="module")
def emulator(render_cache_dir: Any) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(speed=200, render_cache_dir=render_cache_dir)) as server:
        yield server


@pytest.fixture
def written(emulator: EmulatorServer) -> Iterator[dict[str, bytes]]:
    files: dict[str, bytes] = {}
    emulator.reset()
    emulator.emulator.bedrock.output_writer = lambda bucket, key, body, _: files.__setitem__(
        f"{bucket}/{key}", body
    )
    yield files
    emulator.emulator.bedrock.output_writer = None
    emulator.reset()


@pytest.fixture
def bedrock(emulator: EmulatorServer) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-west-2",
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def nova(seconds: int, text: str = "a lighthouse at dusk") -> dict[str, Any]:
    task = "TEXT_VIDEO" if seconds == 6 else "MULTI_SHOT_AUTOMATED"
    params = "textToVideoParams" if seconds == 6 else "multiShotAutomatedParams"
    return {
        "taskType": task,
        params: {"text": text},
        "videoGenerationConfig": {"durationSeconds": seconds, "fps": 24, "dimension": "1280x720"},
    }


def start(bedrock: Any, model: str, model_input: dict[str, Any], request: str = "t-1") -> str:
    answer = bedrock.start_async_invoke(
        modelId=model,
        modelInput=model_input,
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/bedrock/job"}},
        clientRequestToken=request,
    )
    return str(answer["invocationArn"])


def wait(bedrock: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer: dict[str, Any] = bedrock.get_async_invoke(invocationArn=arn)
        if answer["status"] != "InProgress" or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_nova_reel_invocation_writes_its_files_where_bedrock_does(
    bedrock: Any, written: dict[str, bytes]
) -> None:
    arn = start(bedrock, NOVA, nova(6))
    assert arn.startswith("arn:aws:bedrock:us-west-2:")
    answer = wait(bedrock, arn)
    assert answer["status"] == "Completed"
    assert (
        answer["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] == "s3://out-bucket/bedrock/job"
    )
    folder = f"out-bucket/bedrock/job/{arn.rsplit('/', 1)[1]}"
    assert sorted(written) == [
        f"{folder}/generation-status.json",
        f"{folder}/manifest.json",
        f"{folder}/output.mp4",
    ]
    with av.open(io.BytesIO(written[f"{folder}/output.mp4"])) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert round(float(stream.average_rate or 0)) == 24
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - 6) <= 0.1


def test_the_same_client_request_token_starts_nothing_new(
    bedrock: Any, written: dict[str, bytes]
) -> None:
    first = start(bedrock, LUMA, {"prompt": "waves", "duration": "5s", "resolution": "540p"})
    again = start(bedrock, LUMA, {"prompt": "waves", "duration": "5s", "resolution": "540p"})
    assert again == first
    with pytest.raises(ClientError) as caught:
        start(bedrock, LUMA, {"prompt": "other", "duration": "5s", "resolution": "540p"})
    assert caught.value.response["Error"]["Code"] == "ConflictException"


@pytest.mark.parametrize(
    ("model", "model_input", "message"),
    [
        (
            NOVA,
            nova(18)
            | {
                "videoGenerationConfig": {"durationSeconds": 20, "fps": 24, "dimension": "1280x720"}
            },
            "durationSeconds must be an integer evenly divisible by 6 and within the range of "
            "12 through 120",
        ),
        (
            NOVA,
            nova(6, "x" * 513),
            "#/textToVideoParams/text: expected maxLength: 512, actual: 513",
        ),
        (NOVA, nova(12, "x" * 4001), "expected maxLength: 4000, actual: 4001"),
        (
            NOVA,
            nova(6) | {"videoGenerationConfig": {"durationSeconds": 6, "fps": 30}},
            "#/videoGenerationConfig/fps: 30 is not a valid enum value",
        ),
        (LUMA, {"prompt": "waves", "duration": "6s"}, "#/duration: 6s is not a valid enum value"),
        (LUMA, {"prompt": "waves", "aspect_ratio": "4:5"}, "#/aspect_ratio: 4:5 is not"),
        (LUMA, {"prompt": "waves", "fps": 24}, "extraneous key [fps] is not permitted"),
        ("amazon.titan-video", {"prompt": "x"}, "The provided model identifier is invalid."),
    ],
)
def test_model_input_is_refused_with_bedrock_s_validation_messages(
    bedrock: Any, written: dict[str, bytes], model: str, model_input: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        start(bedrock, model, model_input)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert message in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        ({"rate_limit": {"count": 1}}, "ThrottlingException", 429),
        ({"quota_exceeded": {"count": 1}}, "ServiceQuotaExceededException", 400),
        ({"server_error": {"count": 1}}, "InternalServerException", 500),
        ({"server_error": {"count": 1, "status": 503}}, "ServiceUnavailableException", 503),
    ],
)
def test_fault_knobs_answer_bedrock_s_errors(
    emulator: EmulatorServer,
    bedrock: Any,
    written: dict[str, bytes],
    fault: dict[str, Any],
    code: str,
    status: int,
) -> None:
    emulator.set_faults(**fault)
    with pytest.raises(ClientError) as caught:
        start(bedrock, NOVA, nova(6))
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # And the next call goes through
    assert start(bedrock, NOVA, nova(6)).startswith("arn:aws:bedrock:")


def test_a_failed_generation_has_a_failure_message_and_no_output(
    bedrock: Any, written: dict[str, bytes]
) -> None:
    arn = start(bedrock, LUMA, {"prompt": "[[fail]] a storm"})
    answer = wait(bedrock, arn)
    assert answer["status"] == "Failed"
    assert "content filters" in answer["failureMessage"]
    assert written == {}
    listed = bedrock.list_async_invokes(statusEquals="Failed")["asyncInvokeSummaries"]
    assert [s["invocationArn"] for s in listed] == [arn]
