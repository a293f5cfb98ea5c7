"""Run a SAM template's resources on moto, in this process, with nothing deployed.

`LocalStack` starts moto in-process (Step Functions executing, Lambda without Docker) and a
moto server on 127.0.0.1 sharing the same backends, provisions the template, and wires the
pieces moto lacks: handlers run in-process, EventBridge reaches Lambda targets, execution
status changes are published, SQS event sources are polled and each Serverless Api is
served over HTTP.

In-process boto3 clients are intercepted by moto and never leave the process. With
``route_clients_via_server=True`` the process also gets ``AWS_ENDPOINT_URL`` pointing at
the moto server, so clients (and presigned URLs) speak HTTP to it instead; the backends
are the same either way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.core.models import MockAWS, botocore_stubber
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from . import moto_fixes
from .apigw import ApiFront
from .aws_faults import AwsFaults, FaultInjector
from .events import (
    EventRouter,
    ExecutionStatusWatcher,
    SqsPoller,
    hook_rule_delivery,
    scheduled_event,
)
from .iam_guard import IamGuard
from .lambda_dispatch import InvocationResult, LambdaDispatcher
from .provision import Stack, provision
from .template import PseudoParameters, load_template

logger = logging.getLogger(__name__)

MOTO_ACCOUNT_ID = "123456789012"
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Anything that could point boto3 at a real account or endpoint is hidden while running.
_HIDDEN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
)

_running_lock = threading.Lock()
_running: LocalStack | None = None


class _MotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that also releases its listening socket on stop."""

    def stop(self) -> None:
        server = self._server
        super().stop()
        if server is not None:
            server.server_close()


class LocalStack:
    """A template's stack running locally; use as a context manager."""

    def __init__(
        self,
        template: str | Path,
        *,
        parameter_overrides: str | Mapping[str, Any] | Iterable[str] | None = None,
        stack_name: str = "videojobs-local",
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        aws_port: int = 0,
        api_port: int = 0,
        secret_values: Mapping[str, str] | None = None,
        function_environment: Mapping[str, str] | None = None,
        enforce_timeouts: bool = True,
        enforce_iam: bool = True,
        iam_record: str | Path | None = None,
        route_clients_via_server: bool = False,
        poll_interval: float = 0.1,
        aws_faults: AwsFaults | None = None,
    ) -> None:
        self.template_path = Path(template)
        self.parameter_overrides = parameter_overrides
        self.stack_name = stack_name
        self.region = region
        self.account_id = MOTO_ACCOUNT_ID
        self.host = host
        self._aws_port = aws_port
        self._api_port = api_port
        self._secret_values = dict(secret_values or {})
        self._function_environment = dict(function_environment or {})
        self._route_clients_via_server = route_clients_via_server
        self._poll_interval = poll_interval
        self._enforce_iam = enforce_iam
        # `make iam-unused` sets VIDEOJOBS_IAM_RECORD for a whole test run.
        self._iam_record = iam_record or os.environ.get("VIDEOJOBS_IAM_RECORD") or None
        self.iam: IamGuard | None = None
        self.faults: FaultInjector | None = None
        if aws_faults is not None and aws_faults.active:
            if "dynamodb_throttle" in aws_faults.kinds and not enforce_iam:
                raise ValueError("DynamoDB faults apply to the calls IAM checks: keep enforce_iam")
            self.faults = FaultInjector(aws_faults)
        self.dispatcher = LambdaDispatcher(
            region=region, account_id=self.account_id, enforce_timeouts=enforce_timeouts
        )
        self.router = EventRouter(
            dispatcher=self.dispatcher, region=region, account_id=self.account_id
        )
        self._mock: MockAWS | None = None
        self._server: _MotoServer | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._stack: Stack | None = None
        self.watcher: ExecutionStatusWatcher | None = None
        self.pollers: list[SqsPoller] = []
        self.fronts: dict[str, ApiFront] = {}
        self._stops: list[Any] = []
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, bool], Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start moto, provision the template and every local stand-in."""
        global _running
        with _running_lock:
            if _running is not None:
                raise RuntimeError("a LocalStack is already running in this process")
            _running = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self._set_environment(
            {
                **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                # A profile's endpoint_url or credential_process must not apply here.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        hidden = [*_HIDDEN_VARIABLES, *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_"))]
        self._set_environment(dict.fromkeys(hidden))
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        self._stops.append(self._stop_mock)
        self._stops.append(hook_rule_delivery())
        moto_fixes.install()
        self._stops.append(moto_fixes.uninstall)

        self._server = _MotoServer(ip_address=self.host, port=self._aws_port, verbose=False)
        self._server.start()
        self._stops.append(self._server.stop)
        host, port = self._server.get_host_and_port()
        self.aws_endpoint_url = f"http://{host}:{port}"
        if self._route_clients_via_server:
            self._set_environment({"AWS_ENDPOINT_URL": self.aws_endpoint_url})

        pseudo = PseudoParameters(
            region=self.region, account_id=self.account_id, stack_name=self.stack_name
        )
        template = load_template(
            self.template_path, parameter_overrides=self.parameter_overrides, pseudo=pseudo
        )
        self._stack = provision(
            template,
            session=self.session(),
            secret_values=self._secret_values,
            function_environment=self._function_environment,
        )
        for logical_id, resource_type in self._stack.skipped.items():
            logger.info("not provisioned locally: %s (%s)", logical_id, resource_type)

        if self._enforce_iam:
            self.iam = IamGuard(self._stack, record=self._iam_record)
            self.dispatcher.roles = {
                function.name: role
                for function in self._stack.functions.values()
                if (role := self.iam.role_of_function(function.name)) is not None
            }
            if self.faults is not None:
                self.iam.call_hooks.append(self.faults.dynamodb_hook)
            self.iam.start()
            self._stops.append(self.iam.stop)
        if self.faults is not None:
            self.dispatcher.faults = self.faults
            self._stops.append(self.faults.stop)
        self.dispatcher.register(self._stack.functions.values())
        self.dispatcher.start()
        self._stops.append(self.dispatcher.stop)
        self.router.start()
        self._stops.append(self.router.stop)
        # Runs after the watcher, pollers and fronts have stopped, before the backends go.
        self._stops.append(self._quiesce)

        self.watcher = ExecutionStatusWatcher(
            router=self.router,
            stepfunctions=self.client("stepfunctions"),
            interval=self._poll_interval,
            listing=self.execution_statuses,
        )
        self.watcher.start()
        self._stops.append(self.watcher.stop)
        for source in self._stack.sqs_event_sources:
            if not source.enabled:
                continue
            poller = SqsPoller(
                source=source,
                function=self._stack.functions[source.function_logical_id],
                dispatcher=self.dispatcher,
                sqs=self.client("sqs"),
                region=self.region,
                interval=self._poll_interval,
            )
            poller.start()
            self.pollers.append(poller)
            self._stops.append(poller.stop)
        for index, (logical_id, api) in enumerate(self._stack.apis.items()):
            # A fixed port can only serve one API; the rest take free ports.
            front = ApiFront(
                api,
                self._stack,
                self.dispatcher,
                host=self.host,
                port=self._api_port if index == 0 else 0,
            )
            front.start()
            self.fronts[logical_id] = front
            self._stops.append(front.stop)
        logger.info(
            "local stack %s up: aws=%s api=%s",
            self.stack_name,
            self.aws_endpoint_url,
            self.api_urls,
        )

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice."""
        global _running
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:
                logger.exception("error while stopping the local stack")
        self._restore_environment()
        with self._clients_lock:
            self._clients.clear()
            self._session = None
        with _running_lock:
            if _running is self:
                _running = None

    def _stop_mock(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def execution_statuses(self) -> list[tuple[str, str]]:
        """Every execution's ARN and status, oldest first, read from moto's backend in this
        process (what ListExecutions answers, without a request per 100 executions)."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[self.account_id][self.region]
        found: list[tuple[str, str]] = []
        for machine in list(backend.state_machines):
            for execution in list(machine.executions):
                # The parser's executions; one not started yet has no status and is skipped.
                status = getattr(execution, "exec_status", None)
                if status is not None:
                    found.append((execution.execution_arn, str(status.value)))
        return found

    def _quiesce(self) -> None:
        # Execution threads and handlers still running would otherwise outlive the mock and
        # could reach real endpoints once moto stops intercepting.
        if self._stack is None or not botocore_stubber.enabled:
            return
        sfn = self.client("stepfunctions")
        for machine in self._stack.state_machines.values():
            executions = sfn.list_executions(stateMachineArn=machine.arn, statusFilter="RUNNING")
            for execution in executions["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"])
        if not self.dispatcher.wait_idle(timeout=30):
            logger.warning("Lambda invocations still running while the local stack stops")

    def _set_environment(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if name not in self._saved_environment:
                self._saved_environment[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    # -- what it exposes

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise RuntimeError("the local stack is not started")
        return self._stack

    @property
    def api_urls(self) -> dict[str, str]:
        """Invoke URL (with stage) of each Api, by logical id."""
        return {logical_id: front.url for logical_id, front in self.fronts.items()}

    @property
    def api_url(self) -> str:
        """Invoke URL of the template's API (the first, if it declares several)."""
        if not self.fronts:
            raise RuntimeError("the template declares no API routes")
        return next(iter(self.fronts.values())).url

    def session(self) -> boto3.session.Session:
        """A boto3 session on the local backends."""
        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )

    def client(self, service: str, *, via_server: bool = False) -> Any:
        """An in-process client, or with `via_server` one speaking HTTP to the moto server.

        Clients are cached (they are thread-safe; building one takes a few hundred ms).
        """
        key = (service, via_server)
        with self._clients_lock:
            if key not in self._clients:
                if self._session is None:
                    self._session = self.session()
                config = Config(retries={"max_attempts": 1})
                endpoint = self.aws_endpoint_url if via_server else None
                self._clients[key] = self._session.client(
                    service, endpoint_url=endpoint, config=config
                )
            return self._clients[key]

    def invoke(self, function: str, event: Any = None) -> InvocationResult:
        """Invoke a function (logical id, name or ARN) synchronously."""
        spec = self.stack.function(function)
        return self.dispatcher.invoke(spec.name, json.dumps(event if event is not None else {}))

    def fire_schedule(self, rule_logical_id: str) -> None:
        """Deliver a schedule rule's "Scheduled Event" to its Lambda targets now."""
        rule = self.stack.rules[rule_logical_id]
        event = scheduled_event(rule.arn, region=self.region, account_id=self.account_id)
        for target in rule.targets:
            if self.dispatcher.lookup(target.arn) is None:
                continue
            self.dispatcher.invoke(target.arn, json.dumps(event), invocation_type="Event")

    def wait_for_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for an execution to leave RUNNING; returns DescribeExecution's answer."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout}s")
            time.sleep(0.05)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until asynchronous Lambda invocations have drained."""
        return self.dispatcher.wait_idle(timeout)

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable description for other processes (CLI state files)."""
        stack = self.stack
        return {
            "stack_name": stack.name,
            "region": self.region,
            "account_id": self.account_id,
            "aws_endpoint_url": self.aws_endpoint_url,
            "api_url": self.api_url if self.fronts else None,
            "api_urls": self.api_urls,
            "physical_ids": {k: v for k, v in stack.physical_ids.items() if _is_json(v)},
            "functions": {
                logical_id: {"name": spec.name, "arn": spec.arn, "handler": spec.handler}
                for logical_id, spec in stack.functions.items()
            },
            "state_machines": {
                logical_id: spec.arn for logical_id, spec in stack.state_machines.items()
            },
            "outputs": {k: v for k, v in stack.outputs.items() if _is_json(v)},
        }


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
