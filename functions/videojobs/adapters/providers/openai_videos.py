"""The one place that speaks the OpenAI Videos protocol, over a synchronous httpx client.

Every failure leaves this module as a :class:`~videojobs.models.errors.ProviderError` subclass,
chosen so that the state machine can ``Retry``/``Catch`` on the class name:

- 429 → :class:`ProviderThrottledError` with ``retry_after`` (seconds) from ``retry-after-ms``,
  then ``Retry-After`` (delta-seconds or HTTP-date), then ``x-ratelimit-reset-requests``
  (``1s``, ``6m0s``, ``20ms``...); the first that parses wins, None when none does. A 429 whose
  code is ``insufficient_quota`` is a billing problem that waiting will not fix, so it is a
  :class:`ProviderRejectedError`.
- 5xx, 408, timeouts, connection errors/resets, protocol errors, truncated bodies →
  :class:`ProviderTransientError`.
- 401/403 → :class:`ProviderAuthError`.
- Any other non-2xx (400, 404, 409, 422, unexpected redirects...) → :class:`ProviderRejectedError`
  carrying the provider's ``code``, ``message`` and ``param``.
- A 2xx whose body is not JSON or does not match the protocol → :class:`ProviderTransientError`
  with code ``invalid_response``. Such bodies come from a proxy or gateway hiccup far more often
  than from a provider that changed its protocol overnight, and a retry of a read is harmless.
  For ``create`` the outcome is then as unknown as after a read timeout: a video may exist.

Errors raised without a provider response carry a local ``code`` (``connect_error``,
``read_timeout``, ``truncated_body``, ``invalid_response``...) so logs tell them apart; the
ones starting with ``connect`` or ``pool`` mean the request was never sent.

The key never appears in a repr, an error message or a log line written by this module; text
copied from a provider response is scrubbed of it too, since some gateways echo credentials.
"""

from __future__ import annotations

import builtins
import json
import math
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from importlib import metadata
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)
from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderConfig,
    ProviderErrorBody,
    ProviderVideo,
    RetrievedVideo,
    VideoPage,
)

__all__ = [
    "OpenAIContentStream",
    "OpenAIVideosClient",
    "ProviderConfig",
    "parse_duration",
    "parse_retry_after",
]

_MAX_ERROR_BODY: Final = 64 * 1024
# A page of 100 videos is ~100 KiB; anything near this is not a protocol answer.
_MAX_JSON_BODY: Final = 8 * 1024 * 1024
_MAX_MESSAGE_CHARS: Final = 500
_MAX_REDIRECTS: Final = 5
_REDACTED: Final = "[redacted]"
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

_ModelT = TypeVar("_ModelT", bound=BaseModel)

RedirectGuard = Callable[[str, str, int], Sequence[str]]
"""Judges a redirect off the provider's origin: given (scheme, host, port), the addresses that
may be connected to, or a ``ProviderError`` when the target may not be reached at all."""

MODERATION_MODEL: Final = "omni-moderation-latest"


class _ModerationEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    flagged: bool
    categories: dict[str, bool | None] = Field(default_factory=dict)


class _ModerationResponse(BaseModel):
    """The part of a moderation answer we read; one result per input."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    results: list[_ModerationEntry] = Field(min_length=1)


def _user_agent() -> str:
    try:
        version = metadata.version("videojobs")
    except metadata.PackageNotFoundError:
        # Lambda bundles carry the source tree without distribution metadata.
        version = "0"
    return f"videojobs/{version} python-httpx/{httpx.__version__}"


USER_AGENT: Final = _user_agent()


# --- header parsing -------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS: Final[Mapping[str, float]] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``), else None."""
    text = text.strip()
    if not text:
        return None
    total = 0.0
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total if math.isfinite(total) else None


def _non_negative(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _http_date_delay(text: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are always GMT; a naive result means the zone was missing or -0000.
        return None
    return max(0.0, moment.timestamp() - now)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait before retrying, from the first throttling header that parses.

    Order: ``retry-after-ms`` (most precise), ``Retry-After`` (delta-seconds or HTTP-date),
    ``x-ratelimit-reset-requests`` (duration). None when none is present or readable.
    """
    clock = time.time() if now is None else now
    millis = headers.get("retry-after-ms")
    if millis is not None:
        value = _non_negative(millis)
        if value is not None:
            return value / 1000.0
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        value = _non_negative(retry_after)
        if value is None:
            value = _http_date_delay(retry_after, clock)
        if value is not None:
            return value
    reset = headers.get("x-ratelimit-reset-requests")
    if reset is not None:
        value = parse_duration(reset)
        if value is not None and value >= 0:
            return value
    return None


def _parse_poll_after_ms(value: str | None) -> int | None:
    if value is None:
        return None
    parsed = _non_negative(value)
    return None if parsed is None else round(parsed)


# --- auth -----------------------------------------------------------------------------------


class _KeyAuth(httpx.Auth):
    """Adds the key per request, so it never sits in the client's default headers."""

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Redirects are followed by hand (see stream_content) so the key only ever goes to
        # the configured origin.
        request.headers[self._header] = self._value
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r})"


def _build_auth(config: ProviderConfig) -> _KeyAuth:
    key = config.api_key.get_secret_value()
    if config.auth_style == "bearer":
        return _KeyAuth("Authorization", f"Bearer {key}")
    return _KeyAuth("api-key", key)


# --- error mapping --------------------------------------------------------------------------


class _Redactor:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, text: str | None, limit: int = _MAX_MESSAGE_CHARS) -> str | None:
        if text is None:
            return None
        if self._secret:
            text = text.replace(self._secret, _REDACTED)
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _request_id(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("x-request-id")
    return value


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"


def _read_capped(
    response: httpx.Response, limit: int = _MAX_ERROR_BODY, *, swallow: bool = True
) -> bytes:
    """Up to ``limit`` bytes of a streamed body: a runaway body must not fill memory."""
    collected = bytearray()
    try:
        for piece in response.iter_bytes():
            collected += piece
            if len(collected) >= limit:
                break
    except (httpx.TransportError, httpx.DecodingError):
        # For an error status the status line is already the answer; a body cut short only
        # loses detail.
        if not swallow:
            raise
    return bytes(collected[:limit])


def _transport_code(exc: httpx.TransportError) -> str:
    codes: tuple[tuple[type[httpx.TransportError], str], ...] = (
        (httpx.ConnectTimeout, "connect_timeout"),
        (httpx.PoolTimeout, "pool_timeout"),
        (httpx.ReadTimeout, "read_timeout"),
        (httpx.WriteTimeout, "write_timeout"),
        (httpx.ConnectError, "connect_error"),
        (httpx.ReadError, "read_error"),
        (httpx.WriteError, "write_error"),
        (httpx.RemoteProtocolError, "remote_protocol_error"),
    )
    for kind, code in codes:
        if isinstance(exc, kind):
            return code
    return "transport_error"


# --- content streaming ----------------------------------------------------------------------


class OpenAIContentStream:
    """An open content download; iterate it once with :meth:`iter_chunks`.

    ``content_length`` is the number of bytes :meth:`iter_chunks` will yield when the provider
    declared it (None for chunked transfer); the stream itself checks that every declared byte
    arrived, so a caller's own count is a second line of defence, not the first.
    """

    def __init__(self, response: httpx.Response, *, video_id: str, variant: ContentVariant) -> None:
        self._response = response
        self.video_id = video_id
        self.variant = variant
        self.request_id: str | None = _request_id(response)
        self.content_type: str | None = response.headers.get("content-type")
        self._declared_length = _content_length(response)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        self._identity = encoding in ("", "identity")
        # With a content-coding the declared length counts encoded bytes, not what we yield.
        self.content_length: int | None = self._declared_length if self._identity else None
        self.bytes_received = 0

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(video_id={self.video_id!r}, variant={self.variant!r}, "
            f"content_length={self.content_length!r}, request_id={self.request_id!r})"
        )

    def iter_chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the body, checked, either as it arrives or in chunks of ``chunk_size`` bytes.

        With ``chunk_size=None`` (the default) each piece is handed over as the transport
        delivered it, without a copy: memory is one network piece whatever the body size
        (httpx's default transport reads 64 KiB at a time; a body sent with a content-coding
        despite our ``Accept-Encoding: identity`` comes as httpx's decoded pieces). Callers
        that need parts of a given size, such as the S3 multipart upload, buffer them
        themselves, so that the bytes are copied once and not twice.

        With an int, every chunk but the last is exactly ``chunk_size`` bytes; memory stays
        at about three chunks (the reused buffer, the chunk being handed out, and the one the
        caller may still hold).

        Either way :attr:`bytes_received` counts what was handed out, nothing beyond the
        declared ``Content-Length`` is ever handed out, and :class:`ProviderTransientError`
        is raised when the connection drops or stalls mid-body, or when fewer (or more) bytes
        arrive than ``Content-Length`` announced. Such an error can come after pieces were
        handed out, so what a caller received is only whole once iteration ends normally.
        """
        if chunk_size is None:
            return self._passed_through()
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return self._rechunked(chunk_size)

    def _passed_through(self) -> Iterator[bytes]:
        for piece in self._checked_pieces():
            self.bytes_received += len(piece)
            yield piece

    def _rechunked(self, chunk_size: int) -> Iterator[bytes]:
        # Pieces are copied into one reused buffer as they arrive rather than kept until a
        # chunk is full: holding thousands of network-sized pieces churns the allocator (pages
        # handed back to the OS and faulted in again), which measured slower than the copy.
        buffer = bytearray(chunk_size)
        window = memoryview(buffer)
        filled = 0
        for piece in self._checked_pieces():
            size = len(piece)
            if filled + size < chunk_size:
                window[filled : filled + size] = piece
                filled += size
                continue
            source = memoryview(piece)
            offset = 0
            while filled + size - offset >= chunk_size:
                take = chunk_size - filled
                window[filled:] = source[offset : offset + take]
                offset += take
                filled = 0
                self.bytes_received += chunk_size
                yield bytes(buffer)
            rest = size - offset
            window[:rest] = source[offset:]
            filled = rest
        # Only reached once the length check passed: a short body never ends in a partial chunk.
        if filled:
            self.bytes_received += filled
            yield bytes(window[:filled])

    def _checked_pieces(self) -> Iterator[bytes]:
        """The body as the transport delivers it, uncopied, with every failure mapped."""
        response = self._response
        declared = self._declared_length
        # Without a content-coding the raw bytes are the body: skip httpx's decoder layers.
        pieces = response.iter_raw() if self._identity else response.iter_bytes()
        try:
            for piece in pieces:
                if declared is not None and response.num_bytes_downloaded > declared:
                    raise self._truncated(f"more than the {declared} bytes declared arrived")
                yield piece
        except httpx.TransportError as exc:
            raise ProviderTransientError(
                f"content download of {self.video_id} ({self.variant}) broke after "
                f"{response.num_bytes_downloaded} bytes: {type(exc).__name__}",
                status_code=response.status_code,
                code=_transport_code(exc),
                request_id=self.request_id,
            ) from exc
        except httpx.DecodingError as exc:
            raise ProviderTransientError(
                f"content download of {self.video_id} ({self.variant}) could not be decoded",
                status_code=response.status_code,
                code="invalid_response",
                request_id=self.request_id,
            ) from exc
        if declared is not None and response.num_bytes_downloaded != declared:
            raise self._truncated(
                f"{response.num_bytes_downloaded} of the {declared} bytes declared arrived"
            )

    def _truncated(self, detail: str) -> ProviderTransientError:
        return ProviderTransientError(
            f"content download of {self.video_id} ({self.variant}) was truncated: {detail}",
            status_code=self._response.status_code,
            code="truncated_body",
            request_id=self.request_id,
        )


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


# --- the client -----------------------------------------------------------------------------


class OpenAIVideosClient:
    """Synchronous client for ``/videos`` on an OpenAI-compatible endpoint.

    One instance holds one ``httpx.Client`` (one connection pool): create it once per process
    and reuse it. Use it as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        redirect_guard: RedirectGuard | None = None,
    ) -> None:
        self._config = config
        # Without a guard no redirect leaves the provider's origin: a download is only ever
        # sent where a caller has checked it may go.
        self._redirect_guard = redirect_guard
        self._scrub = _Redactor(config.api_key.get_secret_value())
        self._api_timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.read_timeout,
            write=config.write_timeout,
            pool=config.pool_timeout,
        )
        self._content_timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.content_read_timeout,
            write=config.write_timeout,
            pool=config.pool_timeout,
        )
        self._root = httpx.URL(config.base_url + "/")
        self._http = httpx.Client(
            base_url=self._root,
            auth=_build_auth(config),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=self._api_timeout,
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._config.base_url!r}, "
            f"auth_style={self._config.auth_style!r})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._http.close()

    @property
    def config(self) -> ProviderConfig:
        """The configuration this client was built from (the key stays a SecretStr)."""
        return self._config

    # --- operations -------------------------------------------------------------------------

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        """``POST /videos`` as multipart form data; starts a paid render."""
        fields: builtins.list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]] = [
            ("prompt", (None, request.prompt.encode())),
            ("model", (None, request.model.encode())),
            ("seconds", (None, request.seconds.encode())),
            ("size", (None, request.size.encode())),
        ]
        reference = request.input_reference
        if reference is not None:
            fields.append(
                ("input_reference", (reference.filename, reference.data, reference.content_type))
            )
        # Every field goes in ``files`` so the body is multipart even without an image;
        # a filename of None renders a plain form field.
        http_request = self._http.build_request("POST", "videos", files=fields)
        return self._call_json(http_request, ProviderVideo)

    def retrieve(self, video_id: str) -> RetrievedVideo:
        """``GET /videos/{id}`` plus the ``openai-poll-after-ms`` hint."""
        http_request = self._http.build_request("GET", _video_path(video_id))
        with self._exchange(http_request) as response:
            video = self._decode(response, ProviderVideo)
            return RetrievedVideo(
                video=video,
                poll_after_ms=_parse_poll_after_ms(response.headers.get("openai-poll-after-ms")),
                request_id=_request_id(response),
            )

    def list(
        self,
        after: str | None = None,
        limit: int | None = None,
        order: ListOrder | None = None,
    ) -> VideoPage:
        """``GET /videos``: one page, newest first unless ``order="asc"``."""
        params: dict[str, str | int] = {}
        if after is not None:
            params["after"] = after
        if limit is not None:
            params["limit"] = limit
        if order is not None:
            params["order"] = order
        http_request = self._http.build_request("GET", "videos", params=params)
        return self._call_json(http_request, VideoPage)

    def delete(self, video_id: str) -> DeletedVideo:
        """``DELETE /videos/{id}``: removes the video and its downloadable assets."""
        http_request = self._http.build_request("DELETE", _video_path(video_id))
        return self._call_json(http_request, DeletedVideo)

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        """``POST /videos/{id}/remix`` with a JSON body; starts a new paid render."""
        if not prompt:
            raise ValueError("prompt must not be empty")
        http_request = self._http.build_request(
            "POST", f"{_video_path(video_id)}/remix", json={"prompt": prompt}
        )
        return self._call_json(http_request, ProviderVideo)

    def moderate(self, text: str) -> ModerationResult:
        """``POST /moderations`` for one text; free, and no video is created."""
        http_request = self._http.build_request(
            "POST", "moderations", json={"input": text, "model": MODERATION_MODEL}
        )
        answer = self._call_json(http_request, _ModerationResponse)
        flagged = any(result.flagged for result in answer.results)
        categories = sorted(
            {name for result in answer.results for name, hit in result.categories.items() if hit}
        )
        return ModerationResult(flagged=flagged, categories=tuple(categories))

    @contextmanager
    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> Iterator[OpenAIContentStream]:
        """Open ``GET /videos/{id}/content?variant=`` without reading the body.

        The response is closed when the block exits, read to the end or not. Redirects are
        followed (to a CDN, say), but the key is only sent to the configured origin, and a
        redirect off that origin only where the redirect guard allows (https, public
        addresses), connecting to the address it checked.
        """
        http_request = self._http.build_request(
            "GET",
            f"{_video_path(video_id)}/content",
            params={"variant": variant},
            # MP4/WebP do not compress; identity keeps Content-Length meaningful.
            headers={"Accept": "*/*", "Accept-Encoding": "identity"},
            timeout=self._content_timeout,
        )
        with self._exchange(http_request, follow_redirects=True) as response:
            yield OpenAIContentStream(response, video_id=video_id, variant=variant)

    # --- plumbing ---------------------------------------------------------------------------

    def _call_json(self, request: httpx.Request, model: type[_ModelT]) -> _ModelT:
        with self._exchange(request) as response:
            return self._decode(response, model)

    @contextmanager
    def _exchange(
        self, request: httpx.Request, *, follow_redirects: bool = False
    ) -> Iterator[httpx.Response]:
        """Send ``request`` and yield a successful, still unread response; map every failure."""
        response = self._send(request)
        try:
            hops = 0
            # Where the last request logically went: a guarded hop connects to an address, but
            # a relative Location is relative to the name.
            current = request.url
            while follow_redirects and response.status_code in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if location is None or hops >= _MAX_REDIRECTS:
                    break
                hops += 1
                try:
                    target = current.join(location)
                except httpx.InvalidURL:
                    break
                response.close()
                response = self._send(self._redirect(request, target))
                current = target
            if not response.is_success:
                raise self._error_from_response(response)
            yield response
        finally:
            response.close()

    def _same_origin(self, url: httpx.URL) -> bool:
        return (
            url.scheme == self._root.scheme
            and url.host == self._root.host
            and url.port == self._root.port
        )

    def _redirect(self, original: httpx.Request, target: httpx.URL) -> httpx.Request:
        headers = {k: v for k, v in original.headers.items() if k.lower() != "host"}
        if self._same_origin(target):
            return httpx.Request("GET", target, headers=headers, extensions=original.extensions)
        if self._redirect_guard is None or target.scheme not in ("http", "https"):
            raise ProviderRejectedError(
                "The provider redirected a download off its origin, which is not followed.",
                code="redirect_refused",
            )
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = self._redirect_guard(target.scheme, target.host, port)
        # Connect to the address that was checked, not to a fresh resolution of the name (a
        # name re-resolving to a private address is never reached); Host and TLS (SNI and
        # certificate) stay the URL's.
        extensions = dict(original.extensions)
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        headers["Host"] = target.netloc.decode("ascii")
        return httpx.Request(
            "GET", target.copy_with(host=addresses[0]), headers=headers, extensions=extensions
        )

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            if self._same_origin(request.url):
                return self._http.send(request, stream=True)
            # Off-origin (a redirect target): no key, and strip one a caller may have copied.
            for name in ("authorization", "api-key"):
                request.headers.pop(name, None)
            return self._http.send(request, stream=True, auth=None)
        except httpx.TransportError as exc:
            raise ProviderTransientError(
                f"{_describe(request)} failed: {type(exc).__name__}",
                code=_transport_code(exc),
            ) from exc

    def _decode(self, response: httpx.Response, model: type[_ModelT]) -> _ModelT:
        request_id = _request_id(response)
        try:
            body = _read_capped(response, _MAX_JSON_BODY + 1, swallow=False)
        except httpx.TransportError as exc:
            raise ProviderTransientError(
                f"{_describe(response.request)} broke while reading the response: "
                f"{type(exc).__name__}",
                status_code=response.status_code,
                code=_transport_code(exc),
                request_id=request_id,
            ) from exc
        except httpx.DecodingError as exc:
            raise ProviderTransientError(
                f"{_describe(response.request)} sent a body that could not be decoded",
                status_code=response.status_code,
                code="invalid_response",
                request_id=request_id,
            ) from exc
        if len(body) > _MAX_JSON_BODY:
            raise ProviderTransientError(
                f"{_describe(response.request)} returned more than {_MAX_JSON_BODY} bytes",
                status_code=response.status_code,
                code="invalid_response",
                request_id=request_id,
            )
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            # Only the error locations and kinds: the input may be a page of HTML.
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['type']}"
                for error in exc.errors(include_input=False, include_url=False)[:5]
            )
            raise ProviderTransientError(
                f"{_describe(response.request)} returned HTTP {response.status_code} with a "
                f"body that is not a valid {model.__name__} ({self._scrub(problems)})",
                status_code=response.status_code,
                code="invalid_response",
                request_id=request_id,
            ) from None

    def _error_from_response(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        request_id = _request_id(response)
        body = _read_capped(response)
        detail = _error_detail(body)
        where = _describe(response.request)
        provider_message = None
        if detail is not None and detail.error.message:
            provider_message = self._scrub(detail.error.message)
            message = f"{where}: {provider_message}"
        else:
            message = (
                f"{where} returned HTTP {status} {response.reason_phrase}".rstrip()
                + _body_summary(response, body)
            )
        code = self._scrub(detail.error.code, 100) if detail else None
        param = self._scrub(detail.error.param, 100) if detail else None
        fields: dict[str, Any] = {
            "status_code": status,
            "code": code,
            "param": param,
            "request_id": request_id,
            "provider_message": provider_message,
        }
        if status == 429:
            if code == "insufficient_quota":
                return ProviderRejectedError(message, **fields)
            return ProviderThrottledError(
                message, retry_after=parse_retry_after(response.headers), **fields
            )
        if status in (401, 403):
            return ProviderAuthError(message, **fields)
        if status >= 500 or status == 408:
            return ProviderTransientError(message, **fields)
        return ProviderRejectedError(message, **fields)


def _error_detail(body: bytes) -> ProviderErrorBody | None:
    if not body:
        return None
    try:
        return ProviderErrorBody.model_validate_json(body)
    except ValidationError:
        pass
    # Some gateways answer {"message": "..."} or {"error": "..."}: still worth showing.
    try:
        loaded = json.loads(body)
    except ValueError:
        return None
    if isinstance(loaded, dict):
        text = loaded.get("error") if isinstance(loaded.get("error"), str) else None
        text = text or (loaded.get("message") if isinstance(loaded.get("message"), str) else None)
        if text:
            return ProviderErrorBody.model_validate({"error": {"message": text}})
    return None


def _body_summary(response: httpx.Response, body: bytes) -> str:
    if not body:
        return ""
    content_type = response.headers.get("content-type", "unknown type").split(";")[0].strip()
    return f" (no OpenAI error in the body: {content_type[:60]}, {len(body)} bytes)"


def _video_path(video_id: str) -> str:
    if not video_id:
        raise ValueError("video_id must not be empty")
    # Quoting everything keeps an id like "../x" from addressing another resource.
    return f"videos/{quote(video_id, safe='')}"
