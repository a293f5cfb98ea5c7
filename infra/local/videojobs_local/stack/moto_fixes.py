"""Small corrections to moto 5.2 where it departs from AWS (Step Functions, DynamoDB).

* StartExecution without a name: AWS generates a UUID; moto names the execution "None",
  so a second unnamed start fails with ExecutionAlreadyExists.
* StopExecution's `error` and `cause` are dropped; AWS reports them on the aborted execution.
* SendTaskFailure's `cause` is dropped; AWS hands it to the waiting state.
* StopExecution during a `.waitForTaskToken` task is not noticed until the task times
  out, and that timeout then turns the aborted execution into FAILED (States.Timeout).
  Stopping now wakes the waiting task, and an aborted or timed-out program keeps its
  status when a task still running afterwards fails.
* DynamoDB conditional writes and transactions are not atomic against concurrent ones (see
  ``_dynamodb_writes``); they are made so by one lock over every write.
* A Choice rule on a path that is absent (``IsPresent: false``) is evaluated correctly, but
  moto logs an ERROR for the missing path on the way; those lines are dropped.

Service limits moto leaves out or counts differently, applied as AWS applies them:

* Step Functions: an execution input over 256 KiB is refused (``ValidationException``);
  ``States.ALL`` does not catch ``States.DataLimitExceeded`` (a task result over 256 KiB,
  which moto does detect) nor ``States.Runtime``: the execution fails, as on AWS.
* EventBridge: a PutEvents request whose entries add up to more than 256 KB is refused
  (``ValidationException``), the size counted as AWS documents it.
* SQS: the message size limit is counted in UTF-8 bytes (moto counts characters).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb.models import DynamoDBBackend
from moto.events.exceptions import ValidationException as EventsValidationException
from moto.events.responses import EventsHandler
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

_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}

# DynamoDB makes each write (and each transaction) atomic; moto checks a condition and then
# writes with nothing in between held, and rolls a cancelled transaction back by restoring a
# copy of whole tables, which would undo other threads' writes made meanwhile. One lock over
# every write makes concurrent conditional writes behave as on AWS.
_dynamodb_writes = threading.RLock()
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _dynamodb_writes:
            return original(self, *args, **kwargs)

    return write


# The logger of moto's ASL components, and what it says when a Choice variable is absent (a
# path missing anywhere else is raised as a FailureEventException and still logged).
_ASL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
_ABSENT_PATH = "Exception=NoSuchJsonPathError"


class _AbsentPathNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _ABSENT_PATH not in record.getMessage()


_absent_path_noise = _AbsentPathNoise()


# Step Functions' quota on an execution's input and on each state's input and output.
MAX_STATE_PAYLOAD_BYTES = 256 * 1024
# EventBridge's quota on the entries of one PutEvents request.
MAX_PUT_EVENTS_BYTES = 256 * 1024


def _start_execution(self: StepFunctionResponse) -> ActionResult:
    arn = self._get_param("stateMachineArn")
    name = self._get_param("name") or str(uuid.uuid4())
    execution_input = self._get_param("input", if_none="{}")
    if len(execution_input.encode("utf-8")) > MAX_STATE_PAYLOAD_BYTES:
        raise StatesValidationException(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_STATE_PAYLOAD_BYTES}"
        )
    execution = self.stepfunction_backend.start_execution(arn, name, execution_input)
    return ActionResult(
        {"executionArn": execution.execution_arn, "startDate": execution.start_date}
    )


def _stop_execution(self: StepFunctionResponse) -> ActionResult:
    result: ActionResult = _originals["stop_execution"](self)
    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    error = self._get_param("error")
    cause = self._get_param("cause")
    if error is not None or cause is not None:
        execution.error = error
        execution.cause = cause
    worker = getattr(execution, "exec_worker", None)
    environment = getattr(worker, "env", None)
    if environment is not None:
        for endpoint in list(environment.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()
    return result


def _set_error(self: Environment, error: Any) -> None:
    if isinstance(self._program_state, ProgramStopped | ProgramTimedOut):
        return
    _originals["Environment.set_error"](self, error)


def _send_task_failure(self: StepFunctionResponse) -> EmptyResult:
    backend = self.stepfunction_backend
    arguments: dict[str, Any] = {"error": self._get_param("error")}
    # Only the executing backend (not the record-keeping one) knows about causes.
    if isinstance(backend, StepFunctionsParserBackend):
        arguments["cause"] = self._get_param("cause")
    backend.send_task_failure(self._get_param("taskToken"), **arguments)
    return EmptyResult()


# States.ALL matches every error name except these two, which only an explicit name catches.
_NOT_CAUGHT_BY_ALL = (
    StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
    StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
)


def _error_equals(self: ErrorEqualsDecl, env: Any) -> None:
    error_name = env.stack[-1]
    if error_name in _NOT_CAUGHT_BY_ALL:
        env.stack.pop()
        env.stack.append(error_name in self.error_names)
        return
    _originals["ErrorEqualsDecl._eval_body"](self, env)


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


def _put_events(self: EventsHandler) -> str:
    entries = self._get_param("Entries") or []
    if sum(_entry_size(entry) for entry in entries) > MAX_PUT_EVENTS_BYTES:
        raise EventsValidationException(
            "Total size of the entries in the request is over the limit."
        )
    result: str = _originals["EventsHandler.put_events"](self)
    return result


def _validate_message(
    self: SQSBackend, queue: Any, message_body: str, *args: Any, **kwargs: Any
) -> None:
    limit = int(queue.maximum_message_size)
    if len(message_body.encode("utf-8")) > limit:
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: "
            f"Message must be shorter than {limit} bytes."
        )
    _originals["SQSBackend._validate_message"](self, queue, message_body, *args, **kwargs)


# Methods of other classes replaced by `install`, by "Class.method".
_CLASS_REPLACEMENTS: dict[str, tuple[type, str, Callable[..., Any]]] = {
    "ErrorEqualsDecl._eval_body": (ErrorEqualsDecl, "_eval_body", _error_equals),
    "EventsHandler.put_events": (EventsHandler, "put_events", _put_events),
    "SQSBackend._validate_message": (SQSBackend, "_validate_message", _validate_message),
}


_REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "start_execution": _start_execution,
    "stop_execution": _stop_execution,
    "send_task_failure": _send_task_failure,
}


def install() -> None:
    """Apply the corrections (idempotent)."""
    with _lock:
        for name, replacement in _REPLACEMENTS.items():
            if name not in _originals:
                _originals[name] = getattr(StepFunctionResponse, name)
                setattr(StepFunctionResponse, name, replacement)
        if "Environment.set_error" not in _originals:
            _originals["Environment.set_error"] = Environment.set_error
            Environment.set_error = _set_error  # type: ignore[method-assign]
        for name in _DYNAMODB_WRITES:
            key = f"DynamoDBBackend.{name}"
            if key not in _originals:
                _originals[key] = getattr(DynamoDBBackend, name)
                setattr(DynamoDBBackend, name, _serialised(_originals[key]))
        for key, (owner, attribute, replacement) in _CLASS_REPLACEMENTS.items():
            if key not in _originals:
                _originals[key] = getattr(owner, attribute)
                setattr(owner, attribute, replacement)
        logging.getLogger(_ASL_LOGGER).addFilter(_absent_path_noise)


def uninstall() -> None:
    """Restore moto's own behaviour."""
    with _lock:
        for name, original in _originals.items():
            if name == "Environment.set_error":
                Environment.set_error = original  # type: ignore[method-assign]
            elif name in _CLASS_REPLACEMENTS:
                owner, attribute, _ = _CLASS_REPLACEMENTS[name]
                setattr(owner, attribute, original)
            elif name.startswith("DynamoDBBackend."):
                setattr(DynamoDBBackend, name.split(".", 1)[1], original)
            else:
                setattr(StepFunctionResponse, name, original)
        _originals.clear()
        logging.getLogger(_ASL_LOGGER).removeFilter(_absent_path_noise)
