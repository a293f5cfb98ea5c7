"""Costs and budgets through the whole local stack: concurrent submits racing for the last
dollar never overspend, a refused submit is OpenAI's 429 ``insufficient_quota`` and creates
nothing, refunds on failure and cancel are exact, and usage adds up to the jobs' costs."""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_support import PIPELINE_SPEED, wait_for_job

from videojobs_local.cli import main
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

CHEAP = {"model": "sora-2", "seconds": "4", "size": "720x1280"}  # $0.40


@pytest.fixture(scope="module")
def state_file(running_service: LocalVideojobs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file `videojobs local up` would write for this stack."""
    path = tmp_path_factory.mktemp("budgets") / "stack.json"
    path.write_text(json.dumps(running_service.state()))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    api_key: str
    api: httpx.Client

    def client(self) -> httpx.Client:
        """Another client of the same tenant (one per thread)."""
        return httpx.Client(
            base_url=self.api.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=60,
        )


@pytest.fixture
def tenant(service: LocalVideojobs) -> Iterator[Tenant]:
    """A tenant of its own, so each test starts with untouched budgets."""
    tenant_id = f"budget-{secrets.token_hex(4)}"
    api_key = service.create_tenant_key(tenant_id)
    with httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60.0
    ) as client:
        yield Tenant(tenant_id, api_key, client)


def set_budget(
    capsys: pytest.CaptureFixture[str], state_file: Path, tenant_id: str, *options: str
) -> dict[str, Any]:
    code, out, err = cli(
        capsys,
        "tenants",
        "budget",
        "--tenant",
        tenant_id,
        *options,
        "--state-file",
        str(state_file),
    )
    assert code == 0, err
    # The stack's handlers share this process's stdout (metrics lines): the CLI's document is
    # the last, pretty-printed one.
    shown: dict[str, Any] = json.loads(out[out.rfind("{\n") :])
    return shown


def usage(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get("/usage", params=params)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def budgets_once_settled(api: httpx.Client, timeout: float = 15.0) -> dict[str, Any]:
    """The tenant's budgets once no job holds a reservation any more.

    A job shows its final cost from the moment it ends; its ledger entry follows a moment
    later, in the same step that ended it.
    """
    deadline = time.monotonic() + timeout
    while True:
        budgets: dict[str, Any] = usage(api)["budgets"]
        if all(b["reserved_usd"] == 0 for b in budgets.values()):
            return budgets
        if time.monotonic() > deadline:
            raise AssertionError(f"reservations still held after {timeout} s: {budgets}")
        time.sleep(0.2)


def all_jobs(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/videos", params={"limit": 100})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_concurrent_submits_racing_for_the_last_dollar_never_overspend(
    service: LocalVideojobs,
    tenant: Tenant,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant with a $2.10 daily budget (set with the CLI), and $0.40 videos
    shown = set_budget(capsys, state_file, tenant.tenant_id, "--daily", "2.10")
    assert shown["daily_budget_usd"] == 2.1 and shown["monthly_budget_usd"] is None
    assert set_budget(capsys, state_file, tenant.tenant_id) == shown  # no option: shows them
    submits = 12
    start = threading.Barrier(submits)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        with tenant.client() as client:
            start.wait()
            response = client.post("/videos", json={"prompt": f"racer {n}", **CHEAP})
        with lock:
            answers.append(response)

    # When twelve submits arrive at the same moment
    threads = [threading.Thread(target=submit, args=(n,)) for n in range(submits)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then exactly floor(2.10 / 0.40) = 5 were accepted; the others are 429s naming the budget
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 5 + [429] * 7, [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 429)
    body = refused.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == "insufficient_quota"
    assert body["error"]["code"] == "insufficient_quota"
    assert body["error"]["param"] is None
    assert "daily budget" in body["error"]["message"]
    assert "$0.40" in body["error"]["message"] and "$2.10" in body["error"]["message"]
    assert refused.headers["x-should-retry"] == "false"
    # And only the accepted jobs exist, each showing its estimate
    accepted = {r.json()["id"] for r in answers if r.status_code == 200}
    assert {job["id"] for job in all_jobs(tenant.api)} == accepted
    assert all(
        r.json()["cost"] == {"estimated_usd": 0.4, "settled_usd": None}
        for r in answers
        if r.status_code == 200
    )
    # And once they have completed, $2.00 is spent, nothing is reserved and $0.10 is left
    for job_id in accepted:
        done = wait_for_job(tenant.api, job_id)
        assert done["status"] == "completed", done
        assert done["cost"] == {"estimated_usd": 0.4, "settled_usd": 0.4}
    daily = budgets_once_settled(tenant.api)["daily"]
    assert daily["limit_usd"] == 2.1
    assert (daily["spent_usd"], daily["reserved_usd"], daily["remaining_usd"]) == (2.0, 0.0, 0.1)


def provider_posts(service: LocalVideojobs) -> int:
    """POST requests the provider has seen (creates, remixes, moderations)."""
    return sum(1 for request in service.emulator.requests() if request["method"] == "POST")


def test_a_refused_submit_creates_nothing_and_its_idempotency_key_stays_usable(
    service: LocalVideojobs,
    tenant: Tenant,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant whose monthly budget is below the price of one video
    set_budget(capsys, state_file, tenant.tenant_id, "--monthly", "0.39")
    posts_before = provider_posts(service)

    # When it submits a $0.40 video with an Idempotency-Key
    key = {"Idempotency-Key": f"refused-{secrets.token_hex(4)}"}
    refused = tenant.api.post("/videos", json={"prompt": "one too many", **CHEAP}, headers=key)

    # Then it is a 429 naming the monthly budget; no job, no provider call
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert "monthly budget" in refused.json()["error"]["message"]
    assert all_jobs(tenant.api) == []
    assert provider_posts(service) == posts_before
    assert usage(tenant.api)["totals"]["jobs"] == 0

    # When the budget is lifted and the same request is sent again with the same key
    lifted = set_budget(capsys, state_file, tenant.tenant_id, "--monthly", "none")
    assert lifted["monthly_budget_usd"] is None
    accepted = tenant.api.post("/videos", json={"prompt": "one too many", **CHEAP}, headers=key)

    # Then it is created: the refusal did not use up the key
    assert accepted.status_code == 200, accepted.text
    assert wait_for_job(tenant.api, accepted.json()["id"])["status"] == "completed"


def tenant_batches(service: LocalVideojobs, tenant_id: str) -> list[str]:
    """Ids of the tenant's stored batches, read from the table itself."""
    ddb = service.stack.client("dynamodb")
    items = ddb.scan(TableName=service.state()["batches_table"])["Items"]
    return [i["batch_id"]["S"] for i in items if i["tenant_id"]["S"] == tenant_id]


def committed_usd(budgets: dict[str, Any]) -> tuple[float, float]:
    """What the daily and monthly ledgers hold, reserved plus spent."""
    daily, monthly = (budgets[name] for name in ("daily", "monthly"))
    return (
        round(daily["reserved_usd"] + daily["spent_usd"], 6),
        round(monthly["reserved_usd"] + monthly["spent_usd"], 6),
    )


def test_a_batch_over_budget_creates_nothing_and_one_that_fits_is_created_once(
    service: LocalVideojobs,
    tenant: Tenant,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant whose daily budget holds two $0.40 videos
    set_budget(capsys, state_file, tenant.tenant_id, "--daily", "0.80")
    ledgers_before = usage(tenant.api)["budgets"]
    posts_before = provider_posts(service)

    # When it submits a batch of three
    refused = tenant.api.post("/video_batches", json={"prompt": "three kites", "n": 3, **CHEAP})

    # Then the whole batch is refused with OpenAI's insufficient_quota, naming the budget
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert error["message"].startswith("This batch of 3 videos would exceed the daily budget")
    assert "$1.20" in error["message"] and "$0.80" in error["message"]
    assert refused.headers["x-should-retry"] == "false"
    # And no batch, no job, no provider call, and the ledgers are as they were
    assert tenant_batches(service, tenant.tenant_id) == []
    assert all_jobs(tenant.api) == []
    assert provider_posts(service) == posts_before
    assert usage(tenant.api)["budgets"] == ledgers_before

    # When it submits a batch of two, which fits exactly, with an Idempotency-Key
    key = {"Idempotency-Key": f"batch-{secrets.token_hex(4)}"}
    body = {"prompt": "two kites", "n": 2, **CHEAP}
    first = tenant.api.post("/video_batches", json=body, headers=key)

    # Then it is created, and its two jobs reserve the whole budget
    assert first.status_code == 200, first.text
    batch = first.json()
    assert (batch["total"], len(batch["job_ids"])) == (2, 2)
    assert committed_usd(usage(tenant.api)["budgets"]) == (0.8, 0.8)

    # When the same request is retried with the same key, the budget now used up
    again = tenant.api.post("/video_batches", json=body, headers=key)

    # Then the answer is the same batch, not a refusal, and nothing more was created or charged
    assert again.status_code == 200, again.text
    assert again.json() == batch
    assert tenant_batches(service, tenant.tenant_id) == [batch["id"]]
    assert sorted(job["id"] for job in all_jobs(tenant.api)) == sorted(batch["job_ids"])
    assert committed_usd(usage(tenant.api)["budgets"]) == (0.8, 0.8)
    for job_id in batch["job_ids"]:
        assert wait_for_job(tenant.api, job_id)["status"] == "completed"
    assert committed_usd(budgets_once_settled(tenant.api)) == (0.8, 0.8)


def test_refunds_on_failure_and_cancel_are_exact(
    service: LocalVideojobs,
    tenant: Tenant,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant with room for exactly three $0.40 videos this month
    set_budget(capsys, state_file, tenant.tenant_id, "--monthly", "1.20")

    # When a video fails at the provider
    failing = tenant.api.post("/videos", json={"prompt": "doomed [[fail]]", **CHEAP}).json()
    failed = wait_for_job(tenant.api, failing["id"])

    # Then it settles at $0 and its reservation is given back
    assert failed["status"] == "failed", failed
    assert failed["cost"] == {"estimated_usd": 0.4, "settled_usd": 0.0}
    monthly = budgets_once_settled(tenant.api)["monthly"]
    assert (monthly["reserved_usd"], monthly["spent_usd"], monthly["remaining_usd"]) == (
        0.0,
        0.0,
        1.2,
    )

    # When a video is cancelled (DELETE) while the provider is still rendering it
    service.emulator.update_config(speed=10.0)
    cancelling = tenant.api.post("/videos", json={"prompt": "changed my mind", **CHEAP}).json()
    wait_for_job(tenant.api, cancelling["id"], until=lambda job: job["status"] == "in_progress")
    deleted = tenant.api.delete(f"/videos/{cancelling['id']}")
    assert deleted.status_code == 200, deleted.text
    service.emulator.update_config(speed=PIPELINE_SPEED)

    # Then the provider bills the video it started: the cancel is spent at its estimate, and
    # the rest of the budget is free, to the micro-dollar
    report = usage(tenant.api)
    assert (report["totals"]["failed"], report["totals"]["cancelled"]) == (1, 1)
    assert report["totals"]["cost_usd"] == 0.4 and report["totals"]["pending_usd"] == 0.0
    monthly = report["budgets"]["monthly"]
    assert (monthly["reserved_usd"], monthly["spent_usd"], monthly["remaining_usd"]) == (
        0.0,
        0.4,
        0.8,
    )
    # ... so exactly two more videos fit, and a third does not
    accepted = [
        tenant.api.post("/videos", json={"prompt": f"refill {n}", **CHEAP}) for n in range(2)
    ]
    assert [r.status_code for r in accepted] == [200, 200], [r.text for r in accepted]
    over = tenant.api.post("/videos", json={"prompt": "refill 3", **CHEAP})
    assert over.status_code == 429, over.text
    for response in accepted:
        wait_for_job(tenant.api, response.json()["id"])


def test_usage_totals_are_the_sum_of_the_jobs_costs(
    service: LocalVideojobs,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given jobs of both models, lengths and sizes, one of which fails (no budgets set)
    bodies = [
        {"prompt": "short", **CHEAP},
        {"prompt": "longer", "model": "sora-2", "seconds": "8", "size": "1280x720"},
        {"prompt": "pro", "model": "sora-2-pro", "seconds": "4", "size": "1792x1024"},
        {"prompt": "broken [[fail]]", **CHEAP},
    ]
    created = [tenant.api.post("/videos", json=body) for body in bodies]
    assert [r.status_code for r in created] == [200] * 4, [r.text for r in created]
    jobs = [wait_for_job(tenant.api, r.json()["id"]) for r in created]
    assert [job["status"] for job in jobs] == ["completed"] * 3 + ["failed"]
    assert [job["cost"]["settled_usd"] for job in jobs] == [0.4, 0.8, 2.0, 0.0]

    # When the tenant asks for its usage (this month so far, by default)
    report = usage(tenant.api)

    # Then the totals are the sum of the jobs' settled costs, and of the per-line figures
    totals = report["totals"]
    assert totals["cost_usd"] == round(sum(job["cost"]["settled_usd"] for job in jobs), 6)
    assert totals["cost_usd"] == 3.2
    assert (totals["jobs"], totals["completed"], totals["failed"]) == (4, 3, 1)
    assert totals["seconds"] == 4 + 8 + 4
    assert totals["pending_usd"] == 0.0
    for field in ("jobs", "completed", "failed", "cancelled", "running", "seconds"):
        assert sum(line[field] for line in report["data"]) == totals[field]
    assert round(sum(line["cost_usd"] for line in report["data"]), 6) == totals["cost_usd"]
    today = datetime.datetime.now(datetime.UTC).date()
    by_model = {line["model"]: line for line in report["data"]}
    assert by_model["sora-2"]["day"] == today.isoformat()
    assert (by_model["sora-2"]["jobs"], by_model["sora-2"]["cost_usd"]) == (3, 1.2)
    assert (by_model["sora-2-pro"]["seconds"], by_model["sora-2-pro"]["cost_usd"]) == (4, 2.0)
    assert (report["start"], report["end"]) == (today.replace(day=1).isoformat(), today.isoformat())

    # And a range that ends before today holds none of them
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    assert usage(tenant.api, start=yesterday, end=yesterday)["totals"]["jobs"] == 0

    # And `videojobs usage` prints the same report for the tenant
    monkeypatch.setenv("VIDEOJOBS_API_URL", service.api_url)
    monkeypatch.setenv("VIDEOJOBS_API_KEY", tenant.api_key)
    code, out, err = cli(capsys, "usage", "--start", today.isoformat())
    assert code == 0, err
    assert json.loads(out)["totals"] == totals


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start": "2025-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "1700000000"}, "start"),
        ({"start": "2025-06-02", "end": "2025-06-01"}, "start"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "end"),
        ({"since": "2025-06-01"}, "since"),
    ],
)
def test_usage_refuses_bad_ranges_with_a_400(
    api: httpx.Client, params: dict[str, str], param: str
) -> None:
    response = api.get("/usage", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_usage_accepts_a_whole_leap_year(api: httpx.Client) -> None:
    # 2024 has 366 days: the longest range allowed
    response = api.get("/usage", params={"start": "2024-01-01", "end": "2024-12-31"})
    assert response.status_code == 200, response.text
    assert response.json()["totals"]["jobs"] == 0


def test_the_budget_cli_refuses_what_is_not_a_budget(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("-1", "ten"):
        with pytest.raises(SystemExit) as exited:
            cli(capsys, "tenants", "budget", "--tenant", "x", "--daily", bad, "--state-file", "s")
        assert exited.value.code == 2
