"""Faults injected on demand through ``POST /_emulator/faults``.

Each fault has a remaining ``count``; a matching request consumes one. Setting a fault replaces
the previous one of that kind; ``null`` or a count of 0 clears it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

WebhookMode = Literal["normal", "drop", "duplicate", "reorder"]
_WEBHOOK_MODES = ("normal", "drop", "duplicate", "reorder")
_SERVER_ERROR_STATUSES = (500, 502, 503, 504)


@dataclass
class RateLimitFault:
    count: int
    retry_after: float = 1.0


@dataclass
class ServerErrorFault:
    count: int
    status: int = 500
    # The request takes effect and only the response is replaced: what a gateway timeout
    # after a successful create looks like to the client.
    after_processing: bool = False


@dataclass
class SlowFault:
    count: int
    delay_seconds: float = 1.0


@dataclass
class TruncateFault:
    count: int
    after_bytes: int = 0


@dataclass
class QuotaFault:
    """Bedrock's ServiceQuotaExceededException (too many invocations at once)."""

    count: int


@dataclass
class WebhookFault:
    mode: WebhookMode = "normal"
    count: int | None = None
    # reorder: how long (real seconds) to hold events before releasing them in reverse.
    hold_seconds: float = 1.0


class FaultSpecError(ValueError):
    """The admin request describes a fault that cannot be applied."""


def _int(spec: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultSpecError(f"{key} must be an integer >= {minimum}")
    return value


def _number(spec: dict[str, Any], key: str, default: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultSpecError(f"{key} must be a number >= 0")
    return float(value)


def _object(name: str, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise FaultSpecError(f"{name} must be an object or null")
    return spec


class Faults:
    """Thread-safe fault plan consulted by the WSGI app and the webhook sender."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rate_limit: RateLimitFault | None = None
        self.server_error: ServerErrorFault | None = None
        self.slow: SlowFault | None = None
        self.truncate_download: TruncateFault | None = None
        self.quota_exceeded: QuotaFault | None = None
        self.webhooks = WebhookFault()

    def configure(self, body: dict[str, Any]) -> None:
        """Apply an admin request; validates everything before changing anything."""
        known = {
            "rate_limit",
            "server_error",
            "slow",
            "truncate_download",
            "quota_exceeded",
            "webhooks",
        }
        unknown = sorted(set(body) - known)
        if unknown:
            raise FaultSpecError(f"unknown fault(s): {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        for name, spec in body.items():
            parsed[name] = None if spec is None else self._parse(name, _object(name, spec))
        with self._lock:
            for name, fault in parsed.items():
                if name == "webhooks":
                    self.webhooks = fault or WebhookFault()
                else:
                    setattr(self, name, fault if fault is not None and fault.count else None)

    @staticmethod
    def _parse(name: str, spec: dict[str, Any]) -> Any:
        if name == "rate_limit":
            return RateLimitFault(_int(spec, "count", 1), _number(spec, "retry_after", 1.0))
        if name == "server_error":
            status = _int(spec, "status", 500)
            if status not in _SERVER_ERROR_STATUSES:
                raise FaultSpecError(f"status must be one of {list(_SERVER_ERROR_STATUSES)}")
            return ServerErrorFault(
                _int(spec, "count", 1), status, bool(spec.get("after_processing", False))
            )
        if name == "slow":
            return SlowFault(_int(spec, "count", 1), _number(spec, "delay_seconds", 1.0))
        if name == "quota_exceeded":
            return QuotaFault(_int(spec, "count", 1))
        if name == "truncate_download":
            return TruncateFault(_int(spec, "count", 1), _int(spec, "after_bytes", 0))
        mode = spec.get("mode", "normal")
        if mode not in _WEBHOOK_MODES:
            raise FaultSpecError(f"webhooks.mode must be one of {list(_WEBHOOK_MODES)}")
        count = spec.get("count")
        if count is not None:
            count = _int(spec, "count", minimum=1)
        return WebhookFault(mode, count, _number(spec, "hold_seconds", 1.0))

    def clear(self) -> None:
        with self._lock:
            self.rate_limit = self.server_error = self.slow = self.truncate_download = None
            self.quota_exceeded = None
            self.webhooks = WebhookFault()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate_limit": asdict(self.rate_limit) if self.rate_limit else None,
                "server_error": asdict(self.server_error) if self.server_error else None,
                "slow": asdict(self.slow) if self.slow else None,
                "truncate_download": (
                    asdict(self.truncate_download) if self.truncate_download else None
                ),
                "quota_exceeded": asdict(self.quota_exceeded) if self.quota_exceeded else None,
                "webhooks": asdict(self.webhooks),
            }

    # Each take_* consumes one unit of the fault when it applies.

    def take_slow(self) -> float | None:
        with self._lock:
            fault = self.slow
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                self.slow = None
            return fault.delay_seconds

    def take_quota_exceeded(self) -> bool:
        """Bedrock's ServiceQuotaExceededException for the next request, when planned."""
        with self._lock:
            fault = self.quota_exceeded
            if fault is None:
                return False
            fault.count -= 1
            if fault.count <= 0:
                self.quota_exceeded = None
            return True

    def take_rate_limit(self) -> float | None:
        with self._lock:
            fault = self.rate_limit
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                self.rate_limit = None
            return fault.retry_after

    def take_server_error(self) -> ServerErrorFault | None:
        with self._lock:
            fault = self.server_error
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                self.server_error = None
            return ServerErrorFault(1, fault.status, fault.after_processing)

    def take_truncation(self) -> int | None:
        with self._lock:
            fault = self.truncate_download
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                self.truncate_download = None
            return fault.after_bytes

    def take_webhook_mode(self) -> tuple[WebhookMode, float]:
        """The mode for the next outgoing event, and the reorder hold time."""
        with self._lock:
            fault = self.webhooks
            if fault.mode == "normal":
                return "normal", 0.0
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.webhooks = WebhookFault()
            return fault.mode, fault.hold_seconds

    def webhook_reorder_pending(self) -> bool:
        """Whether reorder mode still expects more events to hold."""
        with self._lock:
            return self.webhooks.mode == "reorder"
