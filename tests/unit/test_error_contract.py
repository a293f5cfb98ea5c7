"""The error names the state machine matches are the classes of ``videojobs.models.errors``.

A Lambda task fails with its exception's class name as the error name, and the state machine's
``Retry``/``Catch`` and RecordFailure's failure table match on that name alone: a class renamed
on one side only would silently turn a retry off or a known failure into ``internal_error``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videojobs.logic import finalize_job
from videojobs.models import errors

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "infra/statemachine").glob("*.asl.json"))

# Errors Step Functions raises itself (States.*), those of its Lambda integration (Lambda.*),
# the Lambda runtime's for a crashed or timed-out function (Runtime.*, Sandbox.*), and those of
# the service integrations the state machine calls directly.
AWS_PREFIXES = ("States.", "Lambda.", "Runtime.", "Sandbox.", "DynamoDB.")
# DynamoDB throttling that outlasts the SDK's own retries, as a step function raises it: the
# error name is the class botocore makes for the service's error code.
AWS_SDK_ERRORS = {"ProvisionedThroughputExceededException", "ThrottlingException"}

ERROR_CLASSES = {
    name
    for name, value in vars(errors).items()
    if inspect.isclass(value) and issubclass(value, errors.VideojobsError)
}


def _definition(path: Path) -> Any:
    # ${Substitutions} stand where numbers and strings go; any number keeps the JSON valid.
    return json.loads(re.sub(r"\$\{\w+\}", "7", path.read_text()))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _error_equals(path: Path) -> set[str]:
    return {name for node in _walk(_definition(path)) for name in node.get("ErrorEquals", [])}


def _errors_set_by_pass_states(path: Path) -> set[str]:
    """Error names the definition makes up itself (a Pass state handing RecordFailure an
    ``{"Error": ..., "Cause": ...}``)."""
    names = set()
    for node in _walk(_definition(path)):
        if node.get("Type") == "Pass":
            error = (node.get("Parameters") or {}).get("Error")
            if isinstance(error, str):
                names.add(error)
    return names


def _custom(names: set[str]) -> set[str]:
    return {
        name for name in names if not name.startswith(AWS_PREFIXES) and name not in AWS_SDK_ERRORS
    }


def test_the_state_machine_definitions_are_found() -> None:
    assert [path.name for path in ASL_FILES] == ["video_job.asl.json"]


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_every_custom_error_equals_name_is_an_error_class(path: Path) -> None:
    custom = _custom(_error_equals(path))

    assert custom, "the state machine retries no error of ours: has the ASL been rewritten?"
    assert sorted(custom - ERROR_CLASSES) == []


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_every_error_a_pass_state_names_is_an_error_class_and_in_the_failure_table(
    path: Path,
) -> None:
    named = _errors_set_by_pass_states(path)

    assert named
    assert sorted(named - ERROR_CLASSES) == []
    assert sorted(named - set(finalize_job._FAILURES)) == []


def test_every_failure_table_key_is_an_error_class_or_a_step_functions_error() -> None:
    custom = _custom(set(finalize_job._FAILURES))

    assert sorted(custom - ERROR_CLASSES) == []
    assert set(finalize_job._FAILURES) - custom == {"States.Timeout"}


def test_a_misspelt_name_is_caught() -> None:
    # The check above is a set difference: make sure it sees a name that is no class.
    assert _custom({"ProviderTransientErorr", "States.ALL", "Lambda.ServiceException"}) == {
        "ProviderTransientErorr"
    }
    assert "ProviderTransientErorr" not in ERROR_CLASSES
    assert {"ProviderTransientError", "ProviderThrottledError"} <= ERROR_CLASSES


def test_the_classes_that_moved_to_the_models_are_still_where_callers_import_them() -> None:
    from videojobs.logic import apply_provider_status, create_job, submit_job
    from videojobs.models.steps import StepOutcome

    assert create_job.WorkflowUnavailableError is errors.WorkflowUnavailableError
    assert submit_job.StepOutcome is StepOutcome
    assert apply_provider_status.StepOutcome is StepOutcome
