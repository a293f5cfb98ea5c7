"""Outgoing ``video.completed`` / ``video.failed`` events, signed per Standard Webhooks.

One sender thread delivers from a time-ordered queue, so a retry waiting for its backoff never
blocks newer events. The ``webhook-id`` is the event id and stays the same across retries and
duplicates, as the receiver's de-duplication expects.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from videojobs.standard_webhooks import signed_headers

from .config import EmulatorConfig
from .faults import Faults
from .stats import Stats

logger = logging.getLogger(__name__)

EventType = Literal["video.completed", "video.failed"]

# Gap between deliveries released together (duplicates, reordered batches), real seconds.
_RELEASE_GAP = 0.02
_LOG_SIZE = 10_000


def new_event(event_type: EventType, video_id: str) -> tuple[str, bytes]:
    """A fresh event id and its JSON body."""
    event_id = "evt_" + secrets.token_hex(16)
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created_at": int(time.time()),
        "data": {"id": video_id},
    }
    return event_id, json.dumps(body, separators=(",", ":")).encode()


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    video_id: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=1, compare=False)


class WebhookSender:
    """Queues events and delivers them from one background thread."""

    def __init__(self, config: Callable[[], EmulatorConfig], faults: Faults, stats: Stats) -> None:
        self._config = config
        self._faults = faults
        self._stats = stats
        self._cond = threading.Condition()
        self._queue: list[_Delivery] = []
        self._held: list[_Delivery] = []
        self._held_until = 0.0
        self._seq = itertools.count()
        self._stopped = False
        self._log: deque[dict[str, Any]] = deque(maxlen=_LOG_SIZE)
        self._client = httpx.Client(follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._client.close()

    def clear(self) -> None:
        """Forget queued, held and logged deliveries (admin reset)."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._log.clear()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, oldest first."""
        with self._cond:
            return list(self._log)

    def publish(self, event_type: EventType, video_id: str) -> None:
        """Send an event for ``video_id``, honouring the current webhook fault."""
        if self._config().webhook_url is None:
            return
        event_id, body = new_event(event_type, video_id)
        mode, hold = self._faults.take_webhook_mode()
        now = time.monotonic()

        def delivery(delay: float = 0.0) -> _Delivery:
            return _Delivery(now + delay, next(self._seq), event_id, event_type, video_id, body)

        with self._cond:
            if mode == "drop":
                self._stats.incr("webhooks_dropped")
                self._log.append(self._entry(delivery(), "dropped"))
                return
            if mode == "reorder":
                if not self._held:
                    self._held_until = now + hold
                self._held.append(delivery())
                if not self._faults.webhook_reorder_pending():
                    self._release_held(now)
            else:
                heapq.heappush(self._queue, delivery())
                if mode == "duplicate":
                    heapq.heappush(self._queue, delivery(_RELEASE_GAP))
            self._cond.notify_all()

    def _release_held(self, now: float) -> None:
        # Newest first: the receiver sees the batch in exactly the opposite order.
        for index, held in enumerate(reversed(self._held)):
            held.due = now + index * _RELEASE_GAP
            held.seq = next(self._seq)
            heapq.heappush(self._queue, held)
        self._held.clear()

    def _entry(
        self, delivery: _Delivery, outcome: str, status: int | None = None
    ) -> dict[str, Any]:
        return {
            "event_id": delivery.event_id,
            "type": delivery.event_type,
            "video_id": delivery.video_id,
            "attempt": delivery.attempt,
            "outcome": outcome,
            "status": status,
            "time": time.time(),
        }

    def _next_due(self) -> _Delivery | None:
        """Pop the next delivery that is due, or wait for one; None once stopped."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if self._held and (
                    now >= self._held_until or not self._faults.webhook_reorder_pending()
                ):
                    self._release_held(now)
                if self._queue and self._queue[0].due <= now:
                    return heapq.heappop(self._queue)
                deadlines = [self._queue[0].due] if self._queue else []
                if self._held:
                    deadlines.append(self._held_until)
                timeout = min(deadlines) - now if deadlines else None
                self._cond.wait(timeout)
            return None

    def _run(self) -> None:
        while (delivery := self._next_due()) is not None:
            self._send(delivery)

    def _send(self, delivery: _Delivery) -> None:
        config = self._config()
        if config.webhook_url is None or config.webhook_secret is None:
            return
        headers = signed_headers(config.webhook_secret, delivery.event_id, delivery.body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = "videojobs-emulator/1"
        status: int | None = None
        try:
            response = self._client.post(
                config.webhook_url,
                content=delivery.body,
                headers=headers,
                timeout=config.webhook_timeout_seconds,
            )
            status = response.status_code
            delivered = 200 <= status < 300
            outcome = "delivered" if delivered else "rejected"
        except httpx.HTTPError as exc:
            delivered = False
            outcome = f"error: {type(exc).__name__}"
        with self._cond:
            self._log.append(self._entry(delivery, outcome, status))
        if delivered:
            self._stats.incr("webhooks_sent")
            return
        self._stats.incr("webhook_failures")
        if delivery.attempt >= config.webhook_max_attempts:
            logger.warning(
                "giving up on webhook %s after %d attempts", delivery.event_id, delivery.attempt
            )
            return
        backoff = min(
            config.webhook_backoff_seconds * 2 ** (delivery.attempt - 1),
            config.webhook_backoff_cap_seconds,
        )
        delivery.attempt += 1
        delivery.due = time.monotonic() + backoff / config.speed
        delivery.seq = next(self._seq)
        with self._cond:
            heapq.heappush(self._queue, delivery)
            self._cond.notify_all()
