"""Fixtures for unit tests: no network, no server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class FakeLambdaContext:
    function_name: str = "videojobs-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:videojobs-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


JOBS_TABLE = "videojobs-jobs-unit"


@pytest.fixture
def jobs_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The jobs table (its key and indexes as template.yaml declares them) on in-process moto."""
    from moto import mock_aws
    from template_tables import create_table

    from videojobs.adapters import aws
    from videojobs.settings import get_settings

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "JOBS_TABLE": JOBS_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    aws.reset_clients()
    with mock_aws():
        create_table("JobsTable", JOBS_TABLE)
        yield JOBS_TABLE
    aws.reset_clients()
    get_settings.cache_clear()


# What template.yaml sets on every function, named as a test's own moto resources may be. The
# functions have no defaults for these: each test runs with all of them set, and a test that
# creates a resource sets the variable to that resource's name.
RESOURCE_NAMES = {
    "JOBS_TABLE": "videojobs-jobs",
    "CONTROL_TABLE": "videojobs-control",
    "SLOT_LINE_TABLE": "videojobs-slot-line",
    "API_KEYS_TABLE": "videojobs-api-keys",
    "TENANTS_TABLE": "videojobs-tenants",
    "BATCHES_TABLE": "videojobs-batches",
    "IDEMPOTENCY_TABLE": "videojobs-idempotency",
    "CALLBACKS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/videojobs-callbacks",
    "ASSETS_BUCKET": "videojobs-assets",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:videojobs-video-job",
    "EVENT_BUS_NAME": "default",
    "PROVIDER_API_KEY_SECRET_ID": "videojobs/provider-api-key",
    "PROVIDER_WEBHOOK_SECRET_ID": "videojobs/provider-webhook",
}


@pytest.fixture(autouse=True)
def resource_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every resource-naming setting the functions read is set, as in a deployed function."""
    from videojobs.settings import get_settings

    for name, value in RESOURCE_NAMES.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def provider_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An OpenAI Videos provider is configured, so the sora-2 models are served (a deployment
    without one serves Bedrock models only); tests that need otherwise set their own."""
    from videojobs.settings import get_settings

    monkeypatch.setenv("PROVIDER_BASE_URL", "https://provider.invalid/v1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
