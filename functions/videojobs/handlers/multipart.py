"""A small, strict ``multipart/form-data`` parser (RFC 7578) over the standard library.

The official ``openai`` SDK sends every create as multipart, with or without an image, and
API Gateway hands the body over base64-encoded. The Lambda package carries no multipart
library, and the stdlib ``email`` parser is lenient where an API must not be (a missing
closing boundary is a "defect", not an error), so the framing is parsed here and only the
header parameters are left to ``email``. Anything malformed is an
:class:`InvalidRequestError`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value

from videojobs.models.errors import InvalidRequestError

MAX_PARTS = 64
MAX_PART_HEADER_BYTES = 8 * 1024
_CRLF = b"\r\n"
_TRANSPARENT_ENCODINGS = frozenset({"7bit", "8bit", "binary"})


@dataclass(frozen=True)
class FormPart:
    """One field of a form: a text value, or a file when ``filename`` is set."""

    name: str
    data: bytes = field(repr=False)
    filename: str | None = None
    content_type: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def text(self) -> str:
        """The value as UTF-8 text (form fields of the SDK and of browsers are UTF-8)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(f"Field '{self.name[:64]}' is not valid UTF-8.") from None


def _malformed(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, code="invalid_multipart")


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type header."""
    boundary = _header_params("content-type", content_type).get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise _malformed("The multipart Content-Type needs a boundary of 1 to 70 characters.")
    if not boundary.isascii() or any(ch in boundary for ch in "\r\n"):
        raise _malformed("The multipart boundary must be printable ASCII.")
    return boundary


def _part_headers(block: bytes) -> dict[str, str]:
    if len(block) > MAX_PART_HEADER_BYTES:
        raise _malformed("A multipart part has too many header bytes.")
    headers: dict[str, str] = {}
    if not block:
        return headers
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("A multipart part header is not valid UTF-8.") from None
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        # Folded (obsolete) header lines and nameless lines are not valid in form data.
        if not colon or not name or line[:1] in (" ", "\t"):
            raise _malformed("A multipart part has a malformed header line.")
        if name in headers:
            raise _malformed(f"A multipart part repeats the header '{name[:40]}'.")
        headers[name] = value.strip()
    return headers


def _part(block: bytes) -> FormPart:
    end = block.find(_CRLF + _CRLF)
    if block.startswith(_CRLF):
        head, data = b"", block[2:]
    elif end >= 0:
        head, data = block[:end], block[end + 4 :]
    else:
        raise _malformed("A multipart part has no blank line after its headers.")
    headers = _part_headers(head)
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise _malformed("Every multipart part needs a Content-Disposition header.")
    params = _header_params("content-disposition", disposition)
    if params.get_content_disposition() != "form-data":
        raise _malformed("Multipart parts must have Content-Disposition: form-data.")
    raw_name = params.get_param("name", header="content-disposition")
    # RFC 2231 (name*=utf-8''...) comes back as a tuple; collapse it to text.
    name = collapse_rfc2231_value(raw_name) if isinstance(raw_name, tuple) else raw_name
    if not isinstance(name, str) or not name:
        raise _malformed("Every multipart part needs a name.")
    encoding = headers.get("content-transfer-encoding", "binary").lower()
    if encoding not in _TRANSPARENT_ENCODINGS:
        raise _malformed(f"Content-Transfer-Encoding '{encoding[:20]}' is not supported.")
    filename = params.get_filename()
    return FormPart(
        name=name,
        data=data,
        filename=None if filename is None else str(filename),
        content_type=headers.get("content-type"),
    )


def parse_form_data(body: bytes, content_type: str) -> list[FormPart]:
    """The parts of a ``multipart/form-data`` body, in order."""
    delimiter = b"--" + boundary_of(content_type).encode("ascii")
    # The first delimiter opens the body or follows a preamble on its own line.
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        start = body.find(_CRLF + delimiter)
        if start < 0:
            raise _malformed("The multipart body does not start with its boundary.")
        position = start + 2 + len(delimiter)
    separator = _CRLF + delimiter
    parts: list[FormPart] = []
    while True:
        if body.startswith(b"--", position):
            return parts  # the close delimiter; an epilogue after it is ignored (RFC 2046)
        # Transport padding (spaces, tabs) may follow a delimiter before its line break.
        line_end = body.find(_CRLF, position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise _malformed("A multipart boundary line is malformed.")
        start = line_end + 2
        end = body.find(separator, start)
        if end < 0:
            raise _malformed("The multipart body ends without its closing boundary.")
        if len(parts) == MAX_PARTS:
            raise _malformed(f"A form may have at most {MAX_PARTS} fields.")
        parts.append(_part(body[start:end]))
        position = end + len(separator)
