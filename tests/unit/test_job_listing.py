"""Listing a tenant's jobs: a filtered listing reads a bounded number of DynamoDB pages per
request and hands back a cursor, and queue positions are computed once per page. Counted on
in-process moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from job_factory import NOW, make_job

from videojobs.adapters.dal import jobs
from videojobs.logic.queue_position import queue_position, queue_positions
from videojobs.models.job import Job, JobStatus


class CountingTable:
    """The jobs table, counting the queries and reads made through it."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.queries: list[dict[str, Any]] = []
        self.reads = 0

    def query(self, **kwargs: Any) -> Any:
        self.queries.append(kwargs)
        return self._table.query(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        self.reads += 1
        return self._table.get_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


@pytest.fixture
def counted(jobs_table: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], CountingTable]:
    """Turns on counting; returns the counter (fresh each call)."""
    real = jobs._table

    def start() -> CountingTable:
        counter = CountingTable(real())
        monkeypatch.setattr(jobs, "_table", lambda: counter)
        return counter

    return start


def job_number(n: int, status: JobStatus = JobStatus.COMPLETED, **changes: Any) -> Job:
    return make_job(status, job_id=f"video_{n:032x}", created_at=NOW + n, **changes)


def test_a_filter_matching_few_of_many_jobs_reads_a_bounded_number_of_pages_per_request(
    counted: Callable[[], CountingTable],
) -> None:
    # Given a tenant with 400 completed jobs and two failed ones, the oldest two
    jobs.create(job_number(1, JobStatus.FAILED))
    jobs.create(job_number(2, JobStatus.FAILED))
    for n in range(3, 403):
        jobs.create(job_number(n))
    # When the tenant lists its failed jobs, newest first, following the cursor
    found: list[str] = []
    requests = []
    after: Job | None = None
    while True:
        counter = counted()
        page = jobs.list_for_tenant("acme", status=JobStatus.FAILED, after=after, limit=20)
        requests.append((len(page.jobs), page.has_more, len(counter.queries)))
        found += [job.job_id for job in page.jobs]
        if not page.has_more:
            break
        assert page.last_id is not None
        after = jobs.get(page.last_id)
    # Then no request read more than the bound, and the early pages, with nothing matched
    # yet, still say there is more and where to go on from
    assert all(queries <= jobs.LIST_MAX_PAGES for _, _, queries in requests)
    assert requests[0] == (0, True, jobs.LIST_MAX_PAGES)
    assert len(requests) > 1
    # And following the cursor finds every failed job, once, in order
    assert found == [job_number(2).job_id, job_number(1).job_id]


def test_a_full_page_ends_on_its_last_job_and_an_unbounded_listing_reads_everything(
    counted: Callable[[], CountingTable],
) -> None:
    for n in range(1, 31):
        jobs.create(job_number(n))
    counter = counted()
    page = jobs.list_for_tenant("acme", limit=5)
    assert [j.job_id for j in page.jobs] == [job_number(n).job_id for n in range(30, 25, -1)]
    assert (page.has_more, page.last_id) == (True, job_number(26).job_id)
    assert len(counter.queries) == 1
    # Internal callers may ask for everything
    whole = jobs.list_for_tenant("acme", status=JobStatus.FAILED, limit=5, max_pages=None)
    assert (whole.jobs, whole.has_more, whole.last_id) == ([], False, None)


def test_queue_positions_of_a_page_cost_one_query_not_two_reads_per_job(
    counted: Callable[[], CountingTable],
) -> None:
    # Given eight jobs waiting for a slot, one that got its slot, and one completed job
    for n in range(1, 9):
        jobs.create(job_number(n, JobStatus.QUEUED))
    jobs.create(job_number(9, JobStatus.QUEUED, submit_attempted_at=NOW))
    jobs.create(job_number(10))
    listed = jobs.list_for_tenant("acme", limit=10).jobs
    # When the page's queue positions are computed
    counter = counted()
    positions = queue_positions(listed)
    # Then one query on the waiting index did it, and each position is the job's place by age
    assert (len(counter.queries), counter.reads) == (1, 0)
    assert counter.queries[0]["IndexName"] == jobs.WAITING_INDEX
    assert positions == {
        **{job_number(n).job_id: n for n in range(1, 9)},
        job_number(9).job_id: None,
        job_number(10).job_id: None,
    }
    # And they agree with the one-job computation a single read makes
    assert all(queue_position(job) == positions[job.job_id] for job in listed)


def test_a_page_without_waiting_jobs_costs_no_queue_query(
    counted: Callable[[], CountingTable],
) -> None:
    jobs.create(job_number(1))
    listed = jobs.list_for_tenant("acme").jobs
    counter = counted()
    assert queue_positions(listed) == {job_number(1).job_id: None}
    assert counter.queries == []
