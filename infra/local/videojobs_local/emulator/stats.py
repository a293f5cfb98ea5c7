"""Counters exposed by ``GET /_emulator/stats``."""

from __future__ import annotations

import threading

COUNTERS = (
    "created",
    "completed",
    "failed",
    "deleted",
    "rejected",
    "requests",
    "webhooks_sent",
    "webhook_failures",
    "webhooks_dropped",
    "renders",
    "render_cache_hits",
    "faults_injected",
)


class Stats:
    """Thread-safe counters plus the current and peak number of videos in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._in_progress = 0
        self._max_in_progress = 0
        self._render_seconds = 0.0

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def started(self) -> None:
        """A video entered ``in_progress``."""
        with self._lock:
            self._in_progress += 1
            self._max_in_progress = max(self._max_in_progress, self._in_progress)

    def stopped(self) -> None:
        """A video left ``in_progress`` (finished, failed or deleted)."""
        with self._lock:
            self._in_progress -= 1

    def rendered(self, cache_hit: bool, seconds: float) -> None:
        with self._lock:
            if cache_hit:
                self._counts["render_cache_hits"] += 1
            else:
                self._counts["renders"] += 1
                self._render_seconds += seconds

    def reset(self, in_progress: int = 0) -> None:
        with self._lock:
            self._counts = dict.fromkeys(COUNTERS, 0)
            self._in_progress = in_progress
            self._max_in_progress = in_progress
            self._render_seconds = 0.0

    def snapshot(self, queued: int) -> dict[str, int | float]:
        with self._lock:
            return {
                **self._counts,
                "queued": queued,
                "in_progress": self._in_progress,
                "max_in_progress": self._max_in_progress,
                "render_seconds": round(self._render_seconds, 3),
            }
