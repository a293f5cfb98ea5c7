"""Each caller of the provider asks for the wait that fits it: a request that finds the shared
request budget spent waits for a token at most that long, and it must end well before the
Lambda (or the HTTP caller) it runs in gives up. Plain fakes; the bounds themselves are
exercised against the bucket in test_rate_limit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from job_factory import JOB_ID, NOW, make_job

from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic import apply_provider_status, cancel_job, provider_access, store_assets
from videojobs.logic.create_job import resolve_create
from videojobs.logic.provider_access import DEFAULT_MAX_WAIT_SECONDS
from videojobs.models.api import CreateVideoBody
from videojobs.models.job import Job, JobStatus, StoredAsset
from videojobs.models.provider import ModerationResult, ProviderVideo, RetrievedVideo
from videojobs.observability import metrics
from videojobs.settings import get_settings
from videojobs_local.stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml((ROOT / "template.yaml").read_text())


def timeout_of(function: str) -> float:
    """The Lambda timeout of ``function`` in template.yaml (its own, else the global one)."""
    own = TEMPLATE["Resources"][function]["Properties"].get("Timeout")
    return float(own if own is not None else TEMPLATE["Globals"]["Function"]["Timeout"])


class FakeProvider:
    """Answers what the callers below ask; records the bounds each one asked for."""

    def __init__(self) -> None:
        self.bounds: list[dict[str, Any]] = []

    def get_provider(self, **bounds: Any) -> FakeProvider:
        self.bounds.append(bounds)
        return self

    def retrieve(self, video_id: str) -> RetrievedVideo:
        video = ProviderVideo(
            id=video_id,
            model="sora-2",
            status="in_progress",
            progress=40,
            seconds="4",
            size="720x1280",
            created_at=NOW,
        )
        return RetrievedVideo(video=video)

    def moderate(self, text: str) -> ModerationResult:
        return ModerationResult(flagged=False)

    def delete(self, video_id: str) -> None:
        return None


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    fake = FakeProvider()
    # Where each caller looks it up: store_assets imports it at the top (its step always needs
    # the provider), the others where they use it (cold start).
    monkeypatch.setattr(provider_access, "get_provider", fake.get_provider)
    monkeypatch.setattr(store_assets, "get_provider", fake.get_provider)
    monkeypatch.setattr(metrics, "add_metric", lambda **_: None)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()


def job(status: JobStatus = JobStatus.IN_PROGRESS, **changes: Any) -> Job:
    return make_job(status, provider_video_id="video_p", **changes)


def recorded(monkeypatch: pytest.MonkeyPatch, stored: Job) -> None:
    """``jobs.record_provider_status`` answering with ``stored`` plus the news."""

    def record(job_id: str, status: str, **fields: Any) -> Job:
        return stored.with_changes(provider_status=status, progress=fields["progress"])

    monkeypatch.setattr(jobs, "record_provider_status", record)


def test_a_progress_refresh_uses_only_spare_tokens(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running job whose progress is due for a refresh
    running = job()
    monkeypatch.setattr(jobs, "claim_progress_check", lambda job_id, min_interval: True)
    recorded(monkeypatch, running)
    # When someone reads it
    refreshed = apply_provider_status.refresh_progress(running)
    # Then the provider was asked as a request nobody waits on
    assert refreshed.progress == 40
    assert provider.bounds == [{"spare_only": True}]


def test_pre_submit_moderation_waits_only_briefly_for_a_token(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given moderation switched on
    monkeypatch.setenv("PRE_SUBMIT_MODERATION", "true")
    get_settings.cache_clear()
    # When a create is resolved
    resolve_create(CreateVideoBody(prompt="a meadow"))
    # Then its one provider request waits far less than the API function may run, and only
    # for a token above the reserve kept for submit and store
    [bounds] = provider.bounds
    assert set(bounds) == {"max_wait_seconds", "leave_reserve"}
    assert 0 < bounds["max_wait_seconds"] <= timeout_of("ApiFunction") / 4
    assert bounds["leave_reserve"] is True


def test_deleting_a_job_waits_only_briefly_to_delete_the_provider_video(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a completed job whose provider video has not expired
    done = job(JobStatus.COMPLETED, provider_expires_at=NOW * 2)
    monkeypatch.setattr(jobs, "get_for_tenant", lambda tenant_id, job_id: done)
    monkeypatch.setattr(cancel_job, "settle", lambda ended: ended)
    monkeypatch.setattr(assets, "delete_job_assets", lambda tenant_id, job_id: 3)
    monkeypatch.setattr(assets, "delete_job_inputs", lambda tenant_id, job_id: 0)
    monkeypatch.setattr(jobs, "mark_deleted", lambda job_id: done.with_changes(deleted_at=NOW))
    # When its owner deletes it (DELETE /v1/videos/{id})
    cancel_job.delete_job("acme", JOB_ID)
    # Then the provider delete waits far less than the API function may run, and only for a
    # token above the reserve kept for submit and store
    [bounds] = provider.bounds
    assert set(bounds) == {"max_wait_seconds", "leave_reserve"}
    assert 0 < bounds["max_wait_seconds"] <= timeout_of("ApiFunction") / 4
    assert bounds["leave_reserve"] is True


def test_storing_assets_waits_longer_yet_well_inside_the_store_function_timeout(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job whose files are all stored already (so nothing is downloaded)
    asset = StoredAsset(key="k", bytes=1, content_type="video/mp4", sha256="s", crc32="c")
    stored = job(assets=dict.fromkeys(store_assets.VARIANTS, asset))
    monkeypatch.setattr(jobs, "get", lambda job_id: stored)
    monkeypatch.setattr(jobs, "record_assets", lambda job_id, files: stored)
    # When the store step runs
    store_assets.store_assets(JOB_ID)
    # Then it may wait longer than the default for each download's token, and all of them
    # together stay within half of the store function's timeout
    [bounds] = provider.bounds
    assert set(bounds) == {"max_wait_seconds"}
    wait = bounds["max_wait_seconds"]
    assert wait > DEFAULT_MAX_WAIT_SECONDS
    assert wait * len(store_assets.VARIANTS) <= timeout_of("StoreFunction") / 2


def test_a_status_check_keeps_the_default_wait_inside_its_function_timeout(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running job
    running = job()
    monkeypatch.setattr(jobs, "get", lambda job_id: running)
    recorded(monkeypatch, running)
    # When the status check step runs
    outcome = apply_provider_status.check_status(JOB_ID, 15)
    # Then it asked with the default bound, which ends well before the check function does
    assert outcome.provider_status == "in_progress"
    assert provider.bounds == [{}]
    assert timeout_of("CheckFunction") / 2 >= DEFAULT_MAX_WAIT_SECONDS
