"""The OpenAI error body and the codes the emulator uses.

Every error response is ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"

# code values (see the emulator README for when each is used)
INVALID_API_KEY = "invalid_api_key"
MISSING_PARAMETER = "missing_required_parameter"
UNKNOWN_PARAMETER = "unknown_parameter"
INVALID_VALUE = "invalid_value"
INVALID_JSON = "invalid_json"
MODERATION_BLOCKED = "moderation_blocked"
VIDEO_NOT_FOUND = "video_not_found"
VIDEO_NOT_READY = "video_not_ready"
VIDEO_FAILED = "video_failed"
VIDEO_EXPIRED = "video_expired"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
UNKNOWN_URL = "unknown_url"
METHOD_NOT_ALLOWED = "method_not_allowed"
SERVER_ERROR = "server_error"


class ApiError(Exception):
    """An error response: HTTP status plus the OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def not_found(video_id: str) -> ApiError:
    return ApiError(
        404, f"No video found with id '{video_id}'.", param="video_id", code=VIDEO_NOT_FOUND
    )


def invalid_value(param: str, value: object, allowed: tuple[str, ...], extra: str = "") -> ApiError:
    quoted = [f"'{item}'" for item in allowed]
    listing = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
    return ApiError(
        400,
        f"Invalid value for '{param}': '{value}'{extra}. Supported values are: {listing}.",
        param=param,
        code=INVALID_VALUE,
    )
