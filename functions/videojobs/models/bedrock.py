"""Models of Amazon Bedrock's asynchronous invocation protocol, for its video models.

``StartAsyncInvoke`` takes a model id, a model-specific ``modelInput``, an S3 output location
and a ``clientRequestToken``; ``GetAsyncInvoke`` answers ``status`` ``InProgress`` |
``Completed`` | ``Failed`` with a ``failureMessage``. Bedrock writes the result itself into
``<s3Uri>/<invocation id>/output.mp4`` (Nova Reel adds ``manifest.json`` and
``generation-status.json``). Owned by the provider layer, like :mod:`videojobs.models.provider`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from videojobs.models.provider_types import BedrockModelName

AsyncInvokeStatus = Literal["InProgress", "Completed", "Failed"]

OUTPUT_FILE = "output.mp4"
"""What Bedrock names the video in an invocation's output folder."""


class FirstFrame(BaseModel):
    """Nova Reel's optional starting keyframe (JPEG or PNG, 1280x720)."""

    model_config = ConfigDict(frozen=True)

    format: Literal["png", "jpeg"]
    # Kept out of repr so that logging a request never dumps an image into the logs.
    data: bytes = Field(repr=False)


class BedrockVideoRequest(BaseModel):
    """One video to start, already checked against what the model accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: BedrockModelName
    prompt: str = Field(min_length=1)
    seconds: int = Field(gt=0)
    size: str
    loop: bool | None = None
    first_frame: FirstFrame | None = None
    client_token: str = Field(min_length=1, max_length=256, pattern=r"^[!-~]*$")
    """Idempotency: the same token starts no second invocation."""
    output_s3_uri: str = Field(pattern=r"^s3://")


class AsyncInvocation(BaseModel):
    """What ``GetAsyncInvoke`` says about one invocation."""

    model_config = ConfigDict(frozen=True)

    invocation_arn: str
    status: AsyncInvokeStatus
    failure_message: str | None = None
    output_s3_uri: str | None = None

    @property
    def invocation_id(self) -> str:
        """The last part of the ARN: the name of the invocation's output folder."""
        return invocation_id(self.invocation_arn)


def invocation_id(invocation_arn: str) -> str:
    """``arn:aws:bedrock:<region>:<account>:async-invoke/<id>`` → ``<id>``."""
    return invocation_arn.rsplit("/", 1)[-1]
