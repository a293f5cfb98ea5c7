"""A one-line progress bar for terminals (and plain lines when output is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Draws ``label [#####.....] 42% status`` in place; call :meth:`close` when done."""

    def __init__(self, label: str, *, width: int = 30, stream: TextIO | None = None) -> None:
        self._label = label
        self._width = width
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._last: tuple[int, str] | None = None
        self._started = time.monotonic()

    def update(self, percent: int, status: str) -> None:
        percent = max(0, min(100, percent))
        if (percent, status) == self._last:
            return
        self._last = (percent, status)
        filled = round(self._width * percent / 100)
        bar = "#" * filled + "." * (self._width - filled)
        elapsed = time.monotonic() - self._started
        line = f"{self._label} [{bar}] {percent:3d}% {status:<12} {elapsed:5.1f}s"
        if self._tty:
            self._stream.write("\r" + line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
