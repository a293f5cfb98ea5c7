"""The WSGI application: the provider's ``/v1`` API plus the ``/_emulator`` admin API."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import bedrock
from .engine import Content, Emulator
from .errors import (
    INVALID_API_KEY,
    INVALID_JSON,
    INVALID_VALUE,
    METHOD_NOT_ALLOWED,
    MODERATION_BLOCKED,
    RATE_LIMIT_EXCEEDED,
    SERVER_ERROR,
    UNKNOWN_URL,
    ApiError,
)
from .faults import FaultSpecError
from .protocol import Upload, moderate, parse_create, validate_prompt

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_ZEROS = bytes(CHUNK_SIZE)
_SERVER_ERROR_CODES = {
    500: SERVER_ERROR,
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

Handler = Callable[..., Response]


class TruncatedDownloadError(Exception):
    """Raised mid-body by a truncated download: the server must drop the connection."""


def free_box_header(total: int) -> bytes:
    """Header of a top-level MP4 ``free`` box whose total size (header included) is ``total``."""
    if total < 8:
        raise ValueError("a box is at least 8 bytes")
    if total <= 0xFFFFFFFF:
        return struct.pack(">I4s", total, b"free")
    # size 1 means a 64-bit size follows the type.
    return struct.pack(">I4sQ", 1, b"free", total)


def stream_file(path: Path, padding: int, truncate_after: int | None) -> Iterator[bytes]:
    """The file, then a ``free`` box of ``padding`` bytes, in 1 MiB chunks; never all in memory."""
    sent = 0

    def pieces() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk
        if padding:
            header = free_box_header(padding)
            yield header
            remaining = padding - len(header)
            while remaining > 0:
                size = min(CHUNK_SIZE, remaining)
                yield _ZEROS if size == CHUNK_SIZE else _ZEROS[:size]
                remaining -= size

    for chunk in pieces():
        if truncate_after is not None and sent + len(chunk) >= truncate_after:
            if truncate_after > sent:
                yield chunk[: truncate_after - sent]
            raise TruncatedDownloadError(f"truncated after {truncate_after} bytes")
        sent += len(chunk)
        yield chunk


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _error(error: ApiError) -> Response:
    return _json(error.body(), error.status, error.headers)


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 10 else "*" * 8


def _json_body(request: Request) -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. Make sure it is valid JSON.",
            code=INVALID_JSON,
        ) from exc


class EmulatorApp:
    """WSGI callable; all state lives in the :class:`Emulator` it serves."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._v1: dict[str, Handler] = {
            "videos": self._videos,
            "video": self._video,
            "content": self._content,
            "remix": self._remix,
            "moderations": self._moderations,
        }
        self._admin: dict[str, Handler] = {
            "faults": self._faults,
            "config": self._config,
            "requests": lambda request: _json(self.emulator.requests()),
            "stats": lambda request: _json(self.emulator.stats_snapshot()),
            "reset": self._reset,
            "webhooks": lambda request: _json(self.emulator.webhooks.deliveries()),
            "invocations": lambda request: _json(self.emulator.bedrock.invocations()),
            "admin_video": self._admin_video,
            "health": lambda request: _json({"status": "ok"}),
        }
        self._map = Map(
            [
                Rule("/v1/videos", endpoint="videos", methods=["GET", "POST"]),
                Rule("/v1/videos/<video_id>", endpoint="video", methods=["GET", "DELETE"]),
                Rule("/v1/videos/<video_id>/content", endpoint="content", methods=["GET"]),
                Rule("/v1/videos/<video_id>/remix", endpoint="remix", methods=["POST"]),
                Rule("/v1/moderations", endpoint="moderations", methods=["POST"]),
                Rule("/_emulator/faults", endpoint="faults", methods=["GET", "POST"]),
                Rule("/_emulator/config", endpoint="config", methods=["GET", "POST"]),
                Rule("/_emulator/requests", endpoint="requests", methods=["GET"]),
                Rule("/_emulator/stats", endpoint="stats", methods=["GET"]),
                Rule("/_emulator/reset", endpoint="reset", methods=["POST"]),
                Rule("/_emulator/webhooks", endpoint="webhooks", methods=["GET"]),
                Rule("/_emulator/invocations", endpoint="invocations", methods=["GET"]),
                Rule("/_emulator/videos/<video_id>", endpoint="admin_video", methods=["GET"]),
                Rule("/_emulator/health", endpoint="health", methods=["GET"]),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        started = time.time()
        if request.path == "/async-invoke" or request.path.startswith("/async-invoke/"):
            # Amazon Bedrock's runtime face (boto3's bedrock-runtime client, by endpoint URL).
            response = bedrock.handle(self.emulator.bedrock, request)
            self.emulator.record_request(
                request.method,
                request.path,
                request.query_string.decode("latin-1"),
                response.status_code,
                started,
            )
        elif request.path == "/v1" or request.path.startswith("/v1/"):
            response = self._dispatch_v1(request)
            response.headers["x-request-id"] = "req_" + secrets.token_hex(12)
            self.emulator.record_request(
                request.method,
                request.path,
                request.query_string.decode("latin-1"),
                response.status_code,
                started,
            )
        else:
            response = self._dispatch_admin(request)
        return response(environ, start_response)

    # --- dispatch -----------------------------------------------------------------------------

    def _route(self, request: Request) -> tuple[str, dict[str, Any]]:
        try:
            endpoint, args = self._map.bind_to_environ(request.environ).match()
        except MethodNotAllowed as exc:
            allowed = ", ".join(exc.valid_methods or [])
            raise ApiError(
                405,
                f"Method {request.method} is not allowed for {request.path}. Allowed: {allowed}.",
                code=METHOD_NOT_ALLOWED,
                headers={"Allow": allowed},
            ) from exc
        except NotFound as exc:
            raise ApiError(
                404, f"Invalid URL ({request.method} {request.path})", code=UNKNOWN_URL
            ) from exc
        return str(endpoint), dict(args)

    def _dispatch_v1(self, request: Request) -> Response:
        faults = self.emulator.faults
        delay = faults.take_slow()
        if delay is not None:
            self.emulator.stats.incr("faults_injected")
            # Interruptible, so stopping the server never waits out a long delay.
            self.emulator.stop_event.wait(delay)
        retry_after = faults.take_rate_limit()
        if retry_after is not None:
            self.emulator.stats.incr("faults_injected")
            return _error(
                ApiError(
                    429,
                    "Rate limit reached for requests to the videos API. "
                    f"Please try again in {retry_after:g}s.",
                    type="requests",
                    code=RATE_LIMIT_EXCEEDED,
                    headers={
                        "Retry-After": str(max(0, round(retry_after))),
                        "retry-after-ms": str(round(retry_after * 1000)),
                    },
                )
            )
        server_error = faults.take_server_error()
        if server_error is not None:
            self.emulator.stats.incr("faults_injected")
        if server_error is not None and not server_error.after_processing:
            return self._server_error(server_error.status)
        try:
            self._authenticate(request)
            endpoint, args = self._route(request)
            response = self._v1[endpoint](request, **args)
        except ApiError as exc:
            response = _error(exc)
        except RequestEntityTooLarge:
            response = _error(ApiError(413, f"Request body is larger than {MAX_BODY_BYTES} bytes."))
        except HTTPException as exc:
            # Malformed multipart and the like: still the provider's error shape.
            response = _error(ApiError(exc.code or 400, exc.description or "Bad request."))
        except Exception:
            logger.exception("emulator bug while serving %s %s", request.method, request.path)
            response = self._server_error(500)
        if server_error is not None:
            response.close()
            return self._server_error(server_error.status)
        return response

    def _dispatch_admin(self, request: Request) -> Response:
        try:
            endpoint, args = self._route(request)
            return self._admin[endpoint](request, **args)
        except ApiError as exc:
            return _error(exc)

    @staticmethod
    def _server_error(status: int) -> Response:
        return _error(
            ApiError(
                status,
                "The server had an error while processing your request. Sorry about that!",
                type="server_error",
                code=_SERVER_ERROR_CODES.get(status, SERVER_ERROR),
            )
        )

    def _authenticate(self, request: Request) -> None:
        expected = self.emulator.config.api_key.encode()
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        supplied = token.strip() if scheme.lower() == "bearer" else ""
        supplied = supplied or request.headers.get("api-key", "").strip()
        if not supplied:
            raise ApiError(
                401,
                "You didn't provide an API key. Provide it in an Authorization header using "
                "Bearer auth (Authorization: Bearer YOUR_KEY) or in an api-key header.",
                code=INVALID_API_KEY,
            )
        if not hmac.compare_digest(supplied.encode(), expected):
            raise ApiError(
                401, f"Incorrect API key provided: {_mask(supplied)}.", code=INVALID_API_KEY
            )

    # --- /v1 ----------------------------------------------------------------------------------

    def _videos(self, request: Request) -> Response:
        if request.method == "GET":
            return self._list(request)
        mimetype = request.mimetype
        upload: Upload | None = None
        if mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            fields: dict[str, Any] = {key: request.form[key] for key in request.form}
            stored = request.files.get("input_reference")
            if stored is not None:
                upload = Upload(stored.filename, stored.mimetype or "", stored.read())
        elif mimetype == "application/json" or not request.get_data(cache=True):
            body = _json_body(request)
            if not isinstance(body, dict):
                raise ApiError(400, "The request body must be a JSON object.", code=INVALID_JSON)
            fields = body
        else:
            raise ApiError(
                400,
                f"Unsupported Content-Type '{mimetype}': send multipart/form-data or JSON.",
                code=INVALID_VALUE,
            )
        try:
            created = parse_create(fields, upload, self.emulator.config)
        except ApiError as exc:
            if exc.code == MODERATION_BLOCKED:
                self.emulator.stats.incr("rejected")
            raise
        return _json(self.emulator.create(created))

    def _list(self, request: Request) -> Response:
        args = request.args
        raw_limit = args.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise ApiError(
                400,
                f"Invalid 'limit': '{raw_limit}'. Expected an integer between 1 and 100.",
                param="limit",
                code=INVALID_VALUE,
            )
        order = args.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(
                400,
                f"Invalid value for 'order': '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code=INVALID_VALUE,
            )
        return _json(self.emulator.list_videos(args.get("after") or None, limit, order))

    def _video(self, request: Request, video_id: str) -> Response:
        if request.method == "DELETE":
            return _json(self.emulator.delete(video_id))
        video, poll_after_ms = self.emulator.retrieve(video_id)
        headers = {} if poll_after_ms is None else {"openai-poll-after-ms": str(poll_after_ms)}
        return _json(video, headers=headers)

    def _content(self, request: Request, video_id: str) -> Response:
        content: Content = self.emulator.content(video_id, request.args.get("variant", "video"))
        truncate_after = self.emulator.faults.take_truncation()
        if truncate_after is not None:
            self.emulator.stats.incr("faults_injected")
        length = content.path.stat().st_size + content.padding
        response = Response(
            stream_file(content.path, content.padding, truncate_after),
            status=200,
            mimetype=content.content_type,
            direct_passthrough=True,
        )
        response.headers["Content-Length"] = str(length)
        return response

    def _remix(self, request: Request, video_id: str) -> Response:
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            body: Any = {key: request.form[key] for key in request.form}
        else:
            body = _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.", code=INVALID_JSON)
        prompt = validate_prompt(body.get("prompt"), self.emulator.config)
        return _json(self.emulator.remix(video_id, prompt))

    def _moderations(self, request: Request) -> Response:
        return _json(moderate(_json_body(request), self.emulator.config))

    # --- /_emulator ---------------------------------------------------------------------------

    def _admin_body(self, request: Request) -> dict[str, Any]:
        body = _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.", code=INVALID_JSON)
        return body

    def _faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.emulator.faults.configure(self._admin_body(request))
            except FaultSpecError as exc:
                raise ApiError(400, str(exc), code=INVALID_VALUE) from exc
        return _json(self.emulator.faults.snapshot())

    def _config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.emulator.update_config(self._admin_body(request))
            except (ValueError, TypeError) as exc:
                raise ApiError(400, str(exc), code=INVALID_VALUE) from exc
        return _json(self.emulator.config.public_view())

    def _reset(self, request: Request) -> Response:
        body = self._admin_body(request)
        self.emulator.reset(restore_config=bool(body.get("config", False)))
        return _json({"reset": True})

    def _admin_video(self, request: Request, video_id: str) -> Response:
        return _json(self.emulator.inspect(video_id))
