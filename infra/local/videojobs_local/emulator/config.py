"""Emulator settings and the protocol's fixed vocabulary (models, sizes, durations)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from videojobs.standard_webhooks import sign

DEFAULT_MODEL = "sora-2"
DEFAULT_SECONDS = "4"
DEFAULT_SIZE = "720x1280"

PORTRAIT_SIZES = ("720x1280", "1280x720")
PRO_SIZES = (*PORTRAIT_SIZES, "1024x1792", "1792x1024")

# Dated snapshots behave like their family; the API echoes the name it was given.
SIZES_BY_MODEL: dict[str, tuple[str, ...]] = {
    "sora-2": PORTRAIT_SIZES,
    "sora-2-2025-10-06": PORTRAIT_SIZES,
    "sora-2-2025-12-08": PORTRAIT_SIZES,
    "sora-2-pro": PRO_SIZES,
    "sora-2-pro-2025-10-06": PRO_SIZES,
}
SECONDS_VALUES = ("4", "8", "12")

# Keys that POST /_emulator/config may change while the server runs.
RUNTIME_KEYS = frozenset(
    {"speed", "webhook_url", "webhook_secret", "video_padding_bytes", "download_ttl_seconds"}
)


def is_pro(model: str) -> bool:
    """Whether ``model`` belongs to the slower, larger sora-2-pro family."""
    return model.startswith("sora-2-pro")


def default_cache_dir() -> Path:
    """Per-user render cache, so repeated runs skip the encoder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "videojobs" / "emulator-renders"


@dataclass
class EmulatorConfig:
    """How the emulator behaves.

    ``speed`` scales every provider-side duration (queueing, generation, webhook retry
    backoff): 1.0 is realistic, 100 makes a four-second sora-2 video finish in under a second.
    ``download_ttl_seconds`` is wall-clock time and is not scaled.
    """

    api_key: str = "sk-emulator"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    speed: float = 1.0
    download_ttl_seconds: float = 3600.0
    render_cache_dir: Path = field(default_factory=default_cache_dir)
    reject_marker: str = "[[moderation]]"
    fail_marker: str = "[[fail]]"
    flag_marker: str = "[[flag]]"
    video_padding_bytes: int = 0
    fps: int = 24
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 5.0
    webhook_backoff_cap_seconds: float = 300.0
    webhook_timeout_seconds: float = 5.0
    request_log_size: int = 10_000
    render_workers: int = 2

    def __post_init__(self) -> None:
        self.render_cache_dir = Path(self.render_cache_dir)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work."""
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if not self.speed > 0:
            raise ValueError("speed must be > 0")
        if self.download_ttl_seconds < 0:
            raise ValueError("download_ttl_seconds must be >= 0")
        # A box header alone is 8 bytes; anything between 0 and 8 cannot be a valid box.
        if self.video_padding_bytes != 0 and self.video_padding_bytes < 8:
            raise ValueError("video_padding_bytes must be 0 or at least 8 (an MP4 box header)")
        if self.webhook_url is not None and not self.webhook_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("webhook_url must be an http(s) URL")
        if self.webhook_secret is not None:
            try:
                sign(self.webhook_secret, "probe", 0, b"")
            except ValueError as exc:
                raise ValueError("webhook_secret must be whsec_<base64>") from exc
        if self.fps < 1 or self.webhook_max_attempts < 1 or self.render_workers < 1:
            raise ValueError("fps, webhook_max_attempts and render_workers must be >= 1")
        if self.request_log_size < 1:
            raise ValueError("request_log_size must be >= 1")

    def updated(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A validated copy with ``changes`` applied; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
        return replace(self, **changes)

    def public_view(self) -> dict[str, Any]:
        """The settings as JSON, with secrets reduced to whether they are set."""
        return {
            "speed": self.speed,
            "webhook_url": self.webhook_url,
            "webhook_secret_set": self.webhook_secret is not None,
            "download_ttl_seconds": self.download_ttl_seconds,
            "video_padding_bytes": self.video_padding_bytes,
            "render_cache_dir": str(self.render_cache_dir),
            "reject_marker": self.reject_marker,
            "fail_marker": self.fail_marker,
            "flag_marker": self.flag_marker,
            "fps": self.fps,
        }
