"""Property-based requests generated from the committed OpenAPI document (schemathesis), sent to
the local stack with every check and every phase: the document's examples, its coverage
cases (boundaries, missing and unexpected values, undeclared methods), fuzzing, and stateful
sequences following the document's links (create, then read, remix, download, delete).
Nothing answers 5xx, every answer matches the document, valid data is accepted or refused
as the document says, invalid data is refused, an undeclared method is a 405 with ``Allow``.

Runtime (part of ``make test``, 2 cores): fuzzing draws ``FUZZ_EXAMPLES`` cases per
operation; the coverage phase is deterministic and bounded by the document; the stateful
run is ``STATEFUL_EXAMPLES`` sequences of at most ``STATEFUL_STEPS`` calls. Together about
a minute or two here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pipeline_support import API_LIMITS_OFF
from schemathesis.config import SchemathesisConfig

from videojobs_local.local import LocalVideojobs, run_local

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = 12
STATEFUL_EXAMPLES = 8
STATEFUL_STEPS = 6

# Operations where a request the schema allows can still be refused with a 400, because the
# refusal depends on state or on how fields combine (a remix of an unfinished video, a
# download before completion, an unknown `after` cursor, a model/size pair the model does not
# make, a range of days longer than a year). Each one's 400 response says so in the
# document (tests/unit/test_openapi_drift.py asserts the codes are declared), so
# positive_data_acceptance is told 400 is an expected answer there, and only there.
STATE_DEPENDENT_400 = [
    "createVideo",
    "remixVideo",
    "downloadVideoContent",
    "listVideos",
    "createVideoBatch",
    "retrieveUsage",
]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
        "checks": {"enabled": True},
        "generation": {"max-examples": FUZZ_EXAMPLES},
        "operations": [
            {
                "include-operation-id": STATE_DEPENDENT_400,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_path(str(ROOT / "docs/openapi.json"), config=CONFIG)


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


def _auth(service: LocalVideojobs) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.api_key}"}


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_matches_the_document(
    case: schemathesis.Case, fuzzed_service: LocalVideojobs
) -> None:
    case.call_and_validate(
        base_url=fuzzed_service.api_url.removesuffix("/v1"),
        headers=_auth(fuzzed_service),
        timeout=30,
    )


def test_sequences_that_follow_the_documents_links_hold_every_check(
    fuzzed_service: LocalVideojobs,
) -> None:
    # Given the document's links (a created video's id feeds its read, download, remix and
    # delete; a batch's id its read) and the running stack
    schema.config.update(
        base_url=fuzzed_service.api_url.removesuffix("/v1"), headers=_auth(fuzzed_service)
    )
    workflow = schema.as_state_machine()

    # When random sequences of linked calls run, every answer passes every check
    workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
