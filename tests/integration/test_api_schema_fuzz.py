"""Property-based requests generated from the committed OpenAPI document (schemathesis),
sent to the local stack: nothing answers 5xx, and every answer matches the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pipeline_support import API_LIMITS_OFF
from schemathesis import checks

from videojobs_local.local import LocalVideojobs, run_local

ROOT = Path(__file__).resolve().parents[2]
schema = schemathesis.openapi.from_path(str(ROOT / "docs/openapi.json"))

# Behaviour we want that these two checks would call failures: a well-formed but unknown
# cursor, a remix of an unfinished video or a model/size pair the provider can't render are
# refused with 400 (positive_data_acceptance); a method with no route is answered by API
# Gateway itself (unsupported_method).
EXCLUDED = [checks.positive_data_acceptance, checks.unsupported_method]


@pytest.fixture(scope="module")
def fuzzed_service(render_cache_dir: Path) -> Iterator[LocalVideojobs]:
    with run_local(
        emulator_speed=200.0,
        parameter_overrides=(
            "FirstStatusCheckSeconds=0 PollIntervalSeconds=2 SlotWaitSeconds=2 MaxConcurrentJobs=5 "
            f"ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}"
        ),
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_matches_the_document(
    case: schemathesis.Case, fuzzed_service: LocalVideojobs
) -> None:
    root = fuzzed_service.api_url.removesuffix("/v1")
    case.call_and_validate(
        base_url=root,
        headers={"Authorization": f"Bearer {fuzzed_service.api_key}"},
        excluded_checks=EXCLUDED,
        timeout=30,
    )
