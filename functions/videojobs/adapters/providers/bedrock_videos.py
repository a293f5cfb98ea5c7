"""The one place that speaks Amazon Bedrock's asynchronous invocation protocol (boto3).

Calls are signed with the function's IAM role; there is no API key. Every failure leaves this
module as a :class:`~videojobs.models.errors.ProviderError` subclass, so the state machine
treats both protocols alike:

- ``ThrottlingException``, ``ServiceQuotaExceededException`` (too many invocations at once)
  → :class:`ProviderThrottledError`: wait, then submit again (the token makes that safe).
- ``InternalServerException``, ``ServiceUnavailableException``, model timeouts, connection
  errors and timeouts → :class:`ProviderTransientError`.
- ``AccessDeniedException`` → :class:`ProviderAuthError` (a missing grant or model access).
- ``ValidationException``, ``ResourceNotFoundException``, ``ConflictException`` →
  :class:`ProviderRejectedError` carrying Bedrock's message.

A failed generation is not an error of a call: its ``failureMessage`` becomes the job's error
through :func:`failure_code`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
from pydantic import ValidationError

from videojobs.adapters import aws
from videojobs.models.bedrock import AsyncInvocation, BedrockVideoRequest
from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)
from videojobs.models.provider_types import LUMA_RAY, LUMA_SHAPES, NOVA_REEL_SINGLE_SHOT_SECONDS

__all__ = ["BedrockVideosClient", "failure_code", "model_input"]

NOVA_REEL_FPS: Final = 24
_MAX_MESSAGE_CHARS: Final = 500

_THROTTLED: Final = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
_TRANSIENT: Final = frozenset(
    {
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
_REJECTED_CODES: Final = {
    "ValidationException": "invalid_request",
    "ResourceNotFoundException": "model_not_found",
    "ConflictException": "idempotency_conflict",
}


def model_input(request: BedrockVideoRequest) -> dict[str, Any]:
    """The model-specific ``modelInput`` for ``request`` (see docs/provider.md)."""
    if request.model == LUMA_RAY:
        aspect_ratio, resolution = LUMA_SHAPES[request.size]  # type: ignore[index]
        return {
            "prompt": request.prompt,
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            "duration": f"{request.seconds}s",
            "loop": bool(request.loop),
        }
    config = {
        "durationSeconds": request.seconds,
        "fps": NOVA_REEL_FPS,
        "dimension": request.size,
    }
    if request.seconds == NOVA_REEL_SINGLE_SHOT_SECONDS:
        params: dict[str, Any] = {"text": request.prompt}
        if request.first_frame is not None:
            frame = request.first_frame
            params["images"] = [
                {
                    "format": frame.format,
                    "source": {"bytes": base64.b64encode(frame.data).decode("ascii")},
                }
            ]
        return {
            "taskType": "TEXT_VIDEO",
            "textToVideoParams": params,
            "videoGenerationConfig": config,
        }
    return {
        "taskType": "MULTI_SHOT_AUTOMATED",
        "multiShotAutomatedParams": {"text": request.prompt},
        "videoGenerationConfig": config,
    }


def failure_code(message: str | None) -> str:
    """The job error code for a generation's ``failureMessage``.

    Bedrock gives a sentence, not a code, so the few kinds a caller can act on are told apart
    by their wording; everything else is ``generation_failed`` with Bedrock's text.
    """
    text = (message or "").lower()
    if "content" in text and any(word in text for word in ("filter", "policy", "blocked")):
        return "moderation_blocked"
    if "s3" in text or "access denied" in text or "permission" in text:
        return "output_write_failed"
    return "generation_failed"


def _clip(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


def _error(operation: str, exc: ClientError) -> ProviderError:
    error = exc.response.get("Error", {})
    name = str(error.get("Code") or "Unknown")
    message = f"{operation}: {name}: {_clip(str(error.get('Message') or ''))}".rstrip(": ")
    metadata = exc.response.get("ResponseMetadata", {})
    fields: dict[str, Any] = {
        "status_code": metadata.get("HTTPStatusCode"),
        "request_id": metadata.get("RequestId"),
    }
    if name in _THROTTLED:
        return ProviderThrottledError(message, code=_snake(name), **fields)
    if name in _TRANSIENT:
        return ProviderTransientError(message, code=_snake(name), **fields)
    if name == "AccessDeniedException":
        return ProviderAuthError(message, code="access_denied", **fields)
    status = fields["status_code"]
    if name not in _REJECTED_CODES and isinstance(status, int) and status >= 500:
        return ProviderTransientError(message, code=_snake(name), **fields)
    return ProviderRejectedError(
        message,
        code=_REJECTED_CODES.get(name, _snake(name)),
        provider_message=_clip(str(error.get("Message") or "")) or None,
        **fields,
    )


def _snake(name: str) -> str:
    base = name.removesuffix("Exception") or name
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in base).lstrip("_")


class BedrockVideosClient:
    """StartAsyncInvoke / GetAsyncInvoke for the Bedrock video models, one region per model."""

    def __init__(
        self,
        region_of: Callable[[str], str],
        client_for: Callable[[str], Any] = aws.bedrock_runtime,
    ) -> None:
        self._region_of = region_of
        self._client_for = client_for

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def start(self, request: BedrockVideoRequest) -> str:
        """``StartAsyncInvoke``: starts a paid generation; returns the invocation ARN.

        The same ``client_token`` with the same request starts nothing new: Bedrock answers
        with the invocation the first call started.
        """
        client = self._client(request.model)
        try:
            answer = client.start_async_invoke(
                modelId=request.model,
                modelInput=model_input(request),
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": request.output_s3_uri}},
                clientRequestToken=request.client_token,
            )
        except ClientError as exc:
            raise _error("StartAsyncInvoke", exc) from None
        except BotoCoreError as exc:
            raise _transport("StartAsyncInvoke", exc) from None
        return str(answer["invocationArn"])

    def get(self, model: str, invocation_arn: str) -> AsyncInvocation:
        """``GetAsyncInvoke``: where an invocation is."""
        client = self._client(model)
        try:
            answer = client.get_async_invoke(invocationArn=invocation_arn)
        except ClientError as exc:
            raise _error("GetAsyncInvoke", exc) from None
        except BotoCoreError as exc:
            raise _transport("GetAsyncInvoke", exc) from None
        output = (answer.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}
        try:
            return AsyncInvocation(
                invocation_arn=str(answer["invocationArn"]),
                status=answer["status"],
                failure_message=answer.get("failureMessage"),
                output_s3_uri=output.get("s3Uri"),
            )
        except (KeyError, ValidationError):
            raise ProviderTransientError(
                "GetAsyncInvoke returned an answer without a known status",
                code="invalid_response",
            ) from None

    def close(self) -> None:
        """Nothing to release: boto3 clients are shared and cached (``aws.reset_clients``)."""

    def _client(self, model: str) -> Any:
        region = self._region_of(model)
        if not region:
            raise ProviderRejectedError(
                f"{model} is not enabled on this deployment", code="model_not_found"
            )
        return self._client_for(region)


def _transport(operation: str, exc: BotoCoreError) -> ProviderTransientError:
    if isinstance(exc, ConnectTimeoutError):
        code = "connect_timeout"
    elif isinstance(exc, ReadTimeoutError):
        code = "read_timeout"
    else:
        code = "connect_error"
    return ProviderTransientError(f"{operation} failed: {type(exc).__name__}", code=code)
