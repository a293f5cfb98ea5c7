"""Signed callbacks end to end: a job's event goes EventBridge -> callbacks queue -> callbacks
function -> the caller's URL (a local receiver), signed with the tenant's secret, retried
after failures, and every attempt is recorded on the job."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from pipeline_support import wait_for_job
from standardwebhooks import Webhook

from videojobs import standard_webhooks
from videojobs.adapters import aws, callback_sender
from videojobs.adapters.dal import jobs
from videojobs.logic import callbacks, tenant_admin
from videojobs.models.job import CallbackAttempt
from videojobs.settings import get_settings
from videojobs_local.emulator import WebhookReceiver
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

TENANT = "callbacks-co"
T = TypeVar("T")


@pytest.fixture(scope="module")
def tenant_key(running_service: LocalVideojobs) -> tuple[str, str]:
    """A tenant of its own: its API key and its callback secret."""
    api_key = running_service.create_tenant_key(TENANT)
    return api_key, running_service.tenant_callback_secret(TENANT)


@pytest.fixture
def client(service: LocalVideojobs, tenant_key: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=service.api_url,
        headers={"Authorization": f"Bearer {tenant_key[0]}"},
        timeout=30.0,
    ) as http:
        yield http


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after 1 s, 2 s, ... instead of 30 s, 60 s (handlers run in this process)."""
    monkeypatch.setattr(callbacks, "BACKOFF_BASE_SECONDS", 1)


def eventually(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        time.sleep(0.1)


def recorded_attempts(job_id: str, count: int) -> list[CallbackAttempt]:
    get_settings.cache_clear()
    aws.reset_clients()

    def probe() -> list[CallbackAttempt] | None:
        attempts = jobs.get(job_id).callback_attempts
        return attempts if len(attempts) >= count else None

    return eventually(probe)


def submit(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/videos", json={"seconds": "4", "size": "720x1280", **body})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def verified(delivery: Any, secret: str) -> dict[str, Any]:
    """The event in a delivery, after both verifiers accepted its signature."""
    standard_webhooks.verify(delivery.body, delivery.headers, secret)
    event: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return event


def test_a_completed_job_is_announced_signed_with_the_tenants_secret(
    client: httpx.Client, tenant_key: tuple[str, str], webhook_receiver: WebhookReceiver
) -> None:
    # Given a job submitted with a callback URL
    job = submit(client, prompt="a lighthouse in a storm", callback_url=webhook_receiver.url)

    # When it completes
    assert wait_for_job(client, job["id"])["status"] == "completed"
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then the receiver gets video.completed, signed with the tenant's webhook secret
    event = verified(delivery, tenant_key[1])
    assert event["type"] == "video.completed"
    assert event["object"] == "event"
    assert event["id"] == delivery.headers["webhook-id"]
    assert event["id"].startswith("evt_")
    # ... carrying the Video resource, with a download link that works
    data = event["data"]
    assert (data["id"], data["object"], data["status"]) == (job["id"], "video", "completed")
    assert httpx.get(data["assets"]["video"], timeout=30).status_code == 200
    # ... which is the stored job's view, as GET shows it (links are signed afresh each time)
    shown = client.get(f"/videos/{job['id']}").json()
    assert {k: v for k, v in data.items() if k != "assets"} == {
        k: v for k, v in shown.items() if k != "assets"
    }
    assert set(data["assets"]) == set(shown["assets"]) == {"video", "thumbnail", "spritesheet"}
    # ... and the delivery is recorded on the job
    (attempt,) = recorded_attempts(job["id"], 1)
    assert (attempt.event, attempt.attempt, attempt.status_code, attempt.delivered) == (
        "video.completed",
        1,
        200,
        True,
    )


def test_a_failing_receiver_gets_the_same_event_again_until_it_accepts(
    client: httpx.Client,
    tenant_key: tuple[str, str],
    webhook_receiver: WebhookReceiver,
    fast_retries: None,
) -> None:
    # Given a receiver that answers 500 twice before it accepts
    webhook_receiver.respond_with(500, 500)

    # When a job with that callback URL completes
    job = submit(client, prompt="a kite over dunes", callback_url=webhook_receiver.url)
    wait_for_job(client, job["id"])
    deliveries = webhook_receiver.wait_for(3, timeout=30)

    # Then the same event came three times, each time validly signed
    events = [verified(d, tenant_key[1]) for d in deliveries]
    assert {e["id"] for e in events} == {events[0]["id"]}
    assert {d.headers["webhook-id"] for d in deliveries} == {events[0]["id"]}
    assert [e["type"] for e in events] == ["video.completed"] * 3
    # ... with growing gaps (1 s, then 2 s)
    stamps = [int(d.headers["webhook-timestamp"]) for d in deliveries]
    assert stamps[1] - stamps[0] >= 1 and stamps[2] - stamps[1] >= 2
    # ... and every attempt is on the job
    attempts = recorded_attempts(job["id"], 3)
    assert [(a.attempt, a.status_code, a.delivered) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    # ... while the job itself stayed completed
    assert client.get(f"/videos/{job['id']}").json()["status"] == "completed"


def test_a_failed_job_is_announced_as_video_failed(
    client: httpx.Client, tenant_key: tuple[str, str], webhook_receiver: WebhookReceiver
) -> None:
    # Given a job the provider will fail to generate
    job = submit(client, prompt="a glitch [[fail]]", callback_url=webhook_receiver.url)

    # When it ends
    assert wait_for_job(client, job["id"])["status"] == "failed"
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then the receiver gets video.failed with the job's error
    event = verified(delivery, tenant_key[1])
    assert event["type"] == "video.failed"
    assert event["data"]["id"] == job["id"]
    assert event["data"]["status"] == "failed"
    assert event["data"]["error"]["code"]
    assert recorded_attempts(job["id"], 1)[0].event == "video.failed"


def test_a_job_the_provider_rejects_is_announced_as_video_failed_with_its_reason(
    client: httpx.Client, tenant_key: tuple[str, str], webhook_receiver: WebhookReceiver
) -> None:
    # Given a job whose prompt the provider refuses at submit (content policy)
    job = submit(
        client, prompt="something [[moderation]] unacceptable", callback_url=webhook_receiver.url
    )

    # When it ends
    assert wait_for_job(client, job["id"])["status"] == "failed"
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then video.failed arrives with the provider's code and words
    event = verified(delivery, tenant_key[1])
    assert event["type"] == "video.failed"
    assert event["data"]["error"]["code"] == "moderation_blocked"
    assert "moderation" in event["data"]["error"]["message"].lower()


def test_a_cancelled_job_is_announced_as_video_cancelled(
    service: LocalVideojobs,
    client: httpx.Client,
    tenant_key: tuple[str, str],
    webhook_receiver: WebhookReceiver,
) -> None:
    # Given a running job with a callback URL (the provider slowed down to keep it running)
    service.emulator.update_config(speed=1.0)
    job = submit(client, prompt="a slow sunrise", callback_url=webhook_receiver.url)

    # When the caller deletes it
    assert client.delete(f"/videos/{job['id']}").status_code == 200
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then the receiver gets video.cancelled for it
    event = verified(delivery, tenant_key[1])
    assert event["type"] == "video.cancelled"
    assert (event["data"]["id"], event["data"]["status"]) == (job["id"], "cancelled")


def test_a_finished_batch_is_announced_to_the_batch_callback_url(
    client: httpx.Client, tenant_key: tuple[str, str], webhook_receiver: WebhookReceiver
) -> None:
    # Given a batch of two variations with a callback URL on the batch only
    response = client.post(
        "/video_batches",
        json={
            "prompt": "a paper boat",
            "n": 2,
            "seconds": "4",
            "callback_url": webhook_receiver.url,
        },
    )
    assert response.status_code == 200, response.text
    batch = response.json()

    # When both jobs finish
    for job_id in batch["job_ids"]:
        wait_for_job(client, job_id)
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then batch.completed arrives once, signed, with the batch's counts
    event = verified(delivery, tenant_key[1])
    assert event["type"] == "batch.completed"
    assert event["data"]["id"] == batch["id"]
    assert event["data"]["object"] == "video.batch"
    assert event["data"]["counts"]["completed"] == 2
    assert sorted(event["data"]["job_ids"]) == sorted(batch["job_ids"])
    assert "tenant_id" not in event["data"]
    time.sleep(0.5)
    assert len(webhook_receiver.received) == 1  # the jobs had no callback URL of their own


def test_delivery_connects_to_the_checked_address_and_never_follows_redirects(
    webhook_receiver: WebhookReceiver,
) -> None:
    # Given a URL whose host name cannot resolve, and the receiver's real address
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    url = f"http://callbacks.invalid:{port}/webhooks?token=abc"

    # When a callback is posted pinned to 127.0.0.1
    result = callback_sender.post(url, b"{}", {"webhook-id": "evt_1"}, address="127.0.0.1")

    # Then it reached the receiver, which saw the URL's own host name
    assert result.delivered
    (delivery,) = webhook_receiver.received
    assert delivery.headers["host"] == f"callbacks.invalid:{port}"
    assert delivery.path == "/webhooks?token=abc"

    # When the receiver answers with a redirect
    webhook_receiver.respond_with(302)
    redirected = callback_sender.post(url, b"{}", {}, address="127.0.0.1")

    # Then it is a failed attempt, not followed
    assert (redirected.status_code, redirected.delivered) == (302, False)
    assert len(webhook_receiver.received) == 2

    # When nothing listens at the address
    refused = callback_sender.post(url, b"{}", {}, address="127.0.0.2")
    assert refused.connect_failed and not refused.delivered
    assert "token" not in (refused.error or "")


def test_the_callback_body_is_json_with_the_webhook_headers(
    client: httpx.Client, tenant_key: tuple[str, str], webhook_receiver: WebhookReceiver
) -> None:
    # Given a job with a callback URL
    job = submit(client, prompt="rain on a tin roof", callback_url=webhook_receiver.url)

    # When its callback arrives
    wait_for_job(client, job["id"])
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then it is a JSON POST with exactly one v1 signature and our user agent
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"].startswith("videojobs-callbacks/")
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert " " not in delivery.headers["webhook-signature"]
    assert json.loads(delivery.body)["data"]["id"] == job["id"]


def callbacks_queue_drained(service: LocalVideojobs) -> bool | None:
    sqs = service.stack.client("sqs")
    counts = sqs.get_queue_attributes(
        QueueUrl=service.state()["callbacks_queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return True if all(int(v) == 0 for v in counts.values()) else None


def test_an_event_forged_onto_the_bus_for_a_running_job_sends_no_callback(
    service: LocalVideojobs, client: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    # Given a running job with a callback URL (the provider slowed down to keep it running)
    service.emulator.update_config(speed=1.0)
    job = submit(client, prompt="a slow tide", callback_url=webhook_receiver.url)

    # When someone puts a video.completed event for it on the service's bus
    service.stack.client("events").put_events(
        Entries=[
            {
                "Source": "videojobs",
                "DetailType": "video.completed",
                "Detail": json.dumps(
                    {"job_id": job["id"], "tenant_id": TENANT, "status": "completed"}
                ),
                "EventBusName": service.state()["event_bus"],
            }
        ]
    )
    eventually(lambda: callbacks_queue_drained(service))

    # Then the callbacks function consumed it and sent nothing: the stored job is not completed
    assert webhook_receiver.received == []
    assert client.get(f"/videos/{job['id']}").json()["status"] in {"queued", "in_progress"}
    get_settings.cache_clear()
    aws.reset_clients()
    assert jobs.get(job["id"]).callback_attempts == []
    client.delete(f"/videos/{job['id']}")


def test_a_rotated_secret_signs_alongside_the_old_one_during_the_overlap(
    service: LocalVideojobs,
    client: httpx.Client,
    tenant_key: tuple[str, str],
    webhook_receiver: WebhookReceiver,
    in_process: None,
) -> None:
    # Given the tenant's callback secret rotated with a one-hour overlap
    old = service.tenant_callback_secret(TENANT)
    _, new = tenant_admin.rotate_callback_secret(TENANT, overlap_seconds=3600)
    assert new != old and service.tenant_callback_secret(TENANT) == new

    # When a job with a callback URL completes
    job = submit(client, prompt="a windmill at dusk", callback_url=webhook_receiver.url)
    wait_for_job(client, job["id"])
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then the callback carries two signatures, each accepted by the reference library
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert verified(delivery, old)["data"]["id"] == job["id"]
    assert verified(delivery, new)["data"]["id"] == job["id"]
