"""The whole service on this machine: the real template and state machine on moto, the
emulator as provider. One stack per test module (a process runs one stack at a time)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from pipeline_support import PIPELINE_PARAMETERS, PIPELINE_SPEED, EventProbe

from videojobs.adapters import aws
from videojobs.settings import get_settings
from videojobs_local.local import LocalVideojobs, run_local


@pytest.fixture(scope="module")
def running_service(
    request: pytest.FixtureRequest, render_cache_dir: Path
) -> Iterator[LocalVideojobs]:
    """The module's stack: deployed with PIPELINE_PARAMETERS, or the module's own
    ``STACK_PARAMETERS`` when it sets them."""
    with run_local(
        emulator_speed=PIPELINE_SPEED,
        parameter_overrides=getattr(request.module, "STACK_PARAMETERS", PIPELINE_PARAMETERS),
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@pytest.fixture
def service(running_service: LocalVideojobs) -> Iterator[LocalVideojobs]:
    """The module's stack with the provider's faults and counters cleared for this test."""
    running_service.emulator.reset()
    running_service.emulator.update_config(speed=PIPELINE_SPEED)
    yield running_service
    running_service.emulator.reset()


@pytest.fixture
def api(service: LocalVideojobs) -> Iterator[httpx.Client]:
    """An HTTP client for /v1 with the seeded tenant's key."""
    with httpx.Client(
        base_url=service.api_url,
        headers={"Authorization": f"Bearer {service.api_key}"},
        timeout=30.0,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def fx() -> Iterator[ModuleType]:
    """``stack_fixtures.handlers``: the handlers that the local-stack tests' own templates
    name, importable as those templates' ``Handler`` values say."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).parent))
        yield importlib.import_module("stack_fixtures.handlers")


@pytest.fixture(scope="module")
def batch_events(running_service: LocalVideojobs) -> Iterator[EventProbe]:
    """``batch.completed`` events, through a rule of the test's own on the service's bus to a
    queue."""
    sqs = running_service.stack.client("sqs")
    events = running_service.stack.client("events")
    bus = running_service.state()["event_bus"]
    queue_url = sqs.create_queue(QueueName="test-batch-completed")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = "test-batch-completed"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["videojobs"], "detail-type": ["batch.completed"]}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "probe", "Arn": queue_arn}])
    yield EventProbe(sqs, queue_url, [])
    events.remove_targets(Rule=rule, EventBusName=bus, Ids=["probe"])
    events.delete_rule(Name=rule, EventBusName=bus)
    sqs.delete_queue(QueueUrl=queue_url)


@pytest.fixture
def in_process(service: LocalVideojobs) -> Iterator[None]:
    """Calls from the test itself reach the stack's tables and bucket, as the handlers do."""
    get_settings.cache_clear()
    aws.reset_clients()
    yield
    get_settings.cache_clear()
    aws.reset_clients()
