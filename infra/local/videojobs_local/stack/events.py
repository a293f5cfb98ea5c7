"""EventBridge and SQS delivery that moto leaves out.

moto's EventBridge matches rules and feeds SQS, log group and bus targets, but never
invokes Lambda targets, and moto's Step Functions interpreter emits no "Execution Status
Change" events. Here:

* `hook_rule_delivery` hooks moto's per-rule delivery (`Rule.send_to_targets`, reached by
  PutEvents, the `events:putEvents` task integration and S3's EventBridge notifications):
  rules are matched by moto's own matcher, and `EventRouter` invokes the Lambda targets
  of a matched rule asynchronously, as EventBridge does;
* `ExecutionStatusWatcher` polls executions and publishes status changes onto the default
  bus through moto, so SQS targets and Lambda targets both receive them;
* `SqsPoller` stands in for an SQS event source mapping, with partial batch responses.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from moto.events.models import Rule, events_backends
from moto.events.utils import EventMessageType

from .lambda_dispatch import LambdaDispatcher
from .provision import FunctionSpec, SqsEventSource

logger = logging.getLogger(__name__)

STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


# --------------------------------------------------------------------- router


def _iso_time(value: Any) -> str:
    if isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def normalise_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as EventBridge hands it to targets (moto keeps `time` as epoch seconds and
    an `ingestion-time` of its own)."""
    normal = copy.deepcopy(dict(event))
    normal.pop("ingestion-time", None)
    normal["time"] = _iso_time(normal.get("time") or time.time())
    return normal


def _is_lambda(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":")[2:3] == ["lambda"]


_active_router: EventRouter | None = None
_router_lock = threading.Lock()


def hook_rule_delivery() -> Callable[[], None]:
    """Route Lambda targets of matched rules to the active `EventRouter`; returns the undo.

    Installed before `moto_fixes`, so their corrections to rule delivery (disabled and
    schedule rules, S3 event shape) wrap this hook and apply to Lambda targets too.
    """
    previous = Rule.__dict__["send_to_targets"]

    def send_to_targets(
        rule: Rule, original_event: EventMessageType, transform_input: bool = True
    ) -> None:
        router = _active_router
        if router is None:
            previous(rule, original_event, transform_input)
            return
        # moto's own matcher, for Lambda targets as for the rest.
        if not rule.event_pattern.matches_event(original_event):
            return
        snapshot = copy.deepcopy(original_event)
        lambdas = [t for t in rule.targets if _is_lambda(str(t.get("Arn", "")))]
        if len(lambdas) < len(rule.targets):
            # moto raises NotImplementedError on Lambda targets, so it only sees the rest.
            view = copy.copy(rule)
            view.targets = [t for t in rule.targets if t not in lambdas]
            previous(view, original_event, transform_input)
        if lambdas:
            router.deliver(rule, lambdas, snapshot)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]

    def unhook() -> None:
        Rule.send_to_targets = previous  # type: ignore[method-assign]

    return unhook


class EventRouter:
    """Delivers matched EventBridge events to Lambda targets in-process."""

    def __init__(self, *, dispatcher: LambdaDispatcher, region: str, account_id: str) -> None:
        self.dispatcher = dispatcher
        self.region = region
        self.account_id = account_id
        # Recent deliveries as (rule name, function logical id, event), for inspection.
        self.delivered: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=1000)

    def start(self) -> None:
        global _active_router
        with _router_lock:
            if _active_router is not None:
                raise RuntimeError("another EventRouter is already active in this process")
            _active_router = self

    def stop(self) -> None:
        global _active_router
        with _router_lock:
            if _active_router is self:
                _active_router = None

    def deliver(
        self, rule: Rule, targets: list[dict[str, Any]], raw_event: Mapping[str, Any]
    ) -> None:
        """Invoke a matched rule's Lambda targets asynchronously, as EventBridge does."""
        if (rule.account_id, rule.region_name) != (self.account_id, self.region):
            return
        event = normalise_event(raw_event)
        for target in targets:
            function = self.dispatcher.lookup(str(target["Arn"]))
            if function is None:
                logger.warning("rule %s targets unknown function %s", rule.name, target["Arn"])
                continue
            self.delivered.append((rule.name, function.logical_id, event))
            logger.debug("rule %s -> %s (%s)", rule.name, function.logical_id, event["detail-type"])
            self.dispatcher.invoke(function.name, json.dumps(event), invocation_type="Event")

    def publish(
        self,
        *,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        resources: list[str] | None = None,
        event_bus_name: str = "default",
    ) -> None:
        """Put an AWS-originated event on a bus, bypassing PutEvents' source checks."""
        backend = events_backends[self.account_id][self.region]
        entries = backend.put_events(
            [
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": resources or [],
                    "EventBusName": event_bus_name,
                }
            ]
        )
        for entry in entries:
            if "ErrorCode" in entry:
                logger.error("could not publish %s event: %s", detail_type, entry)


# -------------------------------------------------- execution status changes


def _epoch_millis(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


class ExecutionStatusWatcher:
    """Publishes "Step Functions Execution Status Change" events for every execution.

    Each execution yields RUNNING then its terminal status, like EventBridge does, found by
    polling every `interval` seconds (so a change is published up to `interval` late).

    ``listing``, when given, answers every execution's ARN and status without going through
    the API (the stack reads moto's backend in-process): a poll then costs a pass over
    Python objects instead of a page of ListExecutions per 100 executions, which with a
    thousand executions ten times a second took most of the stack's time.
    """

    def __init__(
        self,
        *,
        router: EventRouter,
        stepfunctions: Any,
        interval: float = 0.1,
        listing: Callable[[], Iterable[tuple[str, str]]] | None = None,
    ) -> None:
        self._router = router
        self._sfn = stepfunctions
        self._interval = interval
        self._listing = listing
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published: deque[dict[str, Any]] = deque(maxlen=1000)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sfn-status-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                logger.exception("execution status poll failed")
            self._stop.wait(self._interval)

    def poll(self) -> None:
        """Look at every execution once and publish what changed since the last look."""
        for arn, status in self._executions():
            previous = self._seen.get(arn)
            if previous == status:
                continue
            described = self._sfn.describe_execution(executionArn=arn)
            if previous is None:
                self._publish(described, "RUNNING")
            if described["status"] != "RUNNING":
                self._publish(described, described["status"])
            self._seen[arn] = described["status"]

    def _executions(self) -> list[tuple[str, str]]:
        """Every execution's ARN and status, oldest first."""
        if self._listing is not None:
            return list(self._listing())
        found: list[tuple[str, str]] = []
        for machine in self._paginate("list_state_machines", "stateMachines"):
            executions = self._paginate(
                "list_executions", "executions", stateMachineArn=machine["stateMachineArn"]
            )
            found.extend((e["executionArn"], e["status"]) for e in reversed(executions))
        return found

    def _paginate(self, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
        paginator = self._sfn.get_paginator(operation)
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(**arguments):
            items.extend(page[key])
        return items

    def _publish(self, execution: Mapping[str, Any], status: str) -> None:
        terminal = status in TERMINAL_STATUSES
        stop_date = execution.get("stopDate")
        if terminal and stop_date is None:
            # moto leaves stopDate empty until the worker thread unwinds (TIMED_OUT).
            stop_date = datetime.datetime.now(tz=datetime.UTC)
        detail = {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": status,
            "startDate": _epoch_millis(execution.get("startDate")),
            "stopDate": _epoch_millis(stop_date) if terminal else None,
            "input": execution.get("input"),
            "output": execution.get("output") if status == "SUCCEEDED" else None,
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
            "error": execution.get("error") if terminal else None,
            "cause": execution.get("cause") if terminal else None,
        }
        self.published.append(detail)
        logger.debug("execution %s is %s", execution["name"], status)
        self._router.publish(
            source="aws.states",
            detail_type=STATUS_CHANGE_DETAIL_TYPE,
            detail=detail,
            resources=[execution["executionArn"]],
        )


# ------------------------------------------------------------------ SQS source


class SqsPoller:
    """Polls a queue for a function the way a Lambda SQS event source mapping does."""

    def __init__(
        self,
        *,
        source: SqsEventSource,
        function: FunctionSpec,
        dispatcher: LambdaDispatcher,
        sqs: Any,
        region: str,
        interval: float = 0.1,
    ) -> None:
        self.source = source
        self.function = function
        self._dispatcher = dispatcher
        self._sqs = sqs
        self._region = region
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run,
            name=f"sqs-{self.function.logical_id}-{self.source.event_name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.poll_once()
            except Exception:
                logger.exception("polling %s failed", self.source.queue_url)
                handled = 0
            if not handled:
                self._stop.wait(self._interval)

    def poll_once(self) -> int:
        """Receive one batch, invoke the function, delete what succeeded; the batch size."""
        messages = self._receive_batch()
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        result = self._dispatcher.invoke(self.function.name, json.dumps(event))
        if result.function_error:
            # Lambda leaves the whole batch to reappear after the visibility timeout.
            logger.info(
                "%s failed a batch of %d from %s",
                self.function.logical_id,
                len(messages),
                self.source.queue_arn,
            )
            return len(messages)
        failed = self._failed_ids(result.json(), messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
        return len(messages)

    def _failed_ids(self, response: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.source.report_batch_item_failures:
            return set()
        if not isinstance(response, Mapping):
            return set()
        failures = response.get("batchItemFailures") or []
        ids = {m["MessageId"] for m in messages}
        failed: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not identifier or identifier not in ids:
                # An unusable response makes Lambda treat the whole batch as failed.
                logger.warning(
                    "%s returned an invalid batchItemFailures entry", self.function.logical_id
                )
                return ids
            failed.add(str(identifier))
        return failed

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self.source.maximum_batching_window_seconds
        while len(batch) < self.source.batch_size:
            response = self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            batch.extend(received)
            if received:
                continue
            if not batch or time.monotonic() >= window_ends or self._stop.is_set():
                break
            self._stop.wait(min(self._interval, max(0.0, window_ends - time.monotonic())))
        return batch

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        attributes = dict(message.get("Attributes") or {})
        attributes.pop("AWSTraceHeader", None)
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": attributes,
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self._region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def scheduled_event(rule_arn: str, *, region: str, account_id: str) -> dict[str, Any]:
    """The event EventBridge sends a target when a schedule rule fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": _iso_time(time.time()),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


__all__ = [
    "STATUS_CHANGE_DETAIL_TYPE",
    "EventRouter",
    "ExecutionStatusWatcher",
    "SqsPoller",
    "hook_rule_delivery",
    "normalise_event",
    "scheduled_event",
]
