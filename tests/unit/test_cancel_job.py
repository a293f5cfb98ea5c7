"""Cancelling and deleting jobs: who does what when, and the cancel-versus-completion race,
with plain in-memory fakes for the adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from job_factory import JOB_ID, NOW, make_job

from videojobs.adapters import eventbus, workflow
from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic import cancel_job as logic
from videojobs.logic import provider_access, slots
from videojobs.models.errors import JobNotFoundError, ProviderRejectedError, StaleTransitionError
from videojobs.models.job import Job, JobError, JobStatus
from videojobs.observability import metrics


@dataclass
class FakeJobs:
    """The conditional writes of ``dal.jobs`` that cancelling relies on."""

    job: Job
    before_write: Callable[[FakeJobs], None] | None = None

    def get(self, job_id: str) -> Job:
        if job_id != self.job.job_id:
            raise JobNotFoundError(job_id)
        return self.job

    def get_for_tenant(self, tenant_id: str, job_id: str) -> Job:
        job = self.get(job_id)
        if job.tenant_id != tenant_id or job.deleted_at is not None:
            raise JobNotFoundError(job_id)
        return job

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        allowed_from: Iterable[JobStatus],
        fields: Mapping[str, Any] | None = None,
        removes: Iterable[str] = (),
    ) -> Job:
        if self.before_write is not None:
            self.before_write(self)
        if self.job.status not in set(allowed_from):
            raise StaleTransitionError(job_id)
        changes: dict[str, Any] = {"status": to, **(fields or {})}
        if "error" in changes:
            changes["error"] = JobError.model_validate(changes["error"])
        changes.update({name: None for name in removes})
        self.job = self.job.with_changes(**changes)
        return self.job

    def mark_deleted(self, job_id: str) -> Job:
        if not self.job.status.is_terminal:
            raise StaleTransitionError(job_id)
        self.job = self.job.with_changes(deleted_at=NOW)
        return self.job


@dataclass
class Recorder:
    """Every side effect, in order."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    provider_error: Exception | None = None

    def stop(self, job_id: str, cause: str) -> bool:
        self.calls.append(("stop", job_id))
        return True

    def delete(self, video_id: str) -> None:
        self.calls.append(("provider.delete", video_id))
        if self.provider_error is not None:
            raise self.provider_error

    def release_slot(self, holder: str) -> bool:
        self.calls.append(("release_slot", holder))
        return True

    def publish_job_event(self, job: Job, event_type: str) -> None:
        self.calls.append((event_type, job.status.value))

    def delete_job_assets(self, tenant_id: str, job_id: str) -> int:
        self.calls.append(("delete_assets", f"{tenant_id}/{job_id}"))
        return 3

    def delete_job_inputs(self, tenant_id: str, job_id: str) -> int:
        self.calls.append(("delete_inputs", f"{tenant_id}/{job_id}"))
        return 1

    def on_job_terminal(self, job: Job) -> None:
        self.calls.append(("batch_count", job.status.value))

    def settle(self, job: Job) -> Job:
        self.calls.append(("settle", job.status.value))
        return job

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(workflow, "stop", rec.stop)
    # The slot goes back (and on to the next job in line) through slots.free.
    monkeypatch.setattr(slots, "free", rec.release_slot)
    monkeypatch.setattr(eventbus, "publish_job_event", rec.publish_job_event)
    monkeypatch.setattr(assets, "delete_job_assets", rec.delete_job_assets)
    monkeypatch.setattr(assets, "delete_job_inputs", rec.delete_job_inputs)
    monkeypatch.setattr(logic, "on_job_terminal", rec.on_job_terminal)
    monkeypatch.setattr(logic, "settle", rec.settle)
    # cancel_job imports get_provider where it deletes (cold start): patch its home.
    monkeypatch.setattr(provider_access, "get_provider", lambda **_: rec)
    monkeypatch.setattr(metrics, "add_metric", lambda **_: None)
    return rec


def use(monkeypatch: pytest.MonkeyPatch, fake: FakeJobs) -> FakeJobs:
    for name in ("get", "get_for_tenant", "transition", "mark_deleted"):
        monkeypatch.setattr(jobs, name, getattr(fake, name))
    return fake


def test_a_generating_job_is_cancelled_then_stopped_released_and_announced(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    store = use(
        monkeypatch,
        FakeJobs(make_job(JobStatus.IN_PROGRESS, provider_video_id="video_p", task_token="t")),
    )

    job = logic.cancel_job("acme", JOB_ID)

    assert job.status is JobStatus.CANCELLED
    assert job.error is not None and job.error.code == "cancelled" and job.error.billed
    assert job.task_token is None
    assert recorder.names() == [
        "stop",
        "provider.delete",
        "release_slot",
        "video.cancelled",
        "batch_count",
    ]
    assert store.job.deleted_at is None, "cancelling alone does not delete"


def test_a_queued_job_without_a_provider_video_asks_the_provider_nothing(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    use(monkeypatch, FakeJobs(make_job(JobStatus.QUEUED)))

    job = logic.cancel_job("acme", JOB_ID)

    assert job.error is not None and not job.error.billed
    assert "provider.delete" not in recorder.names()
    assert "stop" in recorder.names() and "release_slot" in recorder.names()


def test_a_provider_that_refuses_the_delete_does_not_undo_the_cancel(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    use(monkeypatch, FakeJobs(make_job(JobStatus.IN_PROGRESS, provider_video_id="video_p")))
    recorder.provider_error = ProviderRejectedError("gone", status_code=404)

    job = logic.delete_job("acme", JOB_ID)

    assert job.status is JobStatus.CANCELLED and job.deleted_at == NOW
    assert "release_slot" in recorder.names() and "video.cancelled" in recorder.names()


def test_a_completion_landing_first_wins_and_the_job_is_just_deleted(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    # Given a job read as generating, that the workflow completes before the cancel writes
    def finalize_lands_first(store: FakeJobs) -> None:
        store.job = store.job.with_changes(status=JobStatus.COMPLETED, completed_at=NOW)

    use(
        monkeypatch,
        FakeJobs(
            make_job(JobStatus.IN_PROGRESS, provider_video_id="video_p"),
            before_write=finalize_lands_first,
        ),
    )
    # When its owner deletes it
    job = logic.delete_job("acme", JOB_ID)
    # Then the completion stands: nothing is stopped, released or announced as cancelled
    assert job.status is JobStatus.COMPLETED
    assert job.deleted_at == NOW
    assert recorder.names() == ["settle", "provider.delete", "delete_assets", "delete_inputs"]
    assert recorder.calls[0] == ("settle", "completed")


def test_deleting_a_finished_job_removes_files_and_the_providers_copy(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    use(
        monkeypatch,
        FakeJobs(
            make_job(JobStatus.COMPLETED, provider_video_id="video_p", provider_expires_at=NOW * 2)
        ),
    )

    job = logic.delete_job("acme", JOB_ID)

    assert job.deleted_at == NOW
    assert recorder.names() == ["settle", "provider.delete", "delete_assets", "delete_inputs"]


def test_an_expired_provider_copy_is_not_asked_for(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    use(
        monkeypatch,
        FakeJobs(make_job(JobStatus.FAILED, provider_video_id="video_p", provider_expires_at=1)),
    )

    logic.delete_job("acme", JOB_ID)

    assert "provider.delete" not in recorder.names()


@pytest.mark.parametrize(
    "job",
    [
        make_job(JobStatus.IN_PROGRESS).with_changes(tenant_id="someone-else"),
        make_job(JobStatus.COMPLETED, deleted_at=NOW),
    ],
    ids=["another tenant's", "already deleted"],
)
def test_another_tenants_or_a_deleted_job_is_not_found_and_untouched(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, job: Job
) -> None:
    store = use(monkeypatch, FakeJobs(job))

    with pytest.raises(JobNotFoundError):
        logic.delete_job("acme", JOB_ID)

    assert recorder.calls == []
    assert store.job == job
