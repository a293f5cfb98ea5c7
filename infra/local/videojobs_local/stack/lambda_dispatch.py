"""Run template functions in-process whenever moto's docker-free Lambda is invoked.

moto 5.2's `LambdaSimpleBackend.invoke` (selected by ``{"lambda": {"use_docker": False}}``)
is the single place every Invoke lands: boto3 clients in this process, clients talking to
the moto server, and moto's Step Functions interpreter. Replacing it routes each call to
the handler the template names.

Environment variables are process-global while invocations run concurrently (Step
Functions executions each have a thread). Two layers keep them apart without a lock:

* the union of template variables that no two functions disagree on is written to
  ``os.environ`` once at start, so cached settings objects and threads a handler spawns
  see them;
* for the duration of each call, the function's own variables and the Lambda runtime's
  (``AWS_LAMBDA_FUNCTION_NAME``, ``_HANDLER``, ...) are overlaid through a context
  variable consulted by ``os.environ`` itself, so concurrent calls each read their own.
  The overlay does not reach threads the handler starts or subprocesses.
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import decimal
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend

from .aws_faults import FaultInjector, LambdaFault
from .iam_guard import acting_as
from .iam_policy import Role
from .provision import FunctionSpec

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

# Lambda's payload quotas: 6 MB for a synchronous request or response, 1 MB for an
# asynchronous event. A response is refused past 6 MB; the message AWS gives names the
# limit with its 100 bytes of framing.
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = MAX_SYNC_PAYLOAD_BYTES + 100
MAX_ASYNC_REQUEST_BYTES = 1024 * 1024


class Throttled(LambdaClientError):
    """Invoke's answer when Lambda has no concurrency left for the call (HTTP 429)."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


class RequestTooLarge(LambdaClientError):
    """Invoke's answer to a payload over the quota (HTTP 413)."""

    code = 413

    def __init__(self, message: str) -> None:
        super().__init__("RequestEntityTooLargeException", message)


# ------------------------------------------------------------ environment overlay

_OVERLAY: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "videojobs_local_lambda_environment", default=None
)
_overlay_lock = threading.Lock()
_overlay_users = 0
_BaseEnviron: type = type(os.environ)


class _OverlayEnviron(_BaseEnviron):  # type: ignore[misc]
    """`os.environ` whose reads see the current invocation's variables first."""

    def __getitem__(self, key: str) -> str:
        overlay = _OVERLAY.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return str(super().__getitem__(key))

    def __iter__(self) -> Iterator[str]:
        overlay = _OVERLAY.get()
        seen: set[str] = set()
        for key in super().__iter__():
            seen.add(key)
            yield key
        if overlay is not None:
            yield from (key for key in overlay if key not in seen)

    def __len__(self) -> int:
        if _OVERLAY.get() is None:
            return int(super().__len__())
        return sum(1 for _ in self)


def _install_overlay() -> None:
    global _overlay_users
    with _overlay_lock:
        if _overlay_users == 0:
            os.environ.__class__ = _OverlayEnviron
        _overlay_users += 1


def _uninstall_overlay() -> None:
    global _overlay_users
    with _overlay_lock:
        _overlay_users -= 1
        if _overlay_users == 0:
            os.environ.__class__ = _BaseEnviron


@dataclass(frozen=True)
class EnvironmentPlan:
    """How the functions' variables are split between the process and each call."""

    shared: dict[str, str]
    conflicts: dict[str, dict[str, str]]


def plan_environment(functions: Iterable[FunctionSpec]) -> EnvironmentPlan:
    """Split variables into those safe to set process-wide and those that conflict."""
    values: dict[str, dict[str, str]] = {}
    for function in functions:
        for key, value in function.environment.items():
            values.setdefault(key, {})[function.name] = value
    shared: dict[str, str] = {}
    conflicts: dict[str, dict[str, str]] = {}
    for key, by_function in values.items():
        if len(set(by_function.values())) == 1:
            shared[key] = next(iter(by_function.values()))
        else:
            conflicts[key] = by_function
    return EnvironmentPlan(shared=shared, conflicts=conflicts)


# -------------------------------------------------------------------- context


class LambdaContext:
    """The context object the Python runtime passes to a handler."""

    def __init__(
        self,
        *,
        function: FunctionSpec,
        request_id: str,
        invoked_function_arn: str,
        deadline: float,
        client_context: Any = None,
    ) -> None:
        self.aws_request_id = request_id
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        # The runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string.
        self.memory_limit_in_mb = str(function.memory_size)
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = _log_stream_name()
        self.client_context = client_context
        self.identity = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


def _log_stream_name() -> str:
    today = datetime.datetime.now(tz=datetime.UTC)
    return f"{today:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


# ------------------------------------------------------------------ dispatcher


@dataclass(frozen=True)
class InvocationResult:
    """What Invoke returns: the payload bytes and, on failure, `FunctionError`."""

    payload: bytes
    function_error: str | None
    request_id: str

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class InvocationRecord:
    """One completed in-process invocation, kept for inspection."""

    function_logical_id: str
    request_id: str
    started_at: float
    duration: float
    error_type: str | None


@dataclass
class _Registration:
    function: FunctionSpec
    runtime_environment: dict[str, str] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    # Mirrors the Python runtime's serializer, which only adds Decimal support.
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_payload(
    error_type: str, message: str, request_id: str, stack: list[str] | None = None
) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack or [],
        }
    ).encode()


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return str(value)
    return None


class LambdaDispatcher:
    """Imports and calls template handlers for every Invoke of a registered function."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        enforce_timeouts: bool = True,
        async_workers: int = 4,
        history_size: int = 1000,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.enforce_timeouts = enforce_timeouts
        self._registrations: dict[str, _Registration] = {}
        self._handlers: dict[str, Handler] = {}
        self._handler_lock = threading.Lock()
        self._async_workers = async_workers
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[Any]] = set()
        self._pending_lock = threading.Lock()
        self._running = 0
        self._saved_environment: dict[str, str | None] = {}
        self._started = False
        self.plan = EnvironmentPlan(shared={}, conflicts={})
        # The role each function's AWS calls are checked against, by function name (empty:
        # calls are not checked).
        self.roles: Mapping[str, Role] = {}
        self.history: deque[InvocationRecord] = deque(maxlen=history_size)
        # AWS-side faults for Invoke API calls (see aws_faults); None: none.
        self.faults: FaultInjector | None = None

    # -- lifecycle

    def register(self, functions: Iterable[FunctionSpec]) -> None:
        """Make functions dispatchable; call before `start`."""
        if self._started:
            raise RuntimeError("register functions before starting the dispatcher")
        for function in functions:
            self._registrations[function.name] = _Registration(
                function, self._runtime_environment(function)
            )
        self.plan = plan_environment(r.function for r in self._registrations.values())
        for key, by_function in self.plan.conflicts.items():
            logger.warning(
                "environment variable %s differs between functions %s: each call sees its "
                "own value, but code caching settings across functions sees the first",
                key,
                sorted(by_function),
            )

    def start(self) -> None:
        global _active
        with _active_lock:
            if _active is not None:
                raise RuntimeError("another LambdaDispatcher is already active in this process")
            _active = self
        self._executor = ThreadPoolExecutor(
            max_workers=self._async_workers, thread_name_prefix="lambda-async"
        )
        for key, value in self.plan.shared.items():
            self._saved_environment[key] = os.environ.get(key)
            os.environ[key] = value
        _install_overlay()
        _install_patch()
        self._started = True

    def stop(self) -> None:
        global _active
        if not self._started:
            return
        self._started = False
        with _active_lock:
            if _active is self:
                _active = None
                _uninstall_patch()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        _uninstall_overlay()
        for key, previous in self._saved_environment.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        self._saved_environment.clear()

    # -- lookup

    def lookup(self, name_or_arn: str) -> FunctionSpec | None:
        """The registered function named by a name, an ARN or a partial ARN."""
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) < 7 or parts[3] != self.region or parts[4] != self.account_id:
                return None
            name = parts[6]
        registration = self._registrations.get(name)
        return None if registration is None else registration.function

    @property
    def functions(self) -> list[FunctionSpec]:
        return [registration.function for registration in self._registrations.values()]

    # -- invocation

    def invoke(
        self,
        name_or_arn: str,
        payload: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        *,
        invocation_type: str = "RequestResponse",
        client_context: Any = None,
        qualifier: str | None = None,
        fault: LambdaFault | None = None,
    ) -> InvocationResult:
        """Invoke a registered function in-process, as Lambda's Invoke API would.

        ``fault`` makes this call meet an AWS-side fault (see `aws_faults`).
        """
        function = self.lookup(name_or_arn)
        if function is None:
            raise KeyError(f"no registered function {name_or_arn}")
        if isinstance(payload, Mapping | list):
            body = json.dumps(payload).encode()
        elif isinstance(payload, str):
            body = payload.encode()
        else:
            body = payload or b""
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise LambdaClientError(
                "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from None
        limit = MAX_ASYNC_REQUEST_BYTES if invocation_type == "Event" else MAX_SYNC_PAYLOAD_BYTES
        if len(body) > limit:
            raise RequestTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        invoked_arn = function.arn if qualifier is None else f"{function.arn}:{qualifier}"
        if invocation_type == "DryRun":
            return InvocationResult(b"", None, "")
        if fault == "throttle":
            raise Throttled()
        if invocation_type == "Event":
            request_id = str(uuid.uuid4())
            self._submit(function, event, invoked_arn, client_context, request_id)
            return InvocationResult(b"", None, request_id)
        return self._run(function, event, invoked_arn, client_context, str(uuid.uuid4()), fault)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no invocation is queued or running; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._pending_lock:
                if not self._pending and not self._running:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _submit(
        self,
        function: FunctionSpec,
        event: Any,
        invoked_arn: str,
        client_context: Any,
        request_id: str,
    ) -> None:
        if self._executor is None:
            raise RuntimeError("the dispatcher is not started")
        context = contextvars.Context()
        future = self._executor.submit(
            context.run, self._run_async, function, event, invoked_arn, client_context, request_id
        )
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def _run_async(
        self,
        function: FunctionSpec,
        event: Any,
        invoked_arn: str,
        client_context: Any,
        request_id: str,
    ) -> None:
        result = self._run(function, event, invoked_arn, client_context, request_id)
        if result.function_error:
            # Lambda would retry twice then drop (or send to an on-failure destination).
            logger.warning(
                "asynchronous invocation of %s failed: %s",
                function.logical_id,
                result.payload.decode(errors="replace")[:2000],
            )

    def _run(
        self,
        function: FunctionSpec,
        event: Any,
        invoked_arn: str,
        client_context: Any,
        request_id: str,
        fault: LambdaFault | None = None,
    ) -> InvocationResult:
        started = time.time()
        error_type: str | None = None
        registration = self._registrations[function.name]
        overlay = {**function.environment, **registration.runtime_environment}
        token = _OVERLAY.set(overlay)
        with self._pending_lock:
            self._running += 1
        try:
            logger.debug("START %s RequestId: %s", function.logical_id, request_id)
            if fault == "crash_before":
                error_type = "Runtime.ExitError"
                return _runtime_exit(request_id)
            try:
                handler = self._handler(function)
            except _InitError as exc:
                error_type = exc.error_type
                return InvocationResult(
                    _error_payload(exc.error_type, exc.message, request_id), "Unhandled", request_id
                )
            context = LambdaContext(
                function=function,
                request_id=request_id,
                invoked_function_arn=invoked_arn,
                deadline=started + function.timeout,
                client_context=client_context,
            )
            try:
                with acting_as(self.roles.get(function.name)):
                    result = handler(event, context)
            except Exception as exc:
                error_type = type(exc).__name__
                logger.info(
                    "%s raised %s: %s",
                    function.logical_id,
                    error_type,
                    exc,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                return InvocationResult(
                    _error_payload(error_type, str(exc), request_id, stack), "Unhandled", request_id
                )
            elapsed = time.time() - started
            if fault == "crash_after":
                error_type = "Runtime.ExitError"
                return _runtime_exit(request_id)
            if elapsed > function.timeout or fault == "timeout":
                message = (
                    f"RequestId: {request_id} Error: Task timed out after "
                    f"{function.timeout:.2f} seconds"
                )
                if self.enforce_timeouts or fault == "timeout":
                    error_type = "Sandbox.Timedout"
                    return InvocationResult(
                        _error_payload(error_type, message, request_id), "Unhandled", request_id
                    )
                logger.warning(
                    "%s ran %.2fs, over its %ss Timeout",
                    function.logical_id,
                    elapsed,
                    function.timeout,
                )
            try:
                payload = json.dumps(result, default=_json_default).encode()
            except (TypeError, ValueError) as exc:
                error_type = "Runtime.MarshalError"
                return InvocationResult(
                    _error_payload(error_type, f"Unable to marshal response: {exc}", request_id),
                    "Unhandled",
                    request_id,
                )
            if len(payload) > MAX_SYNC_PAYLOAD_BYTES:
                error_type = "Function.ResponseSizeTooLarge"
                message = (
                    f"Response payload size ({len(payload)} bytes) exceeded maximum allowed "
                    f"payload size ({MAX_RESPONSE_BYTES} bytes)."
                )
                return InvocationResult(
                    _error_payload(error_type, message, request_id), "Unhandled", request_id
                )
            return InvocationResult(payload, None, request_id)
        finally:
            _OVERLAY.reset(token)
            with self._pending_lock:
                self._running -= 1
            self.history.append(
                InvocationRecord(
                    function_logical_id=function.logical_id,
                    request_id=request_id,
                    started_at=started,
                    duration=time.time() - started,
                    error_type=error_type,
                )
            )
            logger.debug("END %s RequestId: %s", function.logical_id, request_id)

    def _runtime_environment(self, function: FunctionSpec) -> dict[str, str]:
        return {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream_name(),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # What `sam local` sets: libraries use it to skip X-Ray and similar.
            "AWS_SAM_LOCAL": "true",
            "_HANDLER": function.handler,
        }

    def _handler(self, function: FunctionSpec) -> Handler:
        with self._handler_lock:
            cached = self._handlers.get(function.handler)
            if cached is not None:
                return cached
            handler = _load_handler(function.handler, function.code_uri)
            self._handlers[function.handler] = handler
            return handler


def _runtime_exit(request_id: str) -> InvocationResult:
    """What Invoke answers when the runtime process dies during a call (killed, out of memory)."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    return InvocationResult(
        _error_payload("Runtime.ExitError", message, request_id), "Unhandled", request_id
    )


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _load_handler(spec: str, code_uri: Path | None) -> Handler:
    module_name, _, attribute = spec.rpartition(".")
    if not module_name:
        raise _InitError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        root = module_name.split(".", 1)[0]
        code_dir = None if code_uri is None else str(code_uri.resolve())
        if exc.name != root or code_dir is None or code_dir in sys.path:
            raise _InitError(
                "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
            ) from exc
        # What Lambda puts on the path is the CodeUri directory.
        logger.info("adding CodeUri %s to sys.path to import %s", code_dir, module_name)
        sys.path.append(code_dir)
        return _load_handler(spec, None)
    except Exception as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return handler  # type: ignore[no-any-return]


# ------------------------------------------------------------------ moto seam

_active: LambdaDispatcher | None = None
_active_lock = threading.Lock()
_original_invoke = LambdaSimpleBackend.invoke


def _dispatching_invoke(
    backend: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    dispatcher = _active
    if dispatcher is None or (backend.account_id, backend.region_name) != (
        dispatcher.account_id,
        dispatcher.region,
    ):
        return _original_invoke(backend, function_name, qualifier, body, headers, response_headers)
    # Unknown functions get moto's own ResourceNotFoundException, as from real Lambda.
    moto_function = backend.get_function(function_name, qualifier)
    function = dispatcher.lookup(moto_function.function_name)
    if function is None:
        return _original_invoke(backend, function_name, qualifier, body, headers, response_headers)
    if isinstance(body, str):
        body = body.encode()
    # moto reads `qualifier`, boto3 sends `Qualifier`: only a qualified name survives.
    qualifier = qualifier or _qualifier_of(function_name)
    client_context = None
    encoded_context = _header(headers, "X-Amz-Client-Context")
    if encoded_context:
        client_context = json.loads(base64.b64decode(encoded_context))
    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    fault = None
    if dispatcher.faults is not None and invocation_type == "RequestResponse":
        fault = dispatcher.faults.lambda_fault()
    result = dispatcher.invoke(
        function.name,
        body or b"",
        invocation_type=invocation_type,
        client_context=client_context,
        qualifier=qualifier,
        fault=fault,
    )
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = "$LATEST"
    return result.payload


def _qualifier_of(function_name: str) -> str | None:
    parts = function_name.split(":")
    if function_name.startswith("arn:"):
        return parts[7] if len(parts) > 7 else None
    return parts[1] if len(parts) == 2 else None


_patch_lock = threading.Lock()


def _install_patch() -> None:
    with _patch_lock:
        if LambdaSimpleBackend.invoke is not _dispatching_invoke:
            LambdaSimpleBackend.invoke = _dispatching_invoke  # type: ignore[assignment]


def _uninstall_patch() -> None:
    with _patch_lock:
        LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]


def is_patched() -> bool:
    """True while moto's docker-free Invoke is routed to the dispatcher."""
    return LambdaSimpleBackend.invoke is _dispatching_invoke
