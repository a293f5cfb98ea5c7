"""A slow or hostile callback receiver cannot stall or dead-letter other tenants' callbacks.

Real loopback servers stand in for receivers: one trickles its answer a byte a second, one
accepts the connection and never answers, one answers at once. The callbacks handler runs with
the real sender; the tables, the queue and the address check are in memory.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from videojobs import standard_webhooks
from videojobs.adapters import callback_sender
from videojobs.adapters.dal.tenants import Tenant
from videojobs.handlers import callbacks as callbacks_handler
from videojobs.logic import callbacks, video_view
from videojobs.models.errors import JobNotFoundError
from videojobs.models.job import CallbackAttempt, Job, JobStatus, VideoRequest
from videojobs.settings import get_settings
from videojobs_local.emulator import WebhookReceiver

T0 = 1_795_000_000
# Short enough to keep the tests quick, long enough for a loopback answer on a busy machine.
ATTEMPT_SECONDS = 5.0


class HostileReceiver:
    """A loopback HTTP server that reads the request, then either trickles an endless header
    one byte per ``interval`` seconds or (``trickle=False``) never answers at all."""

    def __init__(self, *, trickle: bool, interval: float = 1.0) -> None:
        self.trickle = trickle
        self.interval = interval
        self.bytes_sent = 0
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HostileReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                answer = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 10_000
                for byte in answer:
                    if self._stop.wait(self.interval):
                        return
                    if self.trickle:
                        conn.sendall(bytes([byte]))
                        self.bytes_sent += 1
            except OSError:
                return  # the client hung up: what a deadline does


@pytest.fixture
def trickling() -> Iterator[HostileReceiver]:
    with HostileReceiver(trickle=True) as server:
        yield server


@pytest.fixture
def silent() -> Iterator[HostileReceiver]:
    with HostileReceiver(trickle=False) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def test_a_trickling_receiver_is_cut_off_at_the_attempts_deadline(
    trickling: HostileReceiver,
) -> None:
    # Given a receiver that sends its status line and headers one byte a second, for hours

    # When a callback is posted with a 5-second deadline
    result = callback_sender.post(
        trickling.url,
        b"{}",
        {"webhook-id": "evt_1"},
        address="127.0.0.1",
        deadline=time.monotonic() + ATTEMPT_SECONDS,
    )

    # Then the attempt timed out although every single read got a byte in time, and the
    # receiver had sent only a few of its 10 000 header bytes when the connection went away
    assert (result.status_code, result.error, result.delivered) == (None, "timed out", False)
    assert not result.connect_failed
    assert 0 < trickling.bytes_sent < 10


def test_a_receiver_that_never_answers_is_cut_off_at_the_deadline(
    silent: HostileReceiver,
) -> None:
    result = callback_sender.post(
        silent.url,
        b"{}",
        {"webhook-id": "evt_1"},
        address="127.0.0.1",
        deadline=time.monotonic() + ATTEMPT_SECONDS,
    )

    assert (result.status_code, result.error) == (None, "timed out")
    assert silent.connections == 1


# --- the handler, with several tenants in one batch ------------------------------------------


@dataclass
class Context:
    """A Lambda context whose remaining time is read from a list (the last value repeats)."""

    remaining: list[int]
    function_name: str = "videojobs-callbacks"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:videojobs-callbacks"
    aws_request_id: str = "00000000-0000-0000-0000-000000000002"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


@dataclass
class Store:
    """The jobs and tenants tables, the callbacks queue: in memory."""

    jobs: dict[str, Job] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    queued: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    attempts: dict[str, list[CallbackAttempt]] = field(default_factory=dict)

    def get_job(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise JobNotFoundError(job_id)
        return self.jobs[job_id]

    def tenant(self, tenant_id: str) -> Tenant:
        secret = self.secrets.setdefault(tenant_id, standard_webhooks.generate_secret())
        return Tenant(tenant_id=tenant_id, callback_secret=secret.encode(), created_at=T0)

    def add_job(self, tenant_id: str, callback_url: str) -> str:
        job_id = f"video_{len(self.jobs):032x}"
        self.jobs[job_id] = Job(
            job_id=job_id,
            tenant_id=tenant_id,
            status=JobStatus.COMPLETED,
            created_at=T0,
            updated_at=T0,
            completed_at=T0,
            request=VideoRequest(prompt="a lighthouse"),
            callback_url=callback_url,
        )
        return job_id


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    get_settings.cache_clear()
    s = Store()
    monkeypatch.setattr(
        callbacks,
        "jobs",
        SimpleNamespace(
            get=s.get_job,
            record_callback_attempt=lambda job_id, attempt: s.attempts.setdefault(
                job_id, []
            ).append(attempt),
        ),
    )
    monkeypatch.setattr(callbacks, "tenants", SimpleNamespace(get_tenant=s.tenant))
    # KMS: the "ciphertext" here is the secret's bytes.
    monkeypatch.setattr(
        callbacks, "callback_secrets", SimpleNamespace(decrypt=lambda tenant, c: c.decode())
    )
    # Loopback receivers: the address rules are tested elsewhere.
    monkeypatch.setattr(
        callbacks,
        "callback_target",
        SimpleNamespace(resolve_safe_addresses=lambda u: ["127.0.0.1"]),
    )
    monkeypatch.setattr(
        callbacks,
        "callback_queue",
        SimpleNamespace(enqueue=lambda body, delay: s.queued.append((json.loads(body), delay))),
    )
    monkeypatch.setattr(video_view, "assets", SimpleNamespace(presigned_get_url=lambda key: key))
    monkeypatch.setattr(callbacks, "ATTEMPT_SECONDS", ATTEMPT_SECONDS)
    yield s
    get_settings.cache_clear()


def sqs_event(store: Store, job_ids: list[str]) -> dict[str, Any]:
    records = []
    for job_id in job_ids:
        event = {
            "detail-type": "video.completed",
            "source": "videojobs",
            "detail": {"job_id": job_id, "tenant_id": store.jobs[job_id].tenant_id},
        }
        records.append({"messageId": f"msg-{job_id}", "body": json.dumps(event)})
    return {"Records": [{**r, "eventSource": "aws:sqs"} for r in records]}


def test_hostile_receivers_delay_no_other_tenants_callback_and_are_retried_not_dead_lettered(
    store: Store,
    trickling: HostileReceiver,
    silent: HostileReceiver,
    receiver: WebhookReceiver,
) -> None:
    # Given one batch: two tenants with hostile receivers first, then a third tenant's job
    slow = store.add_job("slowco", trickling.url)
    quiet = store.add_job("quietco", silent.url)
    good = store.add_job("acme", receiver.url)

    # When the callbacks function handles the batch
    result = callbacks_handler.handler(sqs_event(store, [slow, quiet, good]), Context([60_000]))

    # Then the third tenant's callback was delivered
    (delivery,) = receiver.received
    assert json.loads(delivery.body)["data"]["id"] == good
    assert store.attempts[good][0].delivered
    # ... no record went back to SQS (none can reach the dead-letter queue)
    assert result == {"batchItemFailures": []}
    # ... and both hostile ones are recorded as timed out, their second attempt scheduled
    for job_id in (slow, quiet):
        (attempt,) = store.attempts[job_id]
        assert (attempt.attempt, attempt.error, attempt.delivered) == (1, "timed out", False)
    follow_ups = {body["subject_id"]: (body["attempt"], delay) for body, delay in store.queued}
    assert follow_ups == {slow: (2, 30), quiet: (2, 30)}


def test_a_tenant_gets_a_bounded_share_of_an_invocation_and_the_rest_is_deferred(
    store: Store, receiver: WebhookReceiver
) -> None:
    # Given a batch of five callbacks of one tenant, then one of another tenant
    busy = [store.add_job("busyco", receiver.url) for _ in range(5)]
    other = store.add_job("acme", receiver.url)

    # When it is handled
    result = callbacks_handler.handler(sqs_event(store, [*busy, other]), Context([60_000]))

    # Then the busy tenant had three attempts, the other tenant's came second (round-robin)
    delivered = [json.loads(d.body)["data"]["id"] for d in receiver.received]
    assert len(delivered) == callbacks.ATTEMPTS_PER_TENANT + 1
    assert delivered[:2] == [busy[0], other]
    # ... and its other two messages went back on the queue unchanged, no attempt counted
    deferred = [body["detail"]["job_id"] for body, _ in store.queued]
    assert deferred == busy[3:]
    assert {delay for _, delay in store.queued} == {callbacks.TENANT_DEFER_SECONDS}
    assert all(job_id not in store.attempts for job_id in busy[3:])
    assert result == {"batchItemFailures": []}


def test_no_attempt_starts_without_time_to_finish_it(
    store: Store, receiver: WebhookReceiver
) -> None:
    # Given two callbacks and an invocation that has time for the first attempt only
    first = store.add_job("acme", receiver.url)
    second = store.add_job("globex", receiver.url)
    enough = int(ATTEMPT_SECONDS * 1000) + callbacks.MARGIN_MS
    context = Context([60_000, enough - 1])

    # When the batch is handled
    result = callbacks_handler.handler(sqs_event(store, [first, second]), context)

    # Then the first was delivered; the second was handed back to SQS untouched, no attempt
    # counted for it, to be tried by a later invocation
    assert [json.loads(d.body)["data"]["id"] for d in receiver.received] == [first]
    assert result == {"batchItemFailures": [{"itemIdentifier": f"msg-{second}"}]}
    assert second not in store.attempts
    assert store.queued == []
