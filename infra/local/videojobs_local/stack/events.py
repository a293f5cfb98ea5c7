"""EventBridge and SQS delivery that moto leaves out.

moto's EventBridge matches rules and feeds SQS, log group and bus targets, but never
invokes Lambda targets, and moto's Step Functions interpreter emits no "Execution Status
Change" events. Here:

* `EventRouter` hooks moto's per-rule delivery (`Rule.send_to_targets`, reached by
  PutEvents, the `events:putEvents` task integration and S3's EventBridge notifications)
  and invokes the rule's Lambda targets asynchronously, as EventBridge does;
* `ExecutionStatusWatcher` polls executions and publishes status changes onto the default
  bus through moto, so SQS targets and Lambda targets both receive them;
* `SqsPoller` stands in for an SQS event source mapping, with partial batch responses.
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from moto.events.models import Rule, events_backends
from moto.events.utils import _BASE_EVENT_MESSAGE, EventMessageType

from .lambda_dispatch import LambdaDispatcher
from .provision import FunctionSpec, SqsEventSource

logger = logging.getLogger(__name__)

STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


# ------------------------------------------------------------ pattern matching


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class EventPatternError(ValueError):
    """The pattern uses syntax this matcher does not implement or is malformed."""


def matches_pattern(pattern: Mapping[str, Any] | None, event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge event pattern matches an event.

    Implements exact values (strings, numbers, booleans, null), lists as "any of", nested
    objects, array-valued fields (any element matches), `$or`, and the filters `prefix`,
    `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`, `exists`, `numeric` and
    `cidr`.
    """
    if not pattern:
        return True
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not isinstance(rule, list) or not any(_match_object(p, event) for p in rule):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if not _match_object(rule, value if isinstance(value, Mapping) else {}):
                return False
        elif isinstance(rule, list):
            if not _match_field(rule, value):
                return False
        else:
            raise EventPatternError(f"pattern value for {key!r} must be a list or an object")
    return True


def _match_field(filters: list[Any], value: Any) -> bool:
    candidates = value if isinstance(value, list) else [value]
    present = [c for c in candidates if c is not _MISSING]
    for rule in filters:
        if isinstance(rule, Mapping):
            if "exists" in rule:
                if (value is not _MISSING) == bool(rule["exists"]):
                    return True
                continue
            if any(_match_filter(rule, candidate) for candidate in present):
                return True
        elif any(_equal(rule, candidate) for candidate in present):
            return True
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string_test(spec: Any, actual: Any, test: Callable[[str, str], bool]) -> bool:
    if not isinstance(actual, str):
        return False
    if isinstance(spec, Mapping) and "equals-ignore-case" in spec:
        return test(actual.lower(), str(spec["equals-ignore-case"]).lower())
    if isinstance(spec, list):
        return any(test(actual, str(item)) for item in spec)
    return test(actual, str(spec))


def _wildcard(actual: str, pattern: str) -> bool:
    expression = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.fullmatch(expression, actual, flags=re.DOTALL) is not None


def _match_filter(rule: Mapping[str, Any], actual: Any) -> bool:
    if len(rule) != 1:
        raise EventPatternError(f"a filter has exactly one operator, got {dict(rule)}")
    ((operator, argument),) = rule.items()
    if operator == "prefix":
        return _string_test(argument, actual, str.startswith)
    if operator == "suffix":
        return _string_test(argument, actual, str.endswith)
    if operator == "equals-ignore-case":
        items = argument if isinstance(argument, list) else [argument]
        return isinstance(actual, str) and any(actual.lower() == str(i).lower() for i in items)
    if operator == "wildcard":
        items = argument if isinstance(argument, list) else [argument]
        return isinstance(actual, str) and any(_wildcard(actual, str(i)) for i in items)
    if operator == "anything-but":
        if isinstance(argument, Mapping):
            return not _match_filter(argument, actual)
        items = argument if isinstance(argument, list) else [argument]
        return not any(_equal(item, actual) for item in items)
    if operator == "numeric":
        return _numeric(argument, actual)
    if operator == "cidr":
        try:
            return ipaddress.ip_address(str(actual)) in ipaddress.ip_network(str(argument))
        except ValueError:
            return False
    raise EventPatternError(f"unsupported filter {operator!r}")


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(conditions: list[Any], actual: Any) -> bool:
    if len(conditions) % 2:
        raise EventPatternError(f"numeric filter needs operator/value pairs: {conditions}")
    pairs = list(zip(conditions[::2], conditions[1::2], strict=True))
    for operator, _ in pairs:
        if operator not in _COMPARISONS:
            raise EventPatternError(f"unknown numeric operator {operator!r}")
    if not _is_number(actual):
        return False
    return all(_COMPARISONS[op](float(actual), float(operand)) for op, operand in pairs)


# -------------------------------------------------------------- input shaping


def _json_path(document: Any, path: str) -> Any:
    """Resolve the simple JSONPath subset EventBridge targets use: `$`, `$.a.b`, `$.a[0]`."""
    if path in ("", "$"):
        return document
    if not path.startswith("$"):
        raise EventPatternError(f"unsupported path {path!r}")
    current = document
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        key, index = part
        try:
            current = current[int(index)] if index else current[key]
        except (KeyError, IndexError, TypeError):
            return None
    return current


def _transform(transformer: Mapping[str, Any], event: Mapping[str, Any], rule: Rule) -> Any:
    values = {
        name: _json_path(event, str(path))
        for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values["aws.events.rule-arn"] = rule.arn
    values["aws.events.rule-name"] = rule.name
    values["aws.events.event.ingestion-time"] = event.get("time")
    values["aws.events.event.json"] = event
    template = str(transformer.get("InputTemplate") or "")
    pieces: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<":
            end = template.find(">", position)
            name = template[position + 1 : end] if end > 0 else ""
            if name in values:
                value = values[name]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    pieces.append(json.dumps(text)[1:-1])
                else:
                    pieces.append(json.dumps(value))
                position = end + 1
                continue
        if char == '"' and (position == 0 or template[position - 1] != "\\"):
            in_string = not in_string
        pieces.append(char)
        position += 1
    rendered = "".join(pieces)
    try:
        return json.loads(rendered)
    except ValueError:
        return rendered


def _target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule: Rule) -> Any:
    if target.get("Input") is not None:
        return json.loads(str(target["Input"]))
    if target.get("InputPath") is not None:
        return _json_path(event, str(target["InputPath"]))
    if target.get("InputTransformer") is not None:
        return _transform(target["InputTransformer"], event, rule)
    return event


def _iso_time(value: Any) -> str:
    if isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def normalise_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as EventBridge hands it to targets (moto keeps some fields its own way)."""
    normal = copy.deepcopy(dict(event))
    normal.pop("ingestion-time", None)
    normal["time"] = _iso_time(normal.get("time") or time.time())
    if not normal.get("id") or normal["id"] == _BASE_EVENT_MESSAGE["id"]:
        normal["id"] = str(uuid.uuid4())
    return normal


# --------------------------------------------------------------------- router

_active_router: EventRouter | None = None
_router_lock = threading.Lock()
_original_send_to_targets = Rule.send_to_targets


def _routing_send_to_targets(
    rule: Rule, original_event: EventMessageType, transform_input: bool = True
) -> None:
    router = _active_router
    if router is None:
        _original_send_to_targets(rule, original_event, transform_input)
        return
    # EventBridge never feeds disabled rules, nor schedule rules (moto matches them all).
    if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
        return
    if original_event.get("id") == _BASE_EVENT_MESSAGE["id"]:
        # moto gives every S3 event the same id; consumers deduplicate on it. The same dict
        # goes to every rule, so all targets of one event still share one id.
        original_event["id"] = str(uuid.uuid4())
    _s3_object_as_s3_sends_it(original_event)
    snapshot = copy.deepcopy(original_event)
    others = [t for t in rule.targets if not _is_lambda(str(t.get("Arn", "")))]
    if others:
        # moto raises NotImplementedError on Lambda targets, so it only sees the rest.
        view = copy.copy(rule)
        view.targets = others
        _original_send_to_targets(view, original_event, transform_input)
    router.deliver(rule, snapshot)


def _s3_object_as_s3_sends_it(event: EventMessageType) -> None:
    """Spell an S3 event's object the way S3 does (in place; a second call changes nothing).

    moto writes the object's ETag as ``eTag`` and, in an unversioned bucket, a
    ``version-id`` of ``"null"``; S3 writes ``etag`` and gives a version id only where
    there are versions.
    """
    if event.get("source") != "aws.s3":
        return
    detail = event.get("detail")
    obj = detail.get("object") if isinstance(detail, dict) else None
    if not isinstance(obj, dict):
        return
    if "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
    if obj.get("version-id") in (None, "null"):
        obj.pop("version-id", None)


def _is_lambda(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":")[2:3] == ["lambda"]


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
            if Rule.send_to_targets is not _routing_send_to_targets:
                Rule.send_to_targets = _routing_send_to_targets  # type: ignore[assignment]

    def stop(self) -> None:
        global _active_router
        with _router_lock:
            if _active_router is self:
                _active_router = None
                Rule.send_to_targets = _original_send_to_targets  # type: ignore[method-assign]

    def deliver(self, rule: Rule, raw_event: Mapping[str, Any]) -> None:
        """Invoke the rule's Lambda targets if the rule is enabled and matches."""
        if (rule.account_id, rule.region_name) != (self.account_id, self.region):
            return
        if rule.state != "ENABLED":
            return
        pattern = rule.event_pattern.get_pattern()
        if not pattern:
            # A schedule rule: moto would match everything, EventBridge matches nothing.
            return
        event = normalise_event(raw_event)
        try:
            if not matches_pattern(pattern, event):
                return
        except EventPatternError:
            logger.exception("rule %s has a pattern the local matcher cannot evaluate", rule.name)
            return
        for target in rule.targets:
            arn = str(target.get("Arn", ""))
            if not _is_lambda(arn):
                continue
            function = self.dispatcher.lookup(arn)
            if function is None:
                logger.warning("rule %s targets unknown function %s", rule.name, arn)
                continue
            payload = _target_input(target, event, rule)
            self.delivered.append((rule.name, function.logical_id, event))
            logger.debug("rule %s -> %s (%s)", rule.name, function.logical_id, event["detail-type"])
            self.dispatcher.invoke(function.name, json.dumps(payload), invocation_type="Event")

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
    """

    def __init__(
        self,
        *,
        router: EventRouter,
        stepfunctions: Any,
        interval: float = 0.1,
    ) -> None:
        self._router = router
        self._sfn = stepfunctions
        self._interval = interval
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
        for machine in self._paginate("list_state_machines", "stateMachines"):
            executions = self._paginate(
                "list_executions", "executions", stateMachineArn=machine["stateMachineArn"]
            )
            for execution in reversed(executions):
                arn = execution["executionArn"]
                status = execution["status"]
                previous = self._seen.get(arn)
                if previous == status:
                    continue
                described = self._sfn.describe_execution(executionArn=arn)
                if previous is None:
                    self._publish(described, "RUNNING")
                if described["status"] != "RUNNING":
                    self._publish(described, described["status"])
                self._seen[arn] = described["status"]

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
    "EventPatternError",
    "EventRouter",
    "ExecutionStatusWatcher",
    "SqsPoller",
    "matches_pattern",
    "normalise_event",
    "scheduled_event",
]
