"""Amazon Bedrock's runtime face for the video models: StartAsyncInvoke, GetAsyncInvoke and
ListAsyncInvokes, on the REST paths boto3 calls (``POST /async-invoke``,
``GET /async-invoke/{invocationArn}``, ``GET /async-invoke``).

``modelInput`` is checked as Bedrock checks it, with its ``ValidationException`` wording
(``Malformed input request: #/<path>: ..., please reformat your input and try again.``).
A finished generation is a real MP4 of the requested length, size and frame rate, written
where Bedrock writes it: ``<s3Uri>/<invocation id>/output.mp4``, plus ``manifest.json`` and
``generation-status.json`` for Nova Reel. The files go through ``output_writer`` (the local
stack points it at its S3 bucket, so the bucket's EventBridge notifications fire); without
one, generations fail as Bedrock's do when it cannot write to S3.

The fault knobs are the emulator's own: ``rate_limit`` answers ``ThrottlingException``,
``server_error`` ``InternalServerException`` (500) or ``ServiceUnavailableException`` (503),
``quota_exceeded`` ``ServiceQuotaExceededException``; the ``[[fail]]`` marker in a prompt
makes the generation fail halfway with a ``failureMessage``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import io
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError
from werkzeug.wrappers import Request, Response

from .faults import Faults
from .render import Renderer, RenderSpec, look_for_prompt

logger = logging.getLogger(__name__)

OutputWriter = Callable[[str, str, bytes, str], None]
"""``(bucket, key, body, content_type)``: puts one object."""

NOVA_REEL_MODELS = ("amazon.nova-reel-v1:0", "amazon.nova-reel-v1:1")
LUMA_MODEL = "luma.ray-v2:0"
LUMA_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
LUMA_DURATIONS = ("5s", "9s")
LUMA_RESOLUTIONS = ("540p", "720p")
# Luma's frame at each aspect ratio, by resolution (the short side).
_LUMA_RATIO = {
    "16:9": (16, 9),
    "9:16": (9, 16),
    "1:1": (1, 1),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "21:9": (21, 9),
    "9:21": (9, 21),
}
NOVA_FPS = 24
LUMA_FPS = 24
# Emulated seconds: Nova Reel takes about 90 s for a 6-second clip and 14-17 minutes for two
# minutes (its documentation); Luma is given the same pace.
GENERATION_BASE_SECONDS = 30.0
GENERATION_PER_VIDEO_SECOND = 10.0
FAILURE_MESSAGE = (
    "The generated video has been blocked by our content filters. Try a different prompt."
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/bedrock/aws4_request")
ACCOUNT_ID = "123456789012"


class BedrockError(Exception):
    """An AWS error answer: status, ``x-amzn-ErrorType`` and ``{"message"}``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _malformed(path: str, problem: str) -> BedrockError:
    return BedrockError(
        400,
        "ValidationException",
        f"Malformed input request: #{path}: {problem}, please reformat your input and try again.",
    )


def _iso(moment: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass
class Generation:
    """What the checked ``modelInput`` asks for."""

    seconds: int
    width: int
    height: int
    fps: int
    prompt: str
    task_type: str | None = None
    shots: int = 1


@dataclass
class Invocation:
    arn: str
    model_id: str
    region: str
    token: str
    fingerprint: str
    output_uri: str
    generation: Generation
    submitted: float
    status: str = "InProgress"
    failure_message: str | None = None
    ended: float | None = None
    modified: float = 0.0
    timer: threading.Timer | None = field(default=None, repr=False)

    @property
    def invocation_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def to_api(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "invocationArn": self.arn,
            "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{self.model_id}",
            "clientRequestToken": self.token,
            "status": self.status,
            "submitTime": _iso(self.submitted),
            "lastModifiedTime": _iso(self.modified or self.submitted),
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self.output_uri}},
        }
        if self.failure_message is not None:
            answer["failureMessage"] = self.failure_message
        if self.ended is not None:
            answer["endTime"] = _iso(self.ended)
        return answer


# --- modelInput, checked as Bedrock checks it ---------------------------------------------------


def _only_keys(value: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in value:
        if key not in allowed:
            raise _malformed(path or "", f"extraneous key [{key}] is not permitted")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(path, f"expected type: JSONObject, found: {type(value).__name__}")
    return value


def _text(value: Any, path: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _malformed(path, "expected type: String")
    if not value:
        raise _malformed(path, "expected minLength: 1, actual: 0")
    if len(value) > limit:
        raise _malformed(path, f"expected maxLength: {limit}, actual: {len(value)}")
    return value


def _required(value: dict[str, Any], key: str, path: str) -> Any:
    if key not in value:
        raise _malformed(path or "", f"required key [{key}] not found")
    return value[key]


def _nova_config(model_input: dict[str, Any], task_type: str) -> int:
    config = _object(_required(model_input, "videoGenerationConfig", ""), "/videoGenerationConfig")
    _only_keys(config, "/videoGenerationConfig", ("durationSeconds", "fps", "dimension", "seed"))
    duration = config.get("durationSeconds", 6)
    fps = config.get("fps", NOVA_FPS)
    dimension = config.get("dimension", "1280x720")
    if task_type == "TEXT_VIDEO":
        if duration != 6 or isinstance(duration, bool):
            raise _malformed(
                "/videoGenerationConfig/durationSeconds", f"{duration} is not a valid enum value"
            )
    elif (
        not isinstance(duration, int)
        or isinstance(duration, bool)
        or duration % 6
        or not 12 <= duration <= 120
    ):
        raise BedrockError(
            400,
            "ValidationException",
            "Malformed input request: #/videoGenerationConfig/durationSeconds must be an "
            "integer evenly divisible by 6 and within the range of 12 through 120. Provide a "
            "valid duration and try again.",
        )
    if fps != NOVA_FPS or isinstance(fps, bool):
        raise _malformed("/videoGenerationConfig/fps", f"{fps} is not a valid enum value")
    if dimension != "1280x720":
        raise _malformed(
            "/videoGenerationConfig/dimension", f"{dimension} is not a valid enum value"
        )
    seed = config.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2147483646:
        raise _malformed("/videoGenerationConfig/seed", f"{seed} is not a valid value")
    return int(duration)


def _nova_image(images: Any) -> None:
    if not isinstance(images, list) or len(images) != 1:
        raise _malformed("/textToVideoParams/images", "expected exactly one image")
    image = _object(images[0], "/textToVideoParams/images/0")
    _only_keys(image, "/textToVideoParams/images/0", ("format", "source"))
    image_format = image.get("format")
    if image_format not in ("png", "jpeg"):
        raise _malformed(
            "/textToVideoParams/images/0/format", f"{image_format} is not a valid enum value"
        )
    source = _object(image.get("source"), "/textToVideoParams/images/0/source")
    try:
        data = base64.b64decode(str(source.get("bytes", "")), validate=True)
        with Image.open(io.BytesIO(data)) as opened:
            size = opened.size
            kind = (opened.format or "").lower()
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        raise BedrockError(
            400, "ValidationException", "The input image could not be decoded."
        ) from None
    if kind not in ("png", "jpeg"):
        raise BedrockError(400, "ValidationException", "The input image must be PNG or JPEG.")
    if size != (1280, 720):
        raise BedrockError(
            400,
            "ValidationException",
            f"The input image must be 1280x720 pixels; it is {size[0]}x{size[1]}.",
        )


def check_nova(model_input: dict[str, Any]) -> Generation:
    """Nova Reel's ``modelInput``: TEXT_VIDEO (6 s) or MULTI_SHOT_AUTOMATED (12-120 s)."""
    task_type = _required(model_input, "taskType", "")
    if task_type == "TEXT_VIDEO":
        _only_keys(model_input, "", ("taskType", "textToVideoParams", "videoGenerationConfig"))
        params = _object(_required(model_input, "textToVideoParams", ""), "/textToVideoParams")
        _only_keys(params, "/textToVideoParams", ("text", "images"))
        prompt = _text(
            _required(params, "text", "/textToVideoParams"), "/textToVideoParams/text", 512
        )
        if "images" in params:
            _nova_image(params["images"])
    elif task_type == "MULTI_SHOT_AUTOMATED":
        _only_keys(
            model_input, "", ("taskType", "multiShotAutomatedParams", "videoGenerationConfig")
        )
        params = _object(
            _required(model_input, "multiShotAutomatedParams", ""), "/multiShotAutomatedParams"
        )
        _only_keys(params, "/multiShotAutomatedParams", ("text",))
        prompt = _text(
            _required(params, "text", "/multiShotAutomatedParams"),
            "/multiShotAutomatedParams/text",
            4000,
        )
    else:
        raise _malformed("/taskType", f"{task_type} is not a valid enum value")
    seconds = _nova_config(model_input, task_type)
    return Generation(
        seconds=seconds,
        width=1280,
        height=720,
        fps=NOVA_FPS,
        prompt=prompt,
        task_type=task_type,
        shots=seconds // 6,
    )


def luma_frame(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Width and height of a Luma frame: the short side is the resolution."""
    short = int(resolution.rstrip("p"))
    a, b = _LUMA_RATIO[aspect_ratio]
    if a >= b:
        return short * a // b // 2 * 2, short
    return short, short * b // a // 2 * 2


def check_luma(model_input: dict[str, Any]) -> Generation:
    """Luma Ray 2's ``modelInput``: prompt, aspect_ratio, loop, duration, resolution."""
    _only_keys(model_input, "", ("prompt", "aspect_ratio", "loop", "duration", "resolution"))
    prompt = _text(_required(model_input, "prompt", ""), "/prompt", 5000)
    aspect_ratio = model_input.get("aspect_ratio", "16:9")
    if aspect_ratio not in LUMA_ASPECT_RATIOS:
        raise _malformed("/aspect_ratio", f"{aspect_ratio} is not a valid enum value")
    duration = model_input.get("duration", "5s")
    if duration not in LUMA_DURATIONS:
        raise _malformed("/duration", f"{duration} is not a valid enum value")
    resolution = model_input.get("resolution", "720p")
    if resolution not in LUMA_RESOLUTIONS:
        raise _malformed("/resolution", f"{resolution} is not a valid enum value")
    loop = model_input.get("loop", False)
    if not isinstance(loop, bool):
        raise _malformed("/loop", "expected type: Boolean")
    width, height = luma_frame(aspect_ratio, resolution)
    return Generation(
        seconds=int(duration.rstrip("s")), width=width, height=height, fps=LUMA_FPS, prompt=prompt
    )


# --- the service -------------------------------------------------------------------------------


class BedrockFace:
    """The emulated Bedrock runtime: invocations, their lifecycle and their output files."""

    def __init__(
        self,
        *,
        renderer: Renderer,
        faults: Faults,
        speed: Callable[[], float],
        fail_marker: Callable[[], str],
    ) -> None:
        self._renderer = renderer
        self.faults = faults
        self._speed = speed
        self._fail_marker = fail_marker
        self._lock = threading.Lock()
        self._invocations: dict[str, Invocation] = {}
        self._tokens: dict[str, str] = {}
        self._closed = False
        self.output_writer: OutputWriter | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            for invocation in self._invocations.values():
                if invocation.timer is not None:
                    invocation.timer.cancel()
            self._invocations.clear()
            self._tokens.clear()

    def close(self) -> None:
        self.reset()
        with self._lock:
            self._closed = True

    # --- the operations ---------------------------------------------------------------------

    def start(self, body: dict[str, Any], region: str) -> dict[str, Any]:
        model_id = body.get("modelId")
        model_input = body.get("modelInput")
        output = ((body.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")
        token = str(body.get("clientRequestToken") or secrets.token_hex(16))
        if model_id in NOVA_REEL_MODELS:
            generation = check_nova(_object(model_input, ""))
        elif model_id == LUMA_MODEL:
            generation = check_luma(_object(model_input, ""))
        else:
            raise BedrockError(
                400, "ValidationException", "The provided model identifier is invalid."
            )
        if not isinstance(output, str) or not output.startswith("s3://") or len(output) < 6:
            raise BedrockError(
                400,
                "ValidationException",
                "The provided S3 URI is invalid: it must start with s3://.",
            )
        fingerprint = json.dumps([model_id, model_input, output], sort_keys=True)
        with self._lock:
            known = self._tokens.get(token)
            if known is not None:
                earlier = self._invocations[known]
                if earlier.fingerprint != fingerprint:
                    raise BedrockError(
                        400,
                        "ConflictException",
                        "The clientRequestToken was already used with a different request.",
                    )
                return {"invocationArn": earlier.arn}
            arn = f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:async-invoke/{secrets.token_hex(6)}"
            now = time.time()
            invocation = Invocation(
                arn=arn,
                model_id=str(model_id),
                region=region,
                token=token,
                fingerprint=fingerprint,
                output_uri=output.rstrip("/"),
                generation=generation,
                submitted=now,
                modified=now,
            )
            self._invocations[arn] = invocation
            self._tokens[token] = arn
            fails = bool(self._fail_marker()) and self._fail_marker() in generation.prompt
            emulated = GENERATION_BASE_SECONDS + GENERATION_PER_VIDEO_SECOND * generation.seconds
            delay = emulated / self._speed() * (0.5 if fails else 1.0)
            timer = threading.Timer(delay, self._finish, args=(arn, fails))
            timer.daemon = True
            invocation.timer = timer
        if not fails:
            # Render ahead so completion rarely waits on the encoder.
            self._renderer.submit(self._spec(generation))
        timer.start()
        return {"invocationArn": arn}

    def get(self, arn: str) -> dict[str, Any]:
        with self._lock:
            invocation = self._invocations.get(arn)
            if invocation is None:
                raise BedrockError(400, "ValidationException", f"Invocation {arn} does not exist.")
            return invocation.to_api()

    def list_invocations(self, query: dict[str, str]) -> dict[str, Any]:
        status = query.get("statusEquals")
        try:
            limit = int(query.get("maxResults", "1000"))
        except ValueError:
            raise BedrockError(400, "ValidationException", "maxResults must be a number.") from None
        with self._lock:
            rows = [
                inv.to_api()
                for inv in self._invocations.values()
                if status is None or inv.status == status
            ]
        rows.sort(key=lambda row: row["submitTime"], reverse=query.get("sortOrder") != "Ascending")
        return {"asyncInvokeSummaries": rows[: max(1, min(limit, 1000))]}

    def invocations(self) -> list[dict[str, Any]]:
        """Every invocation (admin view)."""
        with self._lock:
            return [inv.to_api() for inv in self._invocations.values()]

    # --- finishing a generation --------------------------------------------------------------

    @staticmethod
    def _spec(generation: Generation) -> RenderSpec:
        return RenderSpec(
            generation.width,
            generation.height,
            generation.seconds,
            look_for_prompt(generation.prompt),
            generation.fps,
        )

    def _finish(self, arn: str, fails: bool) -> None:
        with self._lock:
            invocation = self._invocations.get(arn)
            if invocation is None or self._closed:
                return
        if fails:
            self._end(invocation, "Failed", FAILURE_MESSAGE)
            return
        try:
            assets = self._renderer.submit(self._spec(invocation.generation)).result()
            self._write_output(invocation, assets.video.read_bytes())
        except Exception as exc:  # any write failure ends the invocation as Bedrock's do
            logger.warning("bedrock output for %s not written: %s", arn, exc)
            self._end(
                invocation,
                "Failed",
                "Amazon Bedrock could not write the output to the S3 location. Check that the "
                "bucket exists and that your role may write to it.",
            )

    def _write_output(self, invocation: Invocation, video: bytes) -> None:
        writer = self.output_writer
        if writer is None:
            raise RuntimeError("no S3 output is attached to the emulator")
        bucket, _, prefix = invocation.output_uri.removeprefix("s3://").partition("/")
        folder = f"{prefix}/{invocation.invocation_id}" if prefix else invocation.invocation_id
        generation = invocation.generation
        if invocation.model_id in NOVA_REEL_MODELS:
            manifest = {"schemaVersion": "1.0", "sourceVideos": [], "outputVideo": "output.mp4"}
            writer(
                bucket, f"{folder}/manifest.json", json.dumps(manifest).encode(), "application/json"
            )
        writer(bucket, f"{folder}/output.mp4", video, "video/mp4")
        self._end(invocation, "Completed", None)
        if invocation.model_id in NOVA_REEL_MODELS:
            status = {
                "schemaVersion": "1.0",
                "shots": [{"status": "SUCCESS"} for _ in range(generation.shots)],
            }
            writer(
                bucket,
                f"{folder}/generation-status.json",
                json.dumps(status).encode(),
                "application/json",
            )

    def _end(self, invocation: Invocation, status: str, message: str | None) -> None:
        with self._lock:
            now = time.time()
            invocation.status = status
            invocation.failure_message = message
            invocation.ended = now
            invocation.modified = now


# --- HTTP ----------------------------------------------------------------------------------------


def _region(request: Request) -> str:
    match = _CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    return match.group(1) if match else "us-east-1"


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        mimetype="application/json",
        headers={"x-amzn-RequestId": secrets.token_hex(16)},
    )


def _error(error: BedrockError) -> Response:
    response = _answer({"message": error.message}, error.status)
    response.headers["x-amzn-ErrorType"] = error.error_type
    return response


def _fault(faults: Faults) -> BedrockError | None:
    if faults.take_quota_exceeded():
        return BedrockError(
            400,
            "ServiceQuotaExceededException",
            "You have reached the maximum number of concurrent asynchronous invocations.",
        )
    if faults.take_rate_limit() is not None:
        return BedrockError(
            429, "ThrottlingException", "Too many requests, please wait before trying again."
        )
    server_error = faults.take_server_error()
    if server_error is not None:
        if server_error.status == 503:
            return BedrockError(
                503, "ServiceUnavailableException", "Service unavailable. Try again later."
            )
        return BedrockError(
            500, "InternalServerException", "An internal server error occurred. Retry your request."
        )
    return None


def handle(face: BedrockFace, request: Request) -> Response:
    """Serve one request under ``/async-invoke``."""
    path = request.path
    try:
        fault = _fault(face.faults)
        if fault is not None:
            raise fault
        if path.rstrip("/") == "/async-invoke":
            if request.method == "POST":
                try:
                    body = json.loads(request.get_data() or b"{}")
                except ValueError:
                    raise BedrockError(
                        400, "ValidationException", "The request body is not JSON."
                    ) from None
                return _answer(face.start(_object(body, ""), _region(request)))
            if request.method == "GET":
                return _answer(face.list_invocations(dict(request.args)))
        elif path.startswith("/async-invoke/") and request.method == "GET":
            arn = unquote(path.removeprefix("/async-invoke/"))
            return _answer(face.get(arn))
        raise BedrockError(
            404, "UnknownOperationException", f"No operation at {request.method} {path}."
        )
    except BedrockError as error:
        return _error(error)
