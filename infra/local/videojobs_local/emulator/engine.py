"""The emulated provider: videos, their lifecycle, and the admin-visible state.

A single scheduler thread moves videos through queued → in_progress → completed | failed on
an emulated clock that runs ``speed`` times faster than real time. Reads never change state,
so what a client sees depends only on time, as with the real service.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from videojobs.standard_webhooks import generate_secret

from .bedrock import BedrockFace
from .config import RUNTIME_KEYS, EmulatorConfig, is_pro
from .errors import (
    INVALID_VALUE,
    VIDEO_EXPIRED,
    VIDEO_FAILED,
    VIDEO_NOT_READY,
    ApiError,
    invalid_value,
    not_found,
)
from .faults import Faults
from .protocol import CreateRequest
from .render import RenderedAssets, Renderer, RenderSpec
from .stats import Stats
from .webhooks import WebhookSender

logger = logging.getLogger(__name__)

VARIANTS = ("video", "thumbnail", "spritesheet")
CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}

# Emulated seconds; at speed 1 these are the real service's rough orders of magnitude.
QUEUE_SECONDS = {False: 4.0, True: 8.0}
GENERATION_BASE_SECONDS = {False: 30.0, True: 60.0}
GENERATION_PER_VIDEO_SECOND = {False: 10.0, True: 20.0}
FAIL_AT_FRACTION = 0.5
# Real seconds between progress-only updates.
PROGRESS_TICK_SECONDS = 0.05

FAILED_ERROR = {
    "code": "moderation_blocked",
    "message": (
        "The generated video was blocked by our content policy checks. "
        "Try again with a different prompt."
    ),
}
RENDER_FAILED_ERROR = {
    "code": "internal_error",
    "message": "The video could not be generated because of an internal error.",
}


def generation_seconds(model: str, seconds: str) -> float:
    """Emulated in_progress duration for a model and clip length."""
    pro = is_pro(model)
    return GENERATION_BASE_SECONDS[pro] + GENERATION_PER_VIDEO_SECOND[pro] * int(seconds)


class _Clock:
    """Emulated seconds since start; changing the speed never makes it jump."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin_emulated = 0.0
        self._origin_real = time.monotonic()

    def now(self) -> float:
        return self._origin_emulated + (time.monotonic() - self._origin_real) * self.speed

    def set_speed(self, speed: float) -> None:
        self._origin_emulated = self.now()
        self._origin_real = time.monotonic()
        self.speed = speed


@dataclass
class VideoRecord:
    """A video as the emulator stores it; ``to_api`` gives the provider's Video object."""

    id: str
    seq: int
    model: str
    seconds: str
    size: str
    prompt: str
    created_at: float
    queued_until: float
    finishes_at: float
    fails_at: float | None
    status: str = "queued"
    progress: int = 0
    completed_at: float | None = None
    expires_at: float | None = None
    error: dict[str, str] | None = None
    remixed_from_video_id: str | None = None
    input_reference: dict[str, Any] | None = None
    render: Future[RenderedAssets] | None = field(default=None, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed")

    def sort_key(self) -> tuple[float, int]:
        return (self.created_at, self.seq)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": self.status,
            "progress": self.progress,
            "seconds": self.seconds,
            "size": self.size,
            "prompt": self.prompt,
            "created_at": int(self.created_at),
            "completed_at": None if self.completed_at is None else int(self.completed_at),
            "expires_at": None if self.expires_at is None else int(self.expires_at),
            "error": dict(self.error) if self.error else None,
            "remixed_from_video_id": self.remixed_from_video_id,
        }


@dataclass(frozen=True)
class Content:
    """What a content download serves."""

    path: Path
    content_type: str
    padding: int


class Emulator:
    """Thread-safe provider state plus the threads that drive it."""

    def __init__(self, config: EmulatorConfig) -> None:
        if config.webhook_secret is None:
            # Webhooks are always signed; a generated secret can be read back from config.
            config = replace(config, webhook_secret=generate_secret())
        self._initial_config = config
        self._config = config
        self._cond = threading.Condition()
        self._clock = _Clock(config.speed)
        self._videos: dict[str, VideoRecord] = {}
        # The not-yet-finished subset, so a long run's history does not slow the scheduler.
        self._active: dict[str, VideoRecord] = {}
        # Deleted ids keep their place so a list cursor pointing at one still works.
        self._tombstones: dict[str, tuple[float, int]] = {}
        self._seq = 0
        self._stopped = False
        self._requests: deque[dict[str, Any]] = deque(maxlen=config.request_log_size)
        self.faults = Faults()
        self.stats = Stats()
        self.webhooks = WebhookSender(lambda: self._config, self.faults, self.stats)
        self._renderer = Renderer(
            config.render_cache_dir, config.render_workers, on_render=self.stats.rendered
        )
        self.bedrock = BedrockFace(
            renderer=self._renderer,
            faults=self.faults,
            speed=lambda: self._clock.speed,
            fail_marker=lambda: self._config.fail_marker,
        )
        self._scheduler = threading.Thread(target=self._run, name="emulator-scheduler", daemon=True)
        self.stop_event = threading.Event()

    # --- lifecycle of the emulator itself -----------------------------------------------------

    def start(self) -> None:
        self.webhooks.start()
        self._scheduler.start()

    def close(self) -> None:
        """Stop the scheduler, the webhook sender and the renderer; idempotent."""
        self.stop_event.set()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._scheduler.is_alive():
            self._scheduler.join()
        self.webhooks.close()
        self.bedrock.close()
        self._renderer.close()

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def update_config(self, changes: dict[str, Any]) -> EmulatorConfig:
        """Apply run-time settings (speed, webhook_url, webhook_secret, padding, ttl)."""
        unknown = sorted(set(changes) - RUNTIME_KEYS)
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(unknown)} at run time; "
                f"changeable: {', '.join(sorted(RUNTIME_KEYS))}"
            )
        with self._cond:
            updated = self._config.updated(changes)
            if updated.webhook_secret is None:
                raise ValueError("webhook_secret cannot be removed, only replaced")
            self._config = updated
            self._clock.set_speed(updated.speed)
            self._cond.notify_all()
            return updated

    def reset(self, *, restore_config: bool = False) -> None:
        """Forget videos, faults, the request log, webhook deliveries and stats."""
        with self._cond:
            self._videos.clear()
            self._active.clear()
            self._tombstones.clear()
            self._requests.clear()
            self.faults.clear()
            self.webhooks.clear()
            self.bedrock.reset()
            self.stats.reset()
            if restore_config:
                self._config = self._initial_config
                self._clock.set_speed(self._config.speed)
            self._cond.notify_all()

    # --- the Videos API -----------------------------------------------------------------------

    def create(self, request: CreateRequest, remixed_from: str | None = None) -> dict[str, Any]:
        config = self._config
        fails = bool(config.fail_marker) and config.fail_marker in request.prompt
        with self._cond:
            now = self._clock.now()
            self._seq += 1
            queued_until = now + QUEUE_SECONDS[is_pro(request.model)]
            finishes_at = queued_until + generation_seconds(request.model, request.seconds)
            record = VideoRecord(
                id="video_" + secrets.token_hex(16),
                seq=self._seq,
                model=request.model,
                seconds=request.seconds,
                size=request.size,
                prompt=request.prompt,
                created_at=time.time(),
                queued_until=queued_until,
                finishes_at=finishes_at,
                fails_at=(
                    queued_until + FAIL_AT_FRACTION * (finishes_at - queued_until)
                    if fails
                    else None
                ),
                remixed_from_video_id=remixed_from,
                input_reference=request.input_reference,
            )
            if not fails:
                # Render ahead so completion rarely waits on the encoder.
                spec = RenderSpec.for_video(record.size, record.seconds, record.prompt, config.fps)
                record.render = self._renderer.submit(spec)
                record.render.add_done_callback(lambda _: self._wake())
            self._videos[record.id] = record
            self._active[record.id] = record
            self.stats.incr("created")
            self._cond.notify_all()
            return record.to_api()

    def retrieve(self, video_id: str) -> tuple[dict[str, Any], int | None]:
        """The Video object and, while it is not finished, a poll-after hint in ms."""
        with self._cond:
            record = self._get(video_id)
            hint = None
            if not record.terminal:
                remaining = max(record.finishes_at - self._clock.now(), 0.0)
                emulated = min(max(remaining / 4, 1.0), 10.0)
                hint = max(10, round(emulated / self._clock.speed * 1000))
            return record.to_api(), hint

    def list_videos(self, after: str | None, limit: int, order: str) -> dict[str, Any]:
        with self._cond:
            records = sorted(
                self._videos.values(), key=VideoRecord.sort_key, reverse=order == "desc"
            )
            if after is not None:
                anchor = self._cursor(after)
                if order == "desc":
                    records = [r for r in records if r.sort_key() < anchor]
                else:
                    records = [r for r in records if r.sort_key() > anchor]
            page = [r.to_api() for r in records[:limit]]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(records) > limit,
        }

    def delete(self, video_id: str) -> dict[str, Any]:
        with self._cond:
            record = self._get(video_id)
            del self._videos[video_id]
            self._active.pop(video_id, None)
            self._tombstones[video_id] = record.sort_key()
            if record.status == "in_progress":
                self.stats.stopped()
            self.stats.incr("deleted")
            self._cond.notify_all()
        return {"id": video_id, "object": "video.deleted", "deleted": True}

    def remix(self, video_id: str, prompt: str) -> dict[str, Any]:
        with self._cond:
            source = self._get(video_id)
            if source.status != "completed":
                raise ApiError(
                    400,
                    f"Video {video_id} cannot be remixed: its status is '{source.status}'; "
                    "only completed videos can be remixed.",
                    param="video_id",
                    code=VIDEO_NOT_READY,
                )
            request = CreateRequest(prompt, source.model, source.seconds, source.size)
        return self.create(request, remixed_from=video_id)

    def content(self, video_id: str, variant: str) -> Content:
        if variant not in VARIANTS:
            raise invalid_value("variant", variant, VARIANTS)
        with self._cond:
            record = self._get(video_id)
            if record.status == "failed":
                raise ApiError(
                    400,
                    f"Video {video_id} failed and has no content.",
                    param="video_id",
                    code=VIDEO_FAILED,
                )
            if record.status != "completed" or record.render is None:
                raise ApiError(
                    400,
                    f"Video {video_id} is not ready yet: its status is '{record.status}' "
                    f"({record.progress}% done). Download content once it is completed.",
                    param="video_id",
                    code=VIDEO_NOT_READY,
                )
            if record.expires_at is not None and time.time() >= record.expires_at:
                raise ApiError(
                    404,
                    f"The content of video {video_id} expired at {int(record.expires_at)}; "
                    "downloads are available for a limited time after completion.",
                    param="video_id",
                    code=VIDEO_EXPIRED,
                )
            assets = record.render.result()
            padding = self._config.video_padding_bytes
        path = {"video": assets.video, "thumbnail": assets.thumbnail}.get(
            variant, assets.spritesheet
        )
        return Content(path, CONTENT_TYPES[variant], padding if variant == "video" else 0)

    def inspect(self, video_id: str) -> dict[str, Any]:
        """Emulator-only detail about a video (admin API)."""
        with self._cond:
            record = self._get(video_id)
            assets = (
                record.render.result()
                if record.render is not None
                and record.render.done()
                and record.render.exception() is None
                else None
            )
            return {
                **record.to_api(),
                "input_reference": record.input_reference,
                "will_fail": record.fails_at is not None,
                "assets": None
                if assets is None
                else {
                    "video": str(assets.video),
                    "thumbnail": str(assets.thumbnail),
                    "spritesheet": str(assets.spritesheet),
                },
            }

    def wait_for(
        self,
        video_id: str,
        statuses: tuple[str, ...] = ("completed", "failed"),
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Block until the video reaches one of ``statuses`` (real seconds; TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                record = self._get(video_id)
                if record.status in statuses:
                    return record.to_api()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{video_id} is still {record.status} ({record.progress}%) after {timeout}s"
                    )
                self._cond.wait(remaining)

    def _get(self, video_id: str) -> VideoRecord:
        record = self._videos.get(video_id)
        if record is None:
            raise not_found(video_id)
        return record

    def _cursor(self, after: str) -> tuple[float, int]:
        record = self._videos.get(after)
        if record is not None:
            return record.sort_key()
        if after in self._tombstones:
            return self._tombstones[after]
        raise ApiError(
            400,
            f"Invalid 'after': no video with id '{after}'.",
            param="after",
            code=INVALID_VALUE,
        )

    # --- request log and stats ----------------------------------------------------------------

    def record_request(
        self, method: str, path: str, query: str, status: int, started: float
    ) -> None:
        entry = {
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "time": started,
            "duration_ms": round((time.time() - started) * 1000, 3),
        }
        with self._cond:
            self._requests.append(entry)
        self.stats.incr("requests")

    def requests(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._requests)

    def stats_snapshot(self) -> dict[str, int | float]:
        with self._cond:
            queued = sum(1 for r in self._videos.values() if r.status == "queued")
            return self.stats.snapshot(queued)

    # --- the scheduler ------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                try:
                    timeout = self._advance()
                except Exception:
                    # Keep the clock running: one bad record must not freeze every video.
                    logger.exception("emulator scheduler step failed")
                    timeout = 0.1
                self._cond.wait(timeout)

    def _advance(self) -> float | None:
        """Move every video forward to now; return real seconds until the next change."""
        now = self._clock.now()
        next_transition = math.inf
        next_progress = math.inf
        for record in list(self._active.values()):
            if record.status == "queued":
                if now < record.queued_until:
                    next_transition = min(next_transition, record.queued_until)
                    continue
                record.status = "in_progress"
                self.stats.started()
                self._cond.notify_all()
            if record.fails_at is not None and now >= record.fails_at:
                self._finish(record, "failed", FAILED_ERROR)
                continue
            if now >= record.finishes_at:
                if record.render is None or not record.render.done():
                    # The encoder is behind the emulated clock: hold at 99% until it is done;
                    # its done-callback wakes this loop.
                    record.progress = 99
                    continue
                if record.render.exception() is not None:
                    logger.error(
                        "render failed for %s", record.id, exc_info=record.render.exception()
                    )
                    self._finish(record, "failed", RENDER_FAILED_ERROR)
                else:
                    self._finish(record, "completed", None)
                continue
            span = record.finishes_at - record.queued_until
            record.progress = min(99, int(100 * (now - record.queued_until) / span))
            next_step = record.queued_until + span * (record.progress + 1) / 100
            ends = record.fails_at if record.fails_at is not None else record.finishes_at
            next_progress = min(next_progress, next_step)
            next_transition = min(next_transition, ends)
        if math.isinf(next_transition) and math.isinf(next_progress):
            return None
        speed = self._clock.speed
        # Status changes are timed precisely; progress-only updates are batched, so thousands
        # of running videos at a high speed do not turn this loop into a busy wait.
        until_transition = (next_transition - now) / speed
        until_progress = max((next_progress - now) / speed, PROGRESS_TICK_SECONDS)
        return max(min(until_transition, until_progress), 0.002)

    def _finish(self, record: VideoRecord, status: str, error: dict[str, str] | None) -> None:
        record.status = status
        record.completed_at = time.time()
        self._active.pop(record.id, None)
        self._cond.notify_all()
        self.stats.stopped()
        if status == "completed":
            record.progress = 100
            record.expires_at = record.completed_at + self._config.download_ttl_seconds
            self.stats.incr("completed")
            self.webhooks.publish("video.completed", record.id)
        else:
            record.error = dict(error or RENDER_FAILED_ERROR)
            self.stats.incr("failed")
            self.webhooks.publish("video.failed", record.id)
