"""The provider request budget: the token bucket in DynamoDB (moto, in-process) and the
provider wrapper that takes a token before every request, on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from job_factory import JOB_ID, make_job
from template_tables import control_table_with_atomic_writes

from videojobs.adapters.dal import jobs
from videojobs.adapters.dal.rate_limit import BucketState, TokenBucket, refilled
from videojobs.adapters.providers import ContentStream
from videojobs.adapters.storage import assets
from videojobs.logic import cancel_job, provider_access
from videojobs.logic.apply_provider_status import refresh_progress
from videojobs.logic.create_job import resolve_create
from videojobs.logic.provider_access import RateLimitedProvider, get_provider
from videojobs.models.api import CreateVideoBody
from videojobs.models.errors import ProviderThrottledError
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderVideo,
    RetrievedVideo,
    VideoPage,
)
from videojobs.observability import metrics
from videojobs.settings import get_settings

TABLE = "videojobs-control-test"
T0 = 1_800_000_000.0


@pytest.fixture
def control_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The control table on moto, with moto's writes made atomic as DynamoDB's are.

    moto checks a condition and applies the write as separate steps, so two threads could
    both pass the same condition; the local stack's fix (one lock over every write) is what
    makes the concurrency test below mean something.
    """
    with control_table_with_atomic_writes(monkeypatch, TABLE):
        yield


def ms(seconds: float) -> int:
    return int(seconds * 1000)


# --- the refill arithmetic -------------------------------------------------------------------


def test_refill_is_rate_per_minute_capped_at_capacity() -> None:
    # Given a bucket emptied at T0 refilling 60 a minute (one a second), capacity 10
    empty = BucketState(tokens=0.0, updated_at_ms=ms(T0), version=3)
    # Then 2.5 s later it holds 2.5 tokens, and after a long while only the capacity
    assert refilled(empty, ms(T0 + 2.5), 60, 10) == pytest.approx(2.5)
    assert refilled(empty, ms(T0 + 3600), 60, 10) == 10
    # And a pause (updated_at in the future) refills nothing until it ends
    paused = BucketState(tokens=0.0, updated_at_ms=ms(T0 + 5), version=4)
    assert refilled(paused, ms(T0 + 4), 60, 10) == 0


# --- the bucket in DynamoDB ------------------------------------------------------------------


def test_a_full_bucket_allows_a_burst_of_capacity_then_one_per_refill(control_table: None) -> None:
    # Given a fresh bucket of 30 requests a minute (capacity 30, one token every 2 s)
    bucket = TokenBucket(30)
    # When 31 requests arrive at the same moment
    waits = [bucket.try_take(ms(T0)) for _ in range(31)]
    # Then the first 30 go at once and the 31st is told to wait 2 s
    assert waits[:30] == [0.0] * 30
    assert waits[30] == pytest.approx(2.0)
    # And after 2 s exactly one more goes
    assert bucket.try_take(ms(T0 + 2)) == 0.0
    assert bucket.try_take(ms(T0 + 2)) == pytest.approx(2.0)


def test_a_taker_that_read_a_stale_bucket_cannot_spend_the_same_token(
    control_table: None,
) -> None:
    # Given a bucket with exactly one token left
    bucket, rival = TokenBucket(60, capacity=2), TokenBucket(60, capacity=2)
    assert rival.try_take(ms(T0)) == 0.0
    real_read = bucket.read
    rival_took: list[float] = []

    def read_then_rival_takes() -> BucketState:
        state = real_read()
        if not rival_took:
            # Another function takes the last token between our read and our write.
            rival_took.append(rival.try_take(ms(T0)))
        return state

    bucket.read = read_then_rival_takes  # type: ignore[method-assign]
    # When both go for it at the same moment
    ours = bucket.try_take(ms(T0))
    # Then the rival got it, and we were told to wait for the refill instead of spending it too
    assert rival_took == [0.0]
    assert ours == pytest.approx(1.0)
    assert real_read().tokens == 0


def test_concurrent_takers_never_overspend(control_table: None) -> None:
    # Given a bucket of 20 tokens that practically never refills
    bucket = TokenBucket(0.001, capacity=20)
    granted: list[int] = []
    start = threading.Barrier(6)

    def taker() -> None:
        start.wait()
        granted.append(sum(1 for _ in range(10) if bucket.try_take(ms(T0)) == 0.0))

    # When 6 threads try 10 times each at once
    threads = [threading.Thread(target=taker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly 20 requests were allowed, not one more
    assert sum(granted) == 20


def test_a_pause_empties_the_bucket_until_it_ends(control_table: None) -> None:
    # Given a full bucket of 60 a minute
    bucket = TokenBucket(60)
    # When the provider says 429 with Retry-After 7 s
    bucket.pause(ms(T0 + 7))
    # Then nobody gets a token for 7 s plus one refill, and then one does
    assert bucket.try_take(ms(T0 + 1)) == pytest.approx(7.0)
    assert bucket.try_take(ms(T0 + 8)) == 0.0
    # And an earlier pause arriving late does not shorten it
    bucket.pause(ms(T0 + 2))
    assert bucket.try_take(ms(T0 + 8)) == pytest.approx(1.0)


def test_a_spare_only_taker_leaves_the_reserve_to_others(control_table: None) -> None:
    # Given a bucket of 10 with 5 tokens left
    bucket = TokenBucket(10)
    for _ in range(5):
        assert bucket.try_take(ms(T0)) == 0.0
    # Then a taker that must keep 5 in the bucket is refused, and an ordinary one is not
    assert bucket.try_take(ms(T0), keep=5) > 0
    assert bucket.try_take(ms(T0)) == 0.0


# --- the provider wrapper --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeStream:
    content_length: int | None = 3
    content_type: str | None = "video/mp4"
    request_id: str | None = None

    def iter_chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"mp4"


def video(video_id: str = "video_1") -> ProviderVideo:
    return ProviderVideo(
        id=video_id, model="sora-2", status="queued", seconds="4", size="720x1280", created_at=1
    )


class FakeProvider:
    """Answers every operation, notes when it was called, or raises what it is told to."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []
        self.fail_with: Exception | None = None

    def _call(self, name: str) -> None:
        self.calls.append((name, self.clock.now))
        if self.fail_with is not None:
            raise self.fail_with

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        self._call("create")
        return video()

    def retrieve(self, video_id: str) -> RetrievedVideo:
        self._call("retrieve")
        return RetrievedVideo(video=video(video_id))

    def list(
        self, after: str | None = None, limit: int | None = None, order: ListOrder | None = None
    ) -> VideoPage:
        self._call("list")
        return VideoPage(data=[], has_more=False)

    def delete(self, video_id: str) -> DeletedVideo:
        self._call("delete")
        return DeletedVideo(id=video_id, deleted=True)

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        self._call("remix")
        return video()

    def moderate(self, text: str) -> ModerationResult:
        self._call("moderate")
        return ModerationResult(flagged=False)

    @contextmanager
    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> Iterator[ContentStream]:
        self._call("stream_content")
        yield FakeStream()

    def close(self) -> None:
        pass


def limited(
    clock: FakeClock, rate: float, *, capacity: float | None = None, max_wait: float = 20.0
) -> tuple[RateLimitedProvider, FakeProvider]:
    inner = FakeProvider(clock)
    provider = RateLimitedProvider(
        inner,
        TokenBucket(rate, capacity=capacity),
        max_wait_seconds=max_wait,
        clock=clock.time,
        sleep=clock.sleep,
    )
    return provider, inner


def test_a_burst_is_queued_and_paced_not_rejected(control_table: None) -> None:
    # Given 60 requests a minute with room for a burst of 3
    clock = FakeClock()
    provider, inner = limited(clock, 60, capacity=3)
    # When 8 requests come one after another
    for _ in range(8):
        provider.retrieve("video_1")
    # Then all 8 reached the provider: 3 at once, the other 5 paced by the refill
    times = [at - T0 for _, at in inner.calls]
    assert len(times) == 8
    assert times[:3] == [0.0, 0.0, 0.0]
    assert 5.0 <= times[-1] <= 6.5
    # And no window of the run holds more than the burst plus the refill over the window
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= 3 + (times[j] - start) * 1 + 1e-9


def test_every_operation_takes_a_token(control_table: None) -> None:
    # Given a budget of exactly 7 requests and nothing refilling in the test's time
    clock = FakeClock()
    provider, inner = limited(clock, 0.001, capacity=7, max_wait=0)
    request = CreateVideoRequest(prompt="a lighthouse")
    # When each operation is used once
    provider.create(request)
    provider.retrieve("video_1")
    provider.list(limit=10)
    provider.delete("video_1")
    provider.remix("video_1", "at night")
    provider.moderate("a lighthouse")
    with provider.stream_content("video_1", "thumbnail") as stream:
        assert b"".join(stream.iter_chunks()) == b"mp4"
    # Then each one went through, and the eighth request finds the budget spent
    assert [name for name, _ in inner.calls] == [
        "create",
        "retrieve",
        "list",
        "delete",
        "remix",
        "moderate",
        "stream_content",
    ]
    with pytest.raises(ProviderThrottledError):
        provider.retrieve("video_1")


def test_a_wait_beyond_the_bound_is_handed_back_without_calling_the_provider(
    control_table: None,
) -> None:
    # Given an empty budget of 20 a minute (a token every 3 s) and a 1-s bound on waiting
    clock = FakeClock()
    provider, inner = limited(clock, 20, capacity=1, max_wait=1.0)
    provider.retrieve("video_1")
    # When the next request comes at once
    with pytest.raises(ProviderThrottledError) as caught:
        provider.create(CreateVideoRequest(prompt="a lighthouse"))
    # Then it is refused as throttled, with the expected wait, and never reached the provider
    assert caught.value.retry_after == pytest.approx(3.0)
    assert caught.value.code == "rate_limit_budget"
    assert [name for name, _ in inner.calls] == ["retrieve"]
    assert clock.slept == []


def test_a_provider_429_pauses_every_request_for_its_retry_after(control_table: None) -> None:
    # Given a roomy budget, and a provider that answers 429 with Retry-After 7 s
    clock = FakeClock()
    provider, inner = limited(clock, 600)
    inner.fail_with = ProviderThrottledError("slow down", status_code=429, retry_after=7.0)
    # When a request is throttled by the provider
    with pytest.raises(ProviderThrottledError):
        provider.retrieve("video_1")
    # Then the next request, from any client of the bucket, waits out the 7 s first
    inner.fail_with = None
    other, other_inner = limited(clock, 600)
    other.retrieve("video_1")
    assert other_inner.calls[0][1] - T0 >= 7.0


# --- a progress refresh: a request nobody waits on ---------------------------------------------


@pytest.fixture
def on_fake_clock(control_table: None, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """``get_provider()`` as deployed (the configured 20 a minute), on the fake clock, in
    front of a fake provider; returns the fake."""
    clock = FakeClock()
    inner = FakeProvider(clock)

    class OnFakeClock(RateLimitedProvider):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, clock=clock.time, sleep=clock.sleep, **kwargs)

    monkeypatch.setattr(provider_access, "_client", lambda: inner)
    monkeypatch.setattr(provider_access, "RateLimitedProvider", OnFakeClock)
    monkeypatch.setattr(jobs, "claim_progress_check", lambda job_id, min_interval: True)
    return inner


def running_job() -> Job:
    return Job(
        job_id="video_" + "3" * 32,
        tenant_id="acme",
        status=JobStatus.IN_PROGRESS,
        created_at=int(T0),
        updated_at=int(T0),
        request=VideoRequest(prompt="a lighthouse"),
        provider_video_id="video_1",
        provider_status="in_progress",
        progress=10,
    )


def spend(tokens: int) -> None:
    bucket = TokenBucket(get_settings().provider_requests_per_minute)
    for _ in range(tokens):
        assert bucket.try_take(ms(T0)) == 0.0


def test_a_progress_refresh_asks_the_provider_while_the_bucket_is_over_half_full(
    on_fake_clock: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 11 of the 20 tokens left (10 after this request), and a job whose refresh is due
    spend(9)
    job = running_job()
    recorded: list[str] = []

    def record(job_id: str, status: str, **_: Any) -> Job:
        recorded.append(status)
        return job.with_changes(provider_status=status)

    monkeypatch.setattr(jobs, "record_provider_status", record)
    # When someone reads the job / Then the provider is asked and its answer recorded
    refresh_progress(job)
    assert [name for name, _ in on_fake_clock.calls] == ["retrieve"]
    assert recorded == ["queued"]


def test_a_progress_refresh_leaves_the_lower_half_of_the_bucket_to_the_steps(
    on_fake_clock: FakeProvider,
) -> None:
    # Given 10 of the 20 tokens left: taking one would leave under half
    spend(10)
    job = running_job()
    # When someone reads the job
    refreshed = refresh_progress(job)
    # Then the provider is not asked, nothing waited, and the job reads as it was
    assert on_fake_clock.calls == []
    assert on_fake_clock.clock.slept == []
    assert refreshed == job
    # While a job's own step still gets a token at once
    get_provider().retrieve("video_1")
    assert on_fake_clock.calls == [("retrieve", T0)]


def test_a_progress_refresh_never_waits_where_a_step_would(on_fake_clock: FakeProvider) -> None:
    # Given an empty bucket (the next token in 3 s)
    spend(20)
    # When someone reads a job / Then the read returns at once, without asking the provider
    assert refresh_progress(running_job()) == running_job()
    assert on_fake_clock.clock.slept == []
    assert on_fake_clock.calls == []
    # While a step's request waits for the refill and then goes through
    get_provider().retrieve("video_1")
    assert on_fake_clock.clock.slept != []
    assert [name for name, _ in on_fake_clock.calls] == ["retrieve"]


# --- moderation and deletes: requests that leave the reserve to the steps ---------------------


def test_a_flood_of_moderated_creates_and_deletes_leaves_the_reserve_to_the_steps(
    on_fake_clock: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pre-submit moderation on, the configured 20 requests a minute and 5 concurrent
    # jobs (a reserve of 5 tokens), and completed jobs whose provider videos are still there
    monkeypatch.setenv("PRE_SUBMIT_MODERATION", "true")
    get_settings.cache_clear()
    monkeypatch.setattr(metrics, "add_metric", lambda **_: None)
    done = make_job(JobStatus.COMPLETED, provider_video_id="video_p")
    monkeypatch.setattr(jobs, "get_for_tenant", lambda tenant_id, job_id: done)
    monkeypatch.setattr(cancel_job, "settle", lambda ended: ended)
    monkeypatch.setattr(assets, "delete_job_assets", lambda tenant_id, job_id: 3)
    monkeypatch.setattr(assets, "delete_job_inputs", lambda tenant_id, job_id: 0)
    monkeypatch.setattr(jobs, "mark_deleted", lambda job_id: done)
    clock = on_fake_clock.clock
    # When one tenant sends 30 moderated creates and deletes 30 jobs as fast as it can
    for index in range(30):
        resolve_create(CreateVideoBody(prompt=f"flood {index}"))
        cancel_job.delete_job("acme", JOB_ID)
    # Then the flood got only what lay above the reserve: the full bucket's 15 tokens at once,
    # then the refill (one token every 3 s) over the time it spent waiting
    names = [name for name, _ in on_fake_clock.calls]
    assert set(names) == {"moderate", "delete"}
    assert len(names) <= 15 + (clock.now - T0) / 3 + 1
    # And the 5 tokens of the reserve are still there for the steps: 5 submits go at once
    flood_ended, on_fake_clock.calls = clock.now, []
    for _ in range(5):
        get_provider().create(CreateVideoRequest(prompt="a lighthouse"))
    assert on_fake_clock.calls == [("create", flood_ended)] * 5
