"""Checks on an ``input_reference`` image: its real type, its size in bytes and in pixels.

The type comes from the file's first bytes, never from the declared Content-Type or name.
The provider requires the image to match the video's size exactly, so the pixel size is read
from the image header here: a mismatch is a 400 now rather than a failed job later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field

from videojobs.models.errors import InvalidRequestError

MAX_INPUT_REFERENCE_BYTES = 4 * 1024 * 1024
"""A synchronous Lambda request carries at most 6 MB, and API Gateway base64-encodes a
multipart body (4/3 larger): 4 MiB of image is what fits with the other fields."""

_PARAM = "input_reference"
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,")
# SOFn markers carry the frame size; C4 (DHT), C8 (reserved) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ReferenceImage(BaseModel):
    """A checked image: what it really is, and its fingerprint for idempotency."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str
    data: bytes = Field(repr=False)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=_PARAM, code="invalid_image")


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        position += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _sniff(data: bytes) -> tuple[str, str, tuple[int, int] | None]:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png", _png_size(data)
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg", _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp", _webp_size(data)
    raise _invalid("input_reference must be a JPEG, PNG or WebP image.")


def _safe_filename(name: str, extension: str) -> str:
    # Only the base name, in a conservative alphabet: it travels to the provider in a header.
    base = re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("\\", "/").rsplit("/", 1)[-1])[:100]
    stem = base.rsplit(".", 1)[0].strip("._") if "." in base else base.strip("._")
    return f"{stem or 'reference'}.{extension}"


def check_image(data: bytes, filename: str = "reference") -> ReferenceImage:
    """The checked image, or :class:`InvalidRequestError` (param ``input_reference``)."""
    if not data:
        raise _invalid("input_reference is an empty file.")
    if len(data) > MAX_INPUT_REFERENCE_BYTES:
        raise _invalid(
            f"input_reference is {len(data)} bytes; the largest accepted is "
            f"{MAX_INPUT_REFERENCE_BYTES} bytes (4 MiB)."
        )
    content_type, extension, dimensions = _sniff(data)
    if dimensions is None or 0 in dimensions:
        raise _invalid(f"input_reference is not a readable {extension.upper()} image.")
    width, height = dimensions
    return ReferenceImage(
        filename=_safe_filename(filename, extension),
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 ``data:`` URL; any other URL is refused with a hint."""
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequestError(
            "input_reference.image_url must be a base64 data: URL "
            "(data:image/png;base64,...); to send a file, upload it as multipart form data.",
            param="input_reference.image_url",
            code="invalid_image",
        )
    encoded = url[match.end() :]
    if len(encoded) > MAX_INPUT_REFERENCE_BYTES * 4 // 3 + 4:
        raise _invalid(
            f"input_reference is larger than the {MAX_INPUT_REFERENCE_BYTES} bytes accepted."
        )
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            "input_reference.image_url is not valid base64.",
            param="input_reference.image_url",
            code="invalid_image",
        ) from None
