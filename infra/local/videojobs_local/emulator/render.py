"""Synthetic but real media: an H.264/AAC MP4, a WebP thumbnail and a JPEG spritesheet.

Frames are a solid background with a moving square and a timeline bar, coloured from a small
palette picked by a hash of the prompt. Keeping the palette small means many prompts share one
rendering, so the on-disk cache is hit often.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

logger = logging.getLogger(__name__)

# Bump when the output changes so stale cache entries are not served.
RENDER_VERSION = 1

Rgb = tuple[int, int, int]

# (background, accent) pairs.
PALETTE: tuple[tuple[Rgb, Rgb], ...] = (
    ((24, 38, 74), (242, 196, 68)),
    ((18, 84, 64), (236, 236, 220)),
    ((96, 28, 44), (120, 210, 230)),
    ((44, 44, 52), (250, 120, 80)),
    ((70, 40, 110), (160, 240, 140)),
    ((12, 92, 120), (255, 238, 170)),
    ((120, 72, 20), (40, 30, 60)),
    ((200, 200, 196), (40, 90, 200)),
)

AUDIO_RATE = 48_000
_AUDIO_FRAME = 1024
SPRITE_COLUMNS = 4
SPRITE_TILE_LONG_SIDE = 256


class RenderCancelledError(Exception):
    """The emulator shut down while a render was running."""


def look_for_prompt(prompt: str) -> int:
    """The palette index for a prompt (stable across processes, unlike ``hash``)."""
    return hashlib.sha256(prompt.encode("utf-8")).digest()[0] % len(PALETTE)


@dataclass(frozen=True)
class RenderSpec:
    """Everything the output depends on; two equal specs give interchangeable files."""

    width: int
    height: int
    seconds: int
    look: int
    fps: int = 24

    @classmethod
    def for_video(cls, size: str, seconds: str, prompt: str, fps: int) -> RenderSpec:
        width, height = (int(part) for part in size.split("x"))
        return cls(width, height, int(seconds), look_for_prompt(prompt), fps)

    @property
    def key(self) -> str:
        return (
            f"v{RENDER_VERSION}-{self.width}x{self.height}-{self.seconds}s"
            f"-{self.fps}fps-look{self.look}"
        )


@dataclass(frozen=True)
class RenderedAssets:
    """Paths of the three cached files for one spec."""

    video: Path
    thumbnail: Path
    spritesheet: Path

    @classmethod
    def in_dir(cls, directory: Path, spec: RenderSpec) -> RenderedAssets:
        return cls(
            video=directory / f"{spec.key}.mp4",
            thumbnail=directory / f"{spec.key}.webp",
            spritesheet=directory / f"{spec.key}.jpg",
        )

    def all_exist(self) -> bool:
        return self.video.is_file() and self.thumbnail.is_file() and self.spritesheet.is_file()


# --- geometry shared by the video frames and the still images ---------------------------------


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _square(width: int, height: int, t: float, seconds: int) -> tuple[int, int, int]:
    """Top-left corner and side of the moving square at ``t`` in [0, 1]."""
    side = _even(min(width, height) / 4)
    x = _even((width - side) * t) if t > 0 else 0
    swing = (height - side) / 4
    y = _even((height - side) / 2 + swing * math.sin(2 * math.pi * t * seconds / 2))
    return min(x, width - side), min(y, height - side), side


def _bar(width: int, height: int, t: float) -> tuple[int, int]:
    """Height and length of the timeline bar along the bottom edge."""
    return _even(height / 40), _even(width * t)


def _to_yuv(rgb: Rgb) -> tuple[int, int, int]:
    # BT.601 limited range, what an untagged yuv420p H.264 stream is decoded as.
    r, g, b = (c / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def paint_rgb(spec: RenderSpec, width: int, height: int, t: float) -> NDArray[np.uint8]:
    """One RGB frame at any resolution (thumbnails and spritesheet tiles)."""
    background, accent = PALETTE[spec.look]
    img = np.empty((height, width, 3), np.uint8)
    img[:, :] = background
    x, y, side = _square(width, height, t, spec.seconds)
    img[y : y + side, x : x + side] = accent
    bar_h, bar_w = _bar(width, height, t)
    img[height - bar_h :, :bar_w] = accent
    return img


def _encode_video(spec: RenderSpec, path: Path, cancel: threading.Event | None) -> None:
    width, height, fps = spec.width, spec.height, spec.fps
    frames = spec.seconds * fps
    background, accent = PALETTE[spec.look]
    bg_yuv, fg_yuv = _to_yuv(background), _to_yuv(accent)

    base = np.empty((height * 3 // 2, width), np.uint8)
    quarter = height // 4
    base[:height] = bg_yuv[0]
    base[height : height + quarter] = bg_yuv[1]
    base[height + quarter :] = bg_yuv[2]

    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        audio.bit_rate = 64_000

        for index in range(frames):
            if cancel is not None and cancel.is_set():
                raise RenderCancelledError(spec.key)
            t = index / (frames - 1)
            buf = base.copy()
            planes = (
                buf[:height],
                buf[height : height + quarter].reshape(height // 2, width // 2),
                buf[height + quarter :].reshape(height // 2, width // 2),
            )
            x, y, side = _square(width, height, t, spec.seconds)
            bar_h, bar_w = _bar(width, height, t)
            for plane_index, plane in enumerate(planes):
                shift = 0 if plane_index == 0 else 1
                value = fg_yuv[plane_index]
                plane[y >> shift : (y + side) >> shift, x >> shift : (x + side) >> shift] = value
                plane[(height - bar_h) >> shift :, : bar_w >> shift] = value
            frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)

        # A quiet tone, pitch by look. The muxer writes an edit list for the AAC priming
        # samples, so the audio track ends exactly where the video does.
        total = spec.seconds * AUDIO_RATE
        pitch = 220.0 * 2 ** (spec.look / 12)
        tone = (0.05 * np.sin(2 * np.pi * pitch * np.arange(total) / AUDIO_RATE)).astype(np.float32)
        for start in range(0, total, _AUDIO_FRAME):
            chunk = tone[start : start + _AUDIO_FRAME].reshape(1, -1)
            aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            aframe.sample_rate = AUDIO_RATE
            aframe.pts = start
            aframe.time_base = Fraction(1, AUDIO_RATE)
            for packet in audio.encode(aframe):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    finally:
        container.close()


def _write_thumbnail(spec: RenderSpec, path: Path) -> None:
    Image.fromarray(paint_rgb(spec, spec.width, spec.height, 0.5)).save(
        path, format="WEBP", quality=80
    )


def sprite_grid(spec: RenderSpec) -> tuple[int, int, int, int]:
    """Columns, rows and tile size: two tiles per second, longer tile side 256 px."""
    tiles = spec.seconds * 2
    scale = SPRITE_TILE_LONG_SIDE / max(spec.width, spec.height)
    return (
        SPRITE_COLUMNS,
        tiles // SPRITE_COLUMNS,
        _even(spec.width * scale),
        _even(spec.height * scale),
    )


def _write_spritesheet(spec: RenderSpec, path: Path) -> None:
    columns, rows, tile_w, tile_h = sprite_grid(spec)
    sheet = np.empty((rows * tile_h, columns * tile_w, 3), np.uint8)
    tiles = columns * rows
    for index in range(tiles):
        row, column = divmod(index, columns)
        t = index / (tiles - 1)
        sheet[row * tile_h : (row + 1) * tile_h, column * tile_w : (column + 1) * tile_w] = (
            paint_rgb(spec, tile_w, tile_h, t)
        )
    Image.fromarray(sheet).save(path, format="JPEG", quality=85)


def render_assets(
    spec: RenderSpec, directory: Path, cancel: threading.Event | None = None
) -> RenderedAssets:
    """Render the three files for ``spec`` into ``directory`` (atomically; safe to race)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = RenderedAssets.in_dir(directory, spec)
    token = uuid.uuid4().hex
    temps = [directory / f".{spec.key}.{token}.{suffix}.tmp" for suffix in ("mp4", "webp", "jpg")]
    try:
        _encode_video(spec, temps[0], cancel)
        _write_thumbnail(spec, temps[1])
        _write_spritesheet(spec, temps[2])
        # Replace the video last: all_exist() then implies the stills are there too.
        os.replace(temps[1], final.thumbnail)
        os.replace(temps[2], final.spritesheet)
        os.replace(temps[0], final.video)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return final


class Renderer:
    """Renders on a small thread pool, one job per spec at a time, reusing the disk cache."""

    def __init__(
        self,
        directory: Path,
        workers: int,
        on_render: Callable[[bool, float], None] | None = None,
    ) -> None:
        self._directory = directory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-render")
        self._lock = threading.Lock()
        self._inflight: dict[RenderSpec, Future[RenderedAssets]] = {}
        self._cancel = threading.Event()
        self._on_render = on_render

    def submit(self, spec: RenderSpec) -> Future[RenderedAssets]:
        """A future for the assets of ``spec``; completed at once on a cache hit."""
        cached = RenderedAssets.in_dir(self._directory, spec)
        if cached.all_exist():
            if self._on_render is not None:
                self._on_render(True, 0.0)
            done: Future[RenderedAssets] = Future()
            done.set_result(cached)
            return done
        with self._lock:
            running = self._inflight.get(spec)
            if running is not None:
                # Joining a render in flight is a cache hit too: the spec is encoded once.
                if self._on_render is not None:
                    self._on_render(True, 0.0)
                return running
            future = self._pool.submit(self._render, spec)
            self._inflight[spec] = future
            return future

    def _render(self, spec: RenderSpec) -> RenderedAssets:
        try:
            cached = RenderedAssets.in_dir(self._directory, spec)
            # Another process sharing the cache may have finished it meanwhile.
            if cached.all_exist():
                if self._on_render is not None:
                    self._on_render(True, 0.0)
                return cached
            started = time.perf_counter()
            assets = render_assets(spec, self._directory, self._cancel)
            elapsed = time.perf_counter() - started
            logger.debug("rendered %s in %.2fs", spec.key, elapsed)
            if self._on_render is not None:
                self._on_render(False, elapsed)
            return assets
        finally:
            with self._lock:
                self._inflight.pop(spec, None)

    def close(self) -> None:
        """Abort running renders and stop the pool."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
