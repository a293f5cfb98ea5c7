"""Request validation for the Videos and Moderations endpoints, mirroring the provider's rules."""

from __future__ import annotations

import base64
import binascii
import io
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from .config import (
    DEFAULT_MODEL,
    DEFAULT_SECONDS,
    DEFAULT_SIZE,
    SECONDS_VALUES,
    SIZES_BY_MODEL,
    EmulatorConfig,
)
from .errors import (
    INVALID_VALUE,
    MISSING_PARAMETER,
    MODERATION_BLOCKED,
    UNKNOWN_PARAMETER,
    ApiError,
    invalid_value,
)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
_GENERIC_TYPES = ("", "application/octet-stream")
_CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# The category a flagged emulator input lands in; any one would do.
FLAG_CATEGORY = "violence"


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the WSGI layer hands it over."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CreateRequest:
    prompt: str
    model: str
    seconds: str
    size: str
    input_reference: dict[str, Any] | None = None


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _reference_image(data: bytes, declared: str, source: str) -> dict[str, Any]:
    declared = declared.split(";")[0].strip().lower()
    if declared not in IMAGE_TYPES and declared not in _GENERIC_TYPES:
        raise ApiError(
            400,
            f"Invalid input_reference mime type '{declared}'. "
            f"Supported types are: {', '.join(IMAGE_TYPES)}.",
            param="input_reference",
            code=INVALID_VALUE,
        )
    sniffed = _sniff(data)
    if sniffed is None:
        raise ApiError(
            400,
            "Invalid input_reference: the file is not a JPEG, PNG or WebP image.",
            param="input_reference",
            code=INVALID_VALUE,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ApiError(
            400,
            "Invalid input_reference: the image could not be decoded.",
            param="input_reference",
            code=INVALID_VALUE,
        ) from exc
    return {
        "source": source,
        "content_type": sniffed,
        "bytes": len(data),
        "width": width,
        "height": height,
    }


def _reference_object(value: dict[str, Any]) -> dict[str, Any]:
    """The ``{"image_url": ...}`` / ``{"file_id": ...}`` form of input_reference."""
    image_url = value.get("image_url")
    if isinstance(image_url, str) and image_url.startswith("data:"):
        header, _, payload = image_url.partition(",")
        if not header.endswith(";base64"):
            raise ApiError(
                400,
                "Invalid input_reference.image_url: data URLs must be base64-encoded.",
                param="input_reference.image_url",
                code=INVALID_VALUE,
            )
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400,
                "Invalid input_reference.image_url: the base64 payload is malformed.",
                param="input_reference.image_url",
                code=INVALID_VALUE,
            ) from exc
        return _reference_image(data, header[5:].removesuffix(";base64"), "image_url")
    if isinstance(image_url, str) and image_url.startswith(("http://", "https://")):
        # Nothing is fetched: the emulator must run offline.
        return {"source": "image_url", "url": image_url}
    if isinstance(value.get("file_id"), str):
        return {"source": "file_id", "file_id": value["file_id"]}
    raise ApiError(
        400,
        "Invalid input_reference: expected an image upload, an image_url or a file_id.",
        param="input_reference",
        code=INVALID_VALUE,
    )


def validate_prompt(value: Any, config: EmulatorConfig) -> str:
    """A usable prompt, or the provider's 400 (including a moderation block)."""
    if value is None:
        raise ApiError(
            400, "Missing required parameter: 'prompt'.", param="prompt", code=MISSING_PARAMETER
        )
    if not isinstance(value, str):
        raise ApiError(
            400, "Invalid type for 'prompt': expected a string.", param="prompt", code=INVALID_VALUE
        )
    if not value.strip():
        raise ApiError(
            400,
            "Invalid 'prompt': expected a non-empty string.",
            param="prompt",
            code=INVALID_VALUE,
        )
    if config.reject_marker and config.reject_marker in value:
        raise ApiError(
            400,
            "Your request was blocked by our moderation system.",
            param="prompt",
            code=MODERATION_BLOCKED,
        )
    return value


def parse_create(
    fields: dict[str, Any], upload: Upload | None, config: EmulatorConfig
) -> CreateRequest:
    """Validate a create request given as form fields or a JSON object."""
    reference_parts = {
        key[len("input_reference[") : -1]: value
        for key, value in fields.items()
        if key.startswith("input_reference[") and key.endswith("]")
    }
    for key in fields:
        if key not in _CREATE_FIELDS and not key.startswith("input_reference["):
            raise ApiError(400, f"Unknown parameter: '{key}'.", param=key, code=UNKNOWN_PARAMETER)

    prompt = validate_prompt(fields.get("prompt"), config)

    model = fields.get("model") or DEFAULT_MODEL
    if model not in SIZES_BY_MODEL:
        raise invalid_value("model", model, tuple(SIZES_BY_MODEL))

    raw_seconds = fields.get("seconds", DEFAULT_SECONDS)
    # JSON callers often send the number; the API's own type is the string.
    seconds = (
        str(raw_seconds)
        if isinstance(raw_seconds, int) and not isinstance(raw_seconds, bool)
        else raw_seconds
    )
    if seconds not in SECONDS_VALUES:
        raise invalid_value("seconds", raw_seconds, SECONDS_VALUES)

    size = fields.get("size") or DEFAULT_SIZE
    allowed_sizes = SIZES_BY_MODEL[model]
    if size not in allowed_sizes:
        raise invalid_value("size", size, allowed_sizes, f" for model '{model}'")

    reference: dict[str, Any] | None = None
    if upload is not None:
        reference = _reference_image(upload.data, upload.content_type, "upload")
        reference["filename"] = upload.filename
    elif isinstance(fields.get("input_reference"), dict):
        reference = _reference_object(fields["input_reference"])
    elif reference_parts:
        reference = _reference_object(reference_parts)
    elif fields.get("input_reference") not in (None, ""):
        raise ApiError(
            400,
            "Invalid input_reference: expected an image upload, an image_url or a file_id.",
            param="input_reference",
            code=INVALID_VALUE,
        )
    return CreateRequest(prompt, model, seconds, size, reference)


def _moderation_texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return list(value)
        if all(isinstance(item, dict) for item in value):
            # Multi-modal input is one result; only its text parts can carry the marker.
            text = " ".join(
                str(item.get("text", "")) for item in value if item.get("type") == "text"
            )
            return [text]
    raise ApiError(
        400,
        "Invalid 'input': expected a string, an array of strings or an array of content parts.",
        param="input",
        code=INVALID_VALUE,
    )


def moderate(body: Any, config: EmulatorConfig) -> dict[str, Any]:
    """A moderation result: flagged when the flag marker appears in the text."""
    if not isinstance(body, dict) or "input" not in body:
        raise ApiError(
            400, "Missing required parameter: 'input'.", param="input", code=MISSING_PARAMETER
        )
    model = body.get("model") or "omni-moderation-latest"
    if not isinstance(model, str):
        raise ApiError(400, "Invalid type for 'model'.", param="model", code=INVALID_VALUE)
    results = []
    for text in _moderation_texts(body["input"]):
        flagged = bool(config.flag_marker) and config.flag_marker in text
        categories = {name: flagged and name == FLAG_CATEGORY for name in MODERATION_CATEGORIES}
        scores = {name: (0.97 if categories[name] else 0.0001) for name in MODERATION_CATEGORIES}
        results.append(
            {
                "flagged": flagged,
                "categories": categories,
                "category_scores": scores,
                "category_applied_input_types": {name: ["text"] for name in MODERATION_CATEGORIES},
            }
        )
    return {"id": "modr-" + secrets.token_hex(12), "model": model, "results": results}
