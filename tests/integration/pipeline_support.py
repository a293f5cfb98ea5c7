"""What the integration tests share besides fixtures: the pipeline stack's parameters, a
wait for a job to end, the probe for published batch events and reads of the semaphore.
A module of its own, so that test modules import it by a name no other conftest.py
shadows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from videojobs_local.local import LocalVideojobs

# Each tenant's API request rate and the stage throttle are exercised by test_api_rate_limits;
# elsewhere they would only refuse fast test clients.
API_LIMITS_OFF = (
    "TenantRequestsPerSecond=10000 TenantRequestBurst=10000 "
    "ApiThrottleRateLimit=10000 ApiThrottleBurstLimit=10000"
)
# Provider-side time runs 100x faster: a 4 s sora-2 video takes about 0.75 s to generate.
PIPELINE_SPEED = 100.0
# Status checks start at the poll interval (FirstStatusCheckSeconds=0, not a clip's normal
# generation time): webhooks wake jobs long before the first one is due (8 s, with room for a
# busy machine), and a test that drops them needs no long wait.
PIPELINE_PARAMETERS = (
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=8 MaxPollIntervalSeconds=8 SlotWaitSeconds=2 "
    "ProviderRetryIntervalSeconds=1 MaxConcurrentJobs=5 ProgressRefreshSeconds=1 "
    # The provider rate limit is exercised by test_limits; elsewhere it would only slow tests.
    f"ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}"
)


def wait_for_job(
    api: httpx.Client,
    job_id: str,
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll GET /v1/videos/{id} until ``until`` holds (default: a terminal status)."""
    done = until or (lambda job: job["status"] in {"completed", "failed", "cancelled"})
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/videos/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.2)


@dataclass
class EventProbe:
    """A queue subscribed to ``batch.completed`` by a rule of the test's own."""

    sqs: Any
    queue_url: str
    seen: list[dict[str, Any]]

    def drain(self) -> list[dict[str, Any]]:
        """Every event received so far (the queue is emptied into ``seen``)."""
        while True:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = resp.get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def for_batch(self, batch_id: str) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e["detail"].get("batch_id") == batch_id]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 0.1 s until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def semaphore_item(service: LocalVideojobs) -> dict[str, Any]:
    """The control table's ``semaphore#jobs`` item as stored (consistent read)."""
    item: dict[str, Any] = (
        service.stack.client("dynamodb")
        .get_item(
            TableName=service.state()["control_table"],
            Key={"pk": {"S": "semaphore#jobs"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return item


def slot_line(service: LocalVideojobs) -> list[str]:
    """The jobs parked in line for a slot (the slot-line table's items), sorted by job id."""
    pages = (
        service.stack.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=service.state()["slot_line_table"],
            KeyConditionExpression="#line = :line",
            ExpressionAttributeNames={"#line": "line"},
            ExpressionAttributeValues={":line": {"S": "jobs"}},
            ConsistentRead=True,
        )
    )
    return sorted(item["job_id"]["S"] for page in pages for item in page.get("Items", []))


def semaphore(service: LocalVideojobs) -> tuple[int, set[str]]:
    """The global concurrency semaphore as stored: slots in use, and their holders."""
    item = semaphore_item(service)
    return int(item.get("in_flight", {}).get("N", "0")), set(item.get("holders", {}).get("SS", []))


def tenant_slots(service: LocalVideojobs) -> dict[str, set[str]]:
    """The semaphore's per-tenant counts as stored: tenant id -> the jobs holding its slots
    (a tenant with none has no entry)."""
    item = semaphore_item(service)
    return {
        name.removeprefix("tenant#"): set(value["SS"])
        for name, value in item.items()
        if name.startswith("tenant#")
    }
