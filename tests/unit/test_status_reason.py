"""Why a job waits: the ``status_reason`` extension of the Video view."""

from __future__ import annotations

import pytest
from job_factory import NOW, make_job

from videojobs.logic.status_reason import status_reason
from videojobs.models.job import JobError, JobStatus


def test_a_job_in_line_for_a_slot_waits_for_a_slot() -> None:
    # Given a queued job the index counts as second in line
    job = make_job()
    # When its reason is asked for
    # Then it waits for a slot
    assert status_reason(job, queue_position=2, now=NOW) == "waiting_for_slot"


def test_a_job_in_line_behind_its_own_tenants_cap_waits_for_a_tenant_slot() -> None:
    # Given a queued job in line while its tenant's jobs hold every slot one tenant may
    job = make_job()
    # Then it says that its own tenant's share holds it, not the global pool
    assert (
        status_reason(job, queue_position=1, now=NOW, tenant_at_cap=True)
        == "waiting_for_tenant_slot"
    )
    # ... and once it no longer waits in line, the cap says nothing
    assert status_reason(job, queue_position=None, now=NOW, tenant_at_cap=True) == (
        "waiting_for_provider"
    )


def test_a_create_held_back_by_the_request_budget_is_provider_throttled() -> None:
    # Given a job whose submit step was told to wait for the provider until NOW + 7
    job = make_job(submit_attempted_at=NOW, throttled_until=NOW + 7)
    # Then until then it is throttled, and afterwards it waits for the provider again
    assert status_reason(job, queue_position=None, now=NOW + 3) == "provider_throttled"
    assert status_reason(job, queue_position=None, now=NOW + 8) == "waiting_for_provider"


def test_a_submitted_job_waits_for_the_provider_until_the_provider_is_done() -> None:
    # Given a job the provider is generating
    job = make_job(
        JobStatus.IN_PROGRESS, provider_video_id="video_p", provider_status="in_progress"
    )
    # Then it waits for the provider; once the provider has finished, it is being stored
    assert status_reason(job, None, now=NOW) == "waiting_for_provider"
    done = job.with_changes(provider_status="completed", progress=100)
    assert status_reason(done, None, now=NOW) == "storing"


def test_a_throttle_mark_left_on_a_submitted_job_does_not_hide_the_provider_work() -> None:
    # Given a job that was throttled once and has since been submitted
    job = make_job(
        JobStatus.IN_PROGRESS,
        provider_video_id="video_p",
        provider_status="queued",
        throttled_until=NOW + 60,
    )
    # Then it waits for the provider, not for the budget
    assert status_reason(job, None, now=NOW) == "waiting_for_provider"


@pytest.mark.parametrize(
    "status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED], ids=str
)
def test_an_ended_job_has_no_reason(status: JobStatus) -> None:
    # Given an ended job (even one still marked throttled)
    job = make_job(
        status,
        throttled_until=NOW + 60,
        error=JobError(code="x", message="y") if status is JobStatus.FAILED else None,
    )
    # Then nothing is pending, so there is no reason
    assert status_reason(job, queue_position=None, now=NOW) is None
