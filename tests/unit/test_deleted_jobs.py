"""Deleted jobs: hidden at once, purged (prompt, metadata, callback URL with them) after the
retention period by the jobs table's TTL, and never read back once past it, even while
DynamoDB has not removed the item yet (TTL deletes late). On in-process moto."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from job_factory import JOB_ID, NOW, make_job

from videojobs.adapters.dal import jobs
from videojobs.models.errors import JobNotFoundError
from videojobs.models.job import JobStatus
from videojobs.settings import get_settings

DAY = 86_400


def stored_item(table: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=table, Key={"job_id": {"S": JOB_ID}}
    )["Item"]
    return item


@pytest.fixture
def deleted(jobs_table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A completed job with a prompt, metadata and a callback URL, deleted at ``NOW``."""
    monkeypatch.setattr(jobs, "_now", lambda: NOW)
    jobs.create(
        make_job(
            JobStatus.COMPLETED,
            provider_video_id="video_p",
            metadata={"campaign": "secret-launch"},
            callback_url="https://hooks.example.com/cb?token=t",
        )
    )
    jobs.mark_deleted(JOB_ID)
    return jobs_table


def test_a_deleted_job_is_purged_after_the_configured_retention(
    jobs_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment keeping deleted jobs 7 days
    monkeypatch.setenv("DELETED_JOB_RETENTION_DAYS", "7")
    get_settings.cache_clear()
    monkeypatch.setattr(jobs, "_now", lambda: NOW)
    jobs.create(make_job(JobStatus.FAILED, metadata={"k": "v"}))
    # When the job is deleted
    jobs.mark_deleted(JOB_ID)
    # Then its item carries the TTL attribute 7 days on
    assert stored_item(jobs_table)[jobs.PURGE_AT] == {"N": str(NOW + 7 * DAY)}


def test_the_default_retention_is_thirty_days(deleted: str) -> None:
    assert stored_item(deleted)[jobs.PURGE_AT] == {"N": str(NOW + 30 * DAY)}


def test_within_the_retention_a_deleted_job_is_hidden_from_its_tenant_but_counted(
    deleted: str,
) -> None:
    with pytest.raises(JobNotFoundError):
        jobs.get_for_tenant("acme", JOB_ID)
    assert jobs.list_for_tenant("acme").jobs == []
    # Usage still counts it: what it cost was spent
    assert [j.job_id for j in jobs.created_between("acme", NOW, NOW + 1)] == [JOB_ID]


def test_past_its_retention_a_job_not_yet_removed_by_ttl_is_gone_for_every_read(
    deleted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deleted job past its purge time that DynamoDB has not removed yet
    monkeypatch.setattr(jobs, "_now", lambda: NOW + 30 * DAY)
    assert "request" in stored_item(deleted)
    # Then no read returns it, or anything of it: not by id, by provider id, or in a report
    with pytest.raises(JobNotFoundError):
        jobs.get(JOB_ID)
    with pytest.raises(JobNotFoundError):
        jobs.get_for_tenant("acme", JOB_ID)
    assert jobs.find_by_provider_id("video_p") is None
    assert list(jobs.created_between("acme", NOW, NOW + 1)) == []
    assert jobs.list_for_tenant("acme").jobs == []


def test_a_job_that_was_not_deleted_is_never_purged(jobs_table: str) -> None:
    jobs.create(make_job(JobStatus.COMPLETED))
    assert jobs.PURGE_AT not in stored_item(jobs_table)
    assert jobs.get(JOB_ID).job_id == JOB_ID
