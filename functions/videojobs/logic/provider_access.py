"""The configured provider client, built once per key (a rotated key builds a new one), and
held to the provider's request rate.

Every request first takes a token from the shared bucket (``dal.rate_limit``), so all
functions together stay within ``ProviderRequestsPerMinute``. A request that finds the bucket
empty waits, in short sleeps, up to a bound; past the bound it raises
``ProviderThrottledError`` with the expected wait, which the state machine already treats as
"wait and try again": a burst is queued, never turned into a failed job. A 429 from the
provider empties the bucket until its ``Retry-After`` has passed, so every function backs off,
not only the one that was told.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from videojobs.adapters.credentials import provider_api_key
from videojobs.adapters.dal.rate_limit import TokenBucket
from videojobs.adapters.providers import ContentStream, VideoProvider, build_provider
from videojobs.logic.callback_target import provider_redirect_addresses
from videojobs.models.errors import ProviderThrottledError
from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderConfig,
    ProviderVideo,
    RetrievedVideo,
    VideoPage,
)
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings

if TYPE_CHECKING:
    from videojobs.adapters.providers.bedrock_videos import BedrockVideosClient

# Longest a request waits for a token before handing the wait back to the state machine:
# well inside the 29-s API and 60-s step function timeouts.
DEFAULT_MAX_WAIT_SECONDS = 20.0
# Opportunistic requests (a progress refresh for someone reading a job) only use tokens while
# the bucket is at least this full, leaving the rest to the jobs' own steps.
SPARE_FRACTION = 0.5
# A Retry-After beyond this is not believed (a bad header must not stop all work for hours).
MAX_PAUSE_SECONDS = 300.0
_MAX_SLEEP_SECONDS = 2.0

_lock = threading.Lock()
_cached: tuple[str, VideoProvider] | None = None


class RateLimitedProvider:
    """A :class:`VideoProvider` whose every request first takes a token from ``bucket``."""

    def __init__(
        self,
        inner: VideoProvider,
        bucket: TokenBucket,
        *,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        keep_tokens: float = 0.0,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._on_wait = on_wait
        self._bucket = bucket
        self._max_wait = max(0.0, max_wait_seconds)
        self._keep = keep_tokens
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._inner!r}, "
            f"{self._bucket.rate_per_minute:g}/min, max_wait={self._max_wait:g}s)"
        )

    # --- the operations -----------------------------------------------------------------------

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        with self._request():
            return self._inner.create(request)

    def retrieve(self, video_id: str) -> RetrievedVideo:
        with self._request():
            return self._inner.retrieve(video_id)

    def list(
        self,
        after: str | None = None,
        limit: int | None = None,
        order: ListOrder | None = None,
    ) -> VideoPage:
        with self._request():
            return self._inner.list(after=after, limit=limit, order=order)

    def delete(self, video_id: str) -> DeletedVideo:
        with self._request():
            return self._inner.delete(video_id)

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        with self._request():
            return self._inner.remix(video_id, prompt)

    def moderate(self, text: str) -> ModerationResult:
        with self._request():
            return self._inner.moderate(text)

    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> AbstractContextManager[ContentStream]:
        return self._stream(video_id, variant)

    def close(self) -> None:
        self._inner.close()

    # --- the budget ---------------------------------------------------------------------------

    @contextmanager
    def _stream(self, video_id: str, variant: ContentVariant) -> Iterator[ContentStream]:
        with self._request(), self._inner.stream_content(video_id, variant) as stream:
            yield stream

    @contextmanager
    def _request(self) -> Iterator[None]:
        """One provider request: a token first; a 429 from the provider pauses everyone."""
        self._take_token()
        metrics.add_metric(name="ProviderRequests", unit="Count", value=1)
        try:
            yield
        except ProviderThrottledError as exc:
            metrics.add_metric(name="ProviderThrottled", unit="Count", value=1)
            self._pause(exc.retry_after)
            raise

    def _take_token(self) -> None:
        started = self._clock()
        told = False
        while True:
            now = self._clock()
            wait = self._bucket.try_take(int(now * 1000), keep=self._keep)
            if wait <= 0:
                return
            remaining = started + self._max_wait - now
            if wait > remaining:
                logger.info(
                    "provider request budget spent; handing the wait back",
                    extra={"wait_seconds": round(wait, 3)},
                )
                raise ProviderThrottledError(
                    f"The provider request budget ({self._bucket.rate_per_minute:g} per "
                    f"minute) is spent; the next request is possible in about "
                    f"{math.ceil(wait)} s.",
                    code="rate_limit_budget",
                    retry_after=wait,
                )
            if self._on_wait is not None and not told:
                # Once per request: whoever watches the job learns why nothing moves.
                self._on_wait(wait)
                told = True
            # A little jitter so that takers woken by the same refill do not collide.
            self._sleep(min(wait + random.uniform(0, min(wait, 0.25)), _MAX_SLEEP_SECONDS))

    def _pause(self, retry_after: float | None) -> None:
        pause = min(MAX_PAUSE_SECONDS, retry_after or 0.0)
        self._bucket.pause(int((self._clock() + pause) * 1000))
        logger.info("provider said 429; pausing every provider request", extra={"seconds": pause})


def _redirect_guard(scheme: str, host: str, port: int) -> list[str]:
    # Imported here, not at the top: only a redirected download needs it (cold start).

    return provider_redirect_addresses(scheme, host, port)


def _client() -> VideoProvider:
    """The plain client for the current settings and secret (reused across invocations)."""
    global _cached
    settings = get_settings()
    key = provider_api_key()
    fingerprint = hashlib.sha256(
        f"{settings.provider_base_url}|{settings.provider_auth_style}|{key.get_secret_value()}".encode()
    ).hexdigest()
    with _lock:
        if _cached is not None and _cached[0] == fingerprint:
            return _cached[1]
        if _cached is not None:
            _cached[1].close()
        config = ProviderConfig(
            base_url=settings.provider_base_url,
            auth_style=settings.provider_auth_style,
            api_key=key,
        )
        # A download redirected off the provider's origin (to a CDN) is held to the rules of
        # callbacks: https, public addresses only, connecting to the address checked.
        client = build_provider(config, redirect_guard=_redirect_guard)
        _cached = (fingerprint, client)
        return client


def _kept(bucket: TokenBucket, tokens: float) -> float:
    """``tokens`` to leave in ``bucket``, yet never so many that no token is ever free (a
    bucket of one token keeps none)."""
    return max(0.0, min(tokens, bucket.capacity - 1))


def get_provider(
    *,
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    spare_only: bool = False,
    on_wait: Callable[[float], None] | None = None,
    leave_reserve: bool = False,
) -> VideoProvider:
    """The provider client, held to ``ProviderRequestsPerMinute`` across all functions.

    ``max_wait_seconds`` bounds how long one request waits for a token before raising
    ``ProviderThrottledError``. ``spare_only`` is for requests nobody waits on (a progress
    refresh while reading a job): they never wait, and only use tokens while the bucket is
    at least half full. ``on_wait`` hears the expected wait once per request that has to
    wait for a token. ``leave_reserve`` is for requests that guard or tidy rather than make
    and store videos (pre-submit moderation, a cancel's provider delete): they wait as usual,
    but only for a token above the reserve, one token for every job that may be in flight
    (``MaxConcurrentJobs``), so that one tenant's flood of moderated creates or of cancels
    never spends what the running jobs' next steps need.
    """
    settings = get_settings()
    bucket = TokenBucket(settings.provider_requests_per_minute)
    if spare_only:
        keep = _kept(bucket, bucket.capacity * SPARE_FRACTION)
        return RateLimitedProvider(_client(), bucket, max_wait_seconds=0.0, keep_tokens=keep)
    keep = _kept(bucket, settings.max_concurrent_jobs) if leave_reserve else 0.0
    return RateLimitedProvider(
        _client(), bucket, max_wait_seconds=max_wait_seconds, keep_tokens=keep, on_wait=on_wait
    )


def get_bedrock() -> BedrockVideosClient:
    """The Bedrock client for the models this deployment enables (one region per model).

    Not held to ``ProviderRequestsPerMinute``: that is the OpenAI provider's budget. Bedrock's
    own throttling is retried by the SDK, then waited out by the state machine.
    """
    # Imported here: only Bedrock jobs need botocore's Bedrock model loaded.
    from videojobs.adapters.providers.bedrock_videos import BedrockVideosClient

    return BedrockVideosClient(region_of=lambda model: get_settings().bedrock_region(model))


def reset_provider() -> None:
    """Forget the cached client (tests point it at a fresh emulator)."""
    global _cached
    with _lock:
        if _cached is not None:
            _cached[1].close()
        _cached = None
