"""Corrections to moto 5.2 where it departs from AWS, each a small named patch.

Every function in `PATCHES` replaces one moto method (keeping the one it replaces, so
`uninstall` restores it), says which moto behaviour it corrects, and names the test that
fails without it. They are candidates for upstream moto fixes; where an upstream issue
exists it is named. `install` applies them all, in order, once.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb.models import DynamoDBBackend
from moto.events.exceptions import InvalidEventPatternException
from moto.events.exceptions import ValidationException as EventsValidationException
from moto.events.models import UNDEFINED, EventPattern, EventPatternParser, Rule
from moto.events.responses import EventsHandler
from moto.events.utils import _BASE_EVENT_MESSAGE
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.models import SQSBackend
from moto.stepfunctions.exceptions import ValidationException as StatesValidationException
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

logger = logging.getLogger(__name__)

# Step Functions' quota on an execution's input and on each state's input and output.
MAX_STATE_PAYLOAD_BYTES = 256 * 1024
# EventBridge's quota on the entries of one PutEvents request.
MAX_PUT_EVENTS_BYTES = 256 * 1024

_lock = threading.Lock()
# What each installed patch replaced, in installation order: (owner, attribute, previous).
_replaced: list[tuple[type, str, Any]] = []


def _replace(owner: type, attribute: str, make: Callable[[Any], Any]) -> None:
    """Set ``owner.attribute`` to ``make(previous)``, remembering the previous value."""
    previous = owner.__dict__[attribute]
    _replaced.append((owner, attribute, previous))
    setattr(owner, attribute, make(getattr(owner, attribute)))


# ------------------------------------------------------------------ Step Functions


def unnamed_executions_get_a_uuid() -> None:
    """StartExecution without a name: AWS names the execution with a UUID; moto names it
    "None", so a second unnamed start fails with ExecutionAlreadyExists.

    Test: test_local_stack_sfn.py::test_start_execution_without_a_name_gets_a_unique_one.
    """

    def start_execution(self: StepFunctionResponse) -> ActionResult:
        execution = self.stepfunction_backend.start_execution(
            self._get_param("stateMachineArn"),
            self._get_param("name") or str(uuid.uuid4()),
            self._get_param("input", if_none="{}"),
        )
        return ActionResult(
            {"executionArn": execution.execution_arn, "startDate": execution.start_date}
        )

    _replace(StepFunctionResponse, "start_execution", lambda previous: start_execution)


def execution_input_over_256_kib_is_refused() -> None:
    """StartExecution with an input over 256 KiB: AWS refuses it (ValidationException);
    moto starts the execution.

    Test: test_local_stack_limits.py::test_an_execution_input_over_256_kib_is_refused.
    """

    def make(previous: Callable[[StepFunctionResponse], ActionResult]) -> Any:
        def start_execution(self: StepFunctionResponse) -> ActionResult:
            execution_input = self._get_param("input", if_none="{}")
            if len(execution_input.encode("utf-8")) > MAX_STATE_PAYLOAD_BYTES:
                raise StatesValidationException(
                    "1 validation error detected: Value at 'input' failed to satisfy "
                    "constraint: Member must have length less than or equal to "
                    f"{MAX_STATE_PAYLOAD_BYTES}"
                )
            return previous(self)

        return start_execution

    _replace(StepFunctionResponse, "start_execution", make)


def stop_execution_keeps_error_and_cause_and_wakes_task_tokens() -> None:
    """StopExecution: moto drops `error` and `cause` (AWS reports them on the aborted
    execution), and does not notice the stop during a `.waitForTaskToken` task until the
    task times out. Stopping now wakes the waiting task.

    Test: test_local_stack_sfn.py::test_stop_execution_aborts_with_error_and_cause.
    """

    def make(previous: Callable[[StepFunctionResponse], ActionResult]) -> Any:
        def stop_execution(self: StepFunctionResponse) -> ActionResult:
            result = previous(self)
            execution = self.stepfunction_backend.describe_execution(
                self._get_param("executionArn")
            )
            error, cause = self._get_param("error"), self._get_param("cause")
            if error is not None or cause is not None:
                execution.error, execution.cause = error, cause
            environment = getattr(getattr(execution, "exec_worker", None), "env", None)
            if environment is not None:
                for endpoint in list(environment.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()
            return result

        return stop_execution

    _replace(StepFunctionResponse, "stop_execution", make)


def stopped_execution_keeps_its_status() -> None:
    """An execution stopped (or timed out) while a task still runs: when that task then
    fails, moto turns the execution FAILED; AWS keeps it ABORTED (or TIMED_OUT).

    Test: test_local_stack_sfn.py::test_stop_execution_aborts_with_error_and_cause.
    """

    def make(previous: Callable[[Environment, Any], None]) -> Any:
        def set_error(self: Environment, error: Any) -> None:
            if not isinstance(self._program_state, ProgramStopped | ProgramTimedOut):
                previous(self, error)

        return set_error

    _replace(Environment, "set_error", make)


def send_task_failure_keeps_its_cause() -> None:
    """SendTaskFailure: moto drops `cause`; AWS hands it to the waiting state's Catch.

    Test: test_local_stack_sfn.py::test_send_task_failure_is_caught_with_its_cause.
    """

    def send_task_failure(self: StepFunctionResponse) -> EmptyResult:
        backend = self.stepfunction_backend
        arguments: dict[str, Any] = {"error": self._get_param("error")}
        # Only the executing backend (not the record-keeping one) takes a cause.
        if isinstance(backend, StepFunctionsParserBackend):
            arguments["cause"] = self._get_param("cause")
        backend.send_task_failure(self._get_param("taskToken"), **arguments)
        return EmptyResult()

    _replace(StepFunctionResponse, "send_task_failure", lambda previous: send_task_failure)


# States.ALL matches every error name except these two, which only an explicit name catches.
_NOT_CAUGHT_BY_ALL = (
    StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
    StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
)


def states_all_does_not_catch_data_limit_or_runtime() -> None:
    """A Catch on `States.ALL`: AWS does not catch `States.DataLimitExceeded` (a result
    over 256 KiB) nor `States.Runtime` with it, so the execution fails; moto catches them.

    Test: test_local_stack_limits.py::test_a_task_result_over_256_kib_fails_the_execution_uncaught.
    """

    def make(previous: Callable[[ErrorEqualsDecl, Any], None]) -> Any:
        def eval_body(self: ErrorEqualsDecl, env: Any) -> None:
            error_name = env.stack[-1]
            if error_name in _NOT_CAUGHT_BY_ALL:
                env.stack.pop()
                env.stack.append(error_name in self.error_names)
                return
            previous(self, env)

        return eval_body

    _replace(ErrorEqualsDecl, "_eval_body", make)


# The logger of moto's ASL components, and what it says when a Choice variable is absent (a
# path missing anywhere else is raised as a FailureEventException and still logged).
_ASL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
_ABSENT_PATH = "Exception=NoSuchJsonPathError"


class _AbsentPathNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _ABSENT_PATH not in record.getMessage()


_absent_path_noise = _AbsentPathNoise()


def quiet_absent_choice_paths() -> None:
    """A Choice rule on an absent path (`IsPresent: false`) is evaluated correctly, but
    moto logs an ERROR for the missing path on the way (AWS logs nothing); those lines go.

    Test: test_handlers_with_sample_events.py (no NoSuchJsonPathError record).
    """
    logging.getLogger(_ASL_LOGGER).addFilter(_absent_path_noise)


# ------------------------------------------------------------------------ DynamoDB

# One lock over every write: DynamoDB makes each write (and each transaction) atomic.
_dynamodb_writes = threading.RLock()


def dynamodb_writes_are_atomic() -> None:
    """Conditional writes and transactions: moto checks a condition and then writes with
    nothing held in between, and rolls a cancelled transaction back by restoring whole
    tables (undoing other threads' writes); DynamoDB makes each atomic. One lock over every
    write makes concurrent conditional writes behave as on AWS.

    Test: tests/unit/test_rate_limit.py (concurrent takes never overdraw a bucket).
    """

    def make(previous: Callable[..., Any]) -> Any:
        def write(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
            with _dynamodb_writes:
                return previous(self, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        _replace(DynamoDBBackend, name, make)


def dynamodb_answers_are_snapshots() -> None:
    """Reads and the items writes return: moto hands out the stored item itself and turns it
    into the response later, with nothing held, so a concurrent write to the same item can
    change it mid-way (a large item: "dictionary changed size during iteration", a 500);
    DynamoDB answers with the item as it was at one moment. Each answer is copied under the
    write lock.

    Test: tests/unit/test_moto_fixes.py::test_a_dynamodb_answer_is_a_copy_of_the_stored_item.
    """

    def make(previous: Callable[..., Any]) -> Any:
        def snapshot(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
            with _dynamodb_writes:
                return copy.deepcopy(previous(self, *args, **kwargs))

        return snapshot

    for name in ("get_item", "query", "scan", "put_item", "update_item", "delete_item"):
        _replace(DynamoDBBackend, name, make)


# ----------------------------------------------------------------------------- SQS


def sqs_message_size_in_bytes() -> None:
    """SendMessage: SQS counts the body against the queue's MaximumMessageSize in UTF-8
    bytes; moto counts characters. (Related upstream: getmoto/moto#450, #9682.)

    Test: test_local_stack_limits.py::test_an_sqs_message_over_the_queue_limit_in_bytes_is_refused.
    """

    def make(previous: Callable[..., None]) -> Any:
        def validate_message(
            self: SQSBackend, queue: Any, message_body: str, *args: Any, **kwargs: Any
        ) -> None:
            limit = int(queue.maximum_message_size)
            if len(message_body.encode("utf-8")) > limit:
                raise InvalidParameterValue(
                    "One or more parameters are invalid. Reason: "
                    f"Message must be shorter than {limit} bytes."
                )
            previous(self, queue, message_body, *args, **kwargs)

        return validate_message

    _replace(SQSBackend, "_validate_message", make)


# ---------------------------------------------------------------------- EventBridge


def _entry_size(entry: dict[str, Any]) -> int:
    # How EventBridge sizes a PutEvents entry (the user guide's "Calculating PutEvents
    # event entry size").
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        if entry.get(key) is not None:
            size += len(str(entry[key]).encode("utf-8"))
    for resource in entry.get("Resources") or []:
        size += len(str(resource).encode("utf-8"))
    return size


def put_events_over_256_kb_is_refused() -> None:
    """PutEvents whose entries add up to more than 256 KB: AWS refuses the request
    (ValidationException); moto accepts it.

    Test: test_local_stack_limits.py::test_put_events_over_256_kb_is_refused.
    """

    def make(previous: Callable[[EventsHandler], str]) -> Any:
        def put_events(self: EventsHandler) -> str:
            entries = self._get_param("Entries") or []
            if sum(_entry_size(entry) for entry in entries) > MAX_PUT_EVENTS_BYTES:
                raise EventsValidationException(
                    "Total size of the entries in the request is over the limit."
                )
            return previous(self)

        return put_events

    _replace(EventsHandler, "put_events", make)


def only_enabled_pattern_rules_get_events() -> None:
    """Rule delivery: moto feeds every event to disabled rules and to schedule rules (whose
    empty pattern it treats as "match all"); EventBridge feeds neither.

    Test: test_local_stack_events.py::test_disabled_and_schedule_rules_get_no_events.
    """

    def make(previous: Callable[..., None]) -> Any:
        def send_to_targets(self: Rule, event: Any, transform_input: bool = True) -> None:
            if self.state == "ENABLED" and self.event_pattern.get_pattern():
                previous(self, event, transform_input)

        return send_to_targets

    _replace(Rule, "send_to_targets", make)


def s3_events_as_s3_sends_them() -> None:
    """S3 -> EventBridge events: moto gives every event the same id (consumers deduplicate
    on it), spells the object's ETag `eTag` and gives an unversioned bucket's object a
    `version-id` of "null"; S3 sends a fresh id, `etag`, and a version id only where there
    are versions. Corrected in place, so all rules see one event with one id.

    Test: test_local_stack_events.py::test_s3_events_describe_the_object_as_s3_does and
    ::test_s3_intake_flow_with_partial_batch_failures.
    """

    def make(previous: Callable[..., None]) -> Any:
        def send_to_targets(self: Rule, event: Any, transform_input: bool = True) -> None:
            if event.get("source") == "aws.s3":
                if event.get("id") == _BASE_EVENT_MESSAGE["id"]:
                    event["id"] = str(uuid.uuid4())
                detail = event.get("detail")
                obj = detail.get("object") if isinstance(detail, dict) else None
                if isinstance(obj, dict):
                    if "eTag" in obj:
                        obj["etag"] = obj.pop("eTag")
                    if obj.get("version-id") in (None, "null"):
                        obj.pop("version-id", None)
            previous(self, event, transform_input)

        return send_to_targets

    _replace(Rule, "send_to_targets", make)


# Every filter EventBridge accepts in a pattern.
_PATTERN_FILTERS = frozenset(
    {
        "prefix",
        "suffix",
        "equals-ignore-case",
        "wildcard",
        "anything-but",
        "exists",
        "numeric",
        "cidr",
    }
)
_NUMERIC_OPERATORS = frozenset({"<", "<=", "=", ">", ">="})


def _check_filter(name: str, rule: dict[str, Any]) -> None:
    if len(rule) != 1:
        raise InvalidEventPatternException(reason=f"a filter on {name} has one operator")
    ((operator, argument),) = rule.items()
    if operator not in _PATTERN_FILTERS:
        raise InvalidEventPatternException(reason=f"Unrecognized match type {operator}")
    if operator == "numeric":
        pairs = argument if isinstance(argument, list) else []
        if not pairs or len(pairs) % 2 or any(op not in _NUMERIC_OPERATORS for op in pairs[::2]):
            raise InvalidEventPatternException(reason=f"Malformed numeric filter on {name}")


def event_patterns_with_unknown_filters_are_refused() -> None:
    """PutRule with a pattern filter EventBridge does not know (`{"regex": ...}`, a typo)
    or a malformed `numeric` filter: AWS refuses the rule (InvalidEventPatternException);
    moto accepts it and then matches every event on that field.

    Test: test_local_stack_patterns.py::test_unsupported_or_malformed_patterns_are_refused.
    """

    def make(previous: Callable[[EventPatternParser, dict[str, Any]], None]) -> Any:
        def validate(self: EventPatternParser, pattern: dict[str, Any]) -> None:
            previous(self, pattern)
            for name, value in pattern.items():
                for item in value if isinstance(value, list) else []:
                    if not isinstance(item, dict):
                        continue
                    if name == "$or":
                        self._validate_event_pattern(item)
                    else:
                        _check_filter(name, item)

        return validate

    _replace(EventPatternParser, "_validate_event_pattern", make)


def _same_value(expected: Any, actual: Any) -> bool:
    # JSON true is not the number 1 (Python says True == 1).
    return isinstance(expected, bool) == isinstance(actual, bool) and bool(expected == actual)


def event_pattern_values_match_by_json_type() -> None:
    """An exact value in a pattern: EventBridge matches `[1]` against the number 1 only;
    moto compares with Python's ``==``, so `[1]` also matches `true` (and `[true]` 1).

    Test: test_local_stack_patterns.py::test_event_patterns (the `flag` cases).
    """

    def make(previous: Callable[[EventPattern, Any, list[Any]], bool]) -> Any:
        def match(self: EventPattern, item: Any, filters: list[Any]) -> bool:
            values = item if isinstance(item, list) else [item]
            if item is not UNDEFINED and any(
                _same_value(f, v) for f in filters if not isinstance(f, dict) for v in values
            ):
                return True
            named = [f for f in filters if isinstance(f, dict)]
            return bool(named) and previous(self, item, named)

        return match

    _replace(EventPattern, "_does_item_match_filters", make)


PATCHES: tuple[Callable[[], None], ...] = (
    unnamed_executions_get_a_uuid,
    execution_input_over_256_kib_is_refused,
    stop_execution_keeps_error_and_cause_and_wakes_task_tokens,
    stopped_execution_keeps_its_status,
    send_task_failure_keeps_its_cause,
    states_all_does_not_catch_data_limit_or_runtime,
    quiet_absent_choice_paths,
    dynamodb_writes_are_atomic,
    dynamodb_answers_are_snapshots,
    sqs_message_size_in_bytes,
    put_events_over_256_kb_is_refused,
    only_enabled_pattern_rules_get_events,
    s3_events_as_s3_sends_them,
    event_patterns_with_unknown_filters_are_refused,
    event_pattern_values_match_by_json_type,
)

_installed = False


def install() -> None:
    """Apply every patch in `PATCHES` (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        for patch in PATCHES:
            patch()
        _installed = True


def uninstall() -> None:
    """Restore moto's own behaviour."""
    global _installed
    with _lock:
        while _replaced:
            owner, attribute, previous = _replaced.pop()
            setattr(owner, attribute, previous)
        logging.getLogger(_ASL_LOGGER).removeFilter(_absent_path_noise)
        _installed = False
