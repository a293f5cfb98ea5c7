"""Benchmark: what the AWS side of one job costs, measured on the local stack.

Starts the local stack (template.yaml on moto, the emulator as provider, sped up), runs one
job on its own, then ``--burst`` jobs submitted at once, and counts what each phase used:

- Step Functions state transitions, from the execution histories: every state entered, plus
  one per retry of a task (Step Functions bills retries as transitions);
- Lambda requests and GB-seconds: every in-process invocation (authorizer included), its
  duration on this machine rounded up to the millisecond, times the function's configured
  memory. Durations here are of handlers run in one process against moto and the emulator:
  an estimate of Lambda's, not a measurement of it (cold starts are not included);
- DynamoDB read and write request units, estimated per call at the botocore seam: an item's
  size is its attribute names plus values (numbers as decimal digits / 2 + 1), a write costs
  one WRU per started KB of the larger of the item before and after (updates are sized
  after, from a read the meter makes outside the stack's roles), a read one RRU per started
  4 KB (half for an eventually consistent read), a transaction twice that; a write also
  costs one WRU per KB in each global secondary index whose key the item carries; a refused
  conditional write costs one WRU;
- S3 requests: PUT, COPY, POST and LIST (multipart parts included) and GET and the rest;
  DELETE and abort are free. Downloads through presigned URLs are not counted (the bench
  downloads nothing);
- API Gateway requests (invocations of the functions that API routes point to: tenant
  requests and provider webhooks), EventBridge custom events (``PutEvents`` entries), SQS
  requests, Secrets Manager and KMS calls made by the stack's functions and state machine.

Not counted: CloudWatch Logs and metrics, X-Ray, data transfer, storage, the monthly price
of secrets and keys, Lambda's SQS polling, and EventBridge's deliveries to SQS. Prices are
``PRICES`` below, us-east-1, with their date and sources in docs/costs.md.

Target: at most $0.0005 of AWS per job, solo and in the burst (exit 1 when missed).

    .venv/bin/python bench/aws_cost.py [--burst 50] [--speed 100] [--max-concurrent 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from scale import ONE_TENANT, TERMINAL, _history, _jobs_by_status, _running_executions, _submit_all

TARGET_USD = 0.0005
# USD, us-east-1, as listed in docs/costs.md ("AWS prices").
PRICES = {
    "step_functions_transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_x86_gb_second": 0.0000166667,
    "dynamodb_wru": 0.625 / 1_000_000,
    "dynamodb_rru": 0.125 / 1_000_000,
    "s3_put_copy_post_list": 0.005 / 1000,
    "s3_get_and_other": 0.0004 / 1000,
    "api_gateway_rest_request": 3.50 / 1_000_000,
    "eventbridge_custom_event": 1.00 / 1_000_000,
    "sqs_request": 0.40 / 1_000_000,
    "secrets_manager_call": 0.05 / 10_000,
    "kms_request": 0.03 / 10_000,
}
S3_CLASS_A = frozenset(
    {
        "PutObject",
        "CopyObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListParts",
        "ListMultipartUploads",
        "ListBuckets",
    }
)
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
SETTLE_SECONDS = 3.0


# --- DynamoDB request units ------------------------------------------------------------------


_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"})


def _is_wire(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPES


def value_size(value: Any) -> int:
    """Bytes DynamoDB counts for one attribute value (an approximation, see the module doc).

    Values come as the wire format ({"S": "..."}) from clients and as Python values from
    boto3's resource layer, which converts inside the call the meter wraps.
    """
    if not _is_wire(value):
        return _python_value_size(value)
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(len(str(v)) // 2 + 1 for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def _python_value_size(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return len(str(value).lstrip("-").replace(".", "")) // 2 + 1
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, set | frozenset):
        return sum(_python_value_size(v) for v in value)
    if isinstance(value, list | tuple):
        return 3 + sum(_python_value_size(v) + 1 for v in value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + _python_value_size(v) + 1 for k, v in value.items())
    return len(getattr(value, "value", b""))  # boto3's Binary


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: v if _is_wire(v) else serializer.serialize(v) for k, v in item.items()}


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(v) for name, v in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


@dataclass
class Usage:
    """What a phase of the run used."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    s3_class_a: int = 0
    s3_class_b: int = 0
    events: int = 0


class Meter:
    """Counts the AWS calls the stack's functions and state machine make (an IAM guard hook)."""

    def __init__(self, dynamodb: Any) -> None:
        # A plain client of the meter's own: the resource layer's clients convert values.
        self.dynamodb = dynamodb
        self.usage = Usage()
        self._lock = threading.Lock()
        self._indexes: dict[str, list[str]] = {}

    def reset(self) -> Usage:
        with self._lock:
            usage, self.usage = self.usage, Usage()
        return usage

    def hook(
        self, client: Any, operation: str, params: Any, role: Any, call: Callable[[], Any]
    ) -> Any:
        from botocore.exceptions import ClientError

        service = client.meta.service_model.service_name
        try:
            result = call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            with self._lock:
                self.usage.calls[(service, operation)] += 1
                # A refused conditional write is billed one unit.
                if service == "dynamodb" and code == "ConditionalCheckFailedException":
                    self.usage.wru += 2 if operation == "TransactWriteItems" else 1
            raise
        wru, rru = (0.0, 0.0)
        if service == "dynamodb":
            wru, rru = self._dynamodb_units(client, operation, params or {}, result)
        with self._lock:
            usage = self.usage
            usage.calls[(service, operation)] += 1
            usage.wru += wru
            usage.rru += rru
            if service == "s3" and operation not in S3_FREE:
                if operation in S3_CLASS_A:
                    usage.s3_class_a += 1
                else:
                    usage.s3_class_b += 1
            if service == "events" and operation == "PutEvents":
                usage.events += len(params.get("Entries", []))
        return result

    # -- DynamoDB

    def _outside(self, method: str, **kwargs: Any) -> Any:
        from videojobs_local.stack.iam_guard import acting_as

        # Not a call of the stack: unchecked and not counted.
        with acting_as(None):
            return getattr(self.dynamodb, method)(**kwargs)

    def _gsi_keys(self, client: Any, table: str) -> list[str]:
        if table not in self._indexes:
            described = self._outside("describe_table", TableName=table)["Table"]
            self._indexes[table] = [
                index["KeySchema"][0]["AttributeName"]
                for index in described.get("GlobalSecondaryIndexes", [])
            ]
        return self._indexes[table]

    def _written(self, client: Any, table: str, item: dict[str, Any] | None) -> int:
        size = item_size(item)
        indexed = sum(1 for key in self._gsi_keys(client, table) if item and key in item)
        return write_units(size) * (1 + indexed)

    def _after(self, client: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._outside("get_item", TableName=table, Key=_wire(key), ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _dynamodb_units(
        self, client: Any, operation: str, params: dict[str, Any], result: dict[str, Any]
    ) -> tuple[float, float]:
        table = params.get("TableName", "")
        consistent = bool(params.get("ConsistentRead"))
        if operation == "GetItem":
            return 0.0, read_units(item_size(result.get("Item")), consistent)
        if operation in ("Query", "Scan"):
            total = sum(item_size(item) for item in result.get("Items", []))
            return 0.0, read_units(total, consistent)
        if operation == "PutItem":
            return float(self._written(client, table, params.get("Item"))), 0.0
        if operation == "UpdateItem":
            after = self._after(client, table, params["Key"])
            return float(self._written(client, table, after)), 0.0
        if operation == "DeleteItem":
            return 1.0, 0.0
        if operation == "BatchGetItem":
            rru = sum(
                read_units(item_size(item), False)
                for items in result.get("Responses", {}).values()
                for item in items
            )
            return 0.0, rru
        if operation == "BatchWriteItem":
            wru = 0
            for name, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    put = request.get("PutRequest")
                    wru += self._written(client, name, put["Item"]) if put else 1
            return float(wru), 0.0
        if operation == "TransactGetItems":
            rru = sum(
                2 * read_units(item_size(r.get("Item")), True) for r in result.get("Responses", [])
            )
            return 0.0, rru
        if operation == "TransactWriteItems":
            wru = 0
            for entry in params.get("TransactItems", []):
                if "Put" in entry:
                    wru += self._written(client, entry["Put"]["TableName"], entry["Put"]["Item"])
                elif "Update" in entry:
                    update = entry["Update"]
                    after = self._after(client, update["TableName"], update["Key"])
                    wru += self._written(client, update["TableName"], after)
                else:
                    wru += 1
            return float(2 * wru), 0.0
        return 0.0, 0.0


# --- the run ---------------------------------------------------------------------------------


def transitions(history: Sequence[dict[str, Any]]) -> int:
    """State transitions Step Functions bills for one execution: states entered and retries."""
    count = 0
    scheduled = 0
    for event in history:
        if event["type"].endswith("StateEntered"):
            count += 1
            scheduled = 0
        elif event["type"] in ("TaskScheduled", "LambdaFunctionScheduled"):
            scheduled += 1
            if scheduled > 1:
                count += 1
    return count


@dataclass
class Bill:
    """A phase's usage with its price, per job."""

    jobs: int
    quantities: dict[str, float]
    usd: dict[str, float]

    @property
    def per_job(self) -> float:
        return sum(self.usd.values()) / self.jobs


def bill(local: Any, ids: Sequence[str], usage: Usage, invocations: Sequence[Any]) -> Bill:
    functions = {spec.logical_id: spec for spec in local.stack.stack.functions.values()}
    api_targets = {
        route.function_logical_id for api in local.stack.stack.apis.values() for route in api.routes
    }
    gb_seconds = {"arm64": 0.0, "x86": 0.0}
    for record in invocations:
        spec = functions[record.function_logical_id]
        arch = "arm64" if "arm64" in (spec.architectures or []) else "x86"
        billed_ms = math.ceil(record.duration * 1000)
        gb_seconds[arch] += spec.memory_size / 1024 * billed_ms / 1000
    calls = usage.calls
    quantities = {
        "step_functions_transition": float(sum(transitions(_history(local, i)) for i in ids)),
        "lambda_request": float(len(invocations)),
        "lambda_arm64_gb_second": gb_seconds["arm64"],
        "lambda_x86_gb_second": gb_seconds["x86"],
        "dynamodb_wru": usage.wru,
        "dynamodb_rru": usage.rru,
        "s3_put_copy_post_list": float(usage.s3_class_a),
        "s3_get_and_other": float(usage.s3_class_b),
        "api_gateway_rest_request": float(
            sum(1 for r in invocations if r.function_logical_id in api_targets)
        ),
        "eventbridge_custom_event": float(usage.events),
        "sqs_request": float(sum(n for (service, _), n in calls.items() if service == "sqs")),
        "secrets_manager_call": float(
            sum(n for (service, _), n in calls.items() if service == "secretsmanager")
        ),
        "kms_request": float(sum(n for (service, _), n in calls.items() if service == "kms")),
    }
    usd = {name: quantity * PRICES[name] for name, quantity in quantities.items()}
    return Bill(jobs=len(ids), quantities=quantities, usd=usd)


def _run_phase(local: Any, meter: Meter, count: int, timeout: float) -> tuple[list[str], Bill]:
    local.stack.wait_idle(timeout=30)
    meter.reset()
    local.stack.dispatcher.history.clear()
    before = {item["job_id"]["S"] for item in _jobs_by_status(local)[1]}
    ids, rejected = _submit_all(local, count)
    if rejected:
        raise SystemExit(f"the API refused {dict(rejected)} of {count} jobs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, items = _jobs_by_status(local)
        done = {i["job_id"]["S"] for i in items if i["status"]["S"] in TERMINAL}
        if set(ids) <= done and _running_executions(local) == 0:
            break
        time.sleep(1.0)
    else:
        raise SystemExit(f"jobs still running after {timeout} s")
    # The reaper and the callback queue finish what the jobs started.
    time.sleep(SETTLE_SECONDS)
    local.stack.wait_idle(timeout=30)
    assert not before & set(ids)
    return ids, bill(local, ids, meter.reset(), list(local.stack.dispatcher.history))


def _print_bill(name: str, result: Bill, statuses: Counter[str]) -> None:
    print(f"\n{name}: {result.jobs} job(s), {dict(statuses)}; per job:")
    for item, quantity in result.quantities.items():
        if quantity:
            print(
                f"  {item:<28} {quantity / result.jobs:>12.3f}  "
                f"${Decimal(result.usd[item] / result.jobs):.8f}"
            )
    top = max(result.usd, key=lambda k: result.usd[k])
    share = 100 * result.usd[top] / max(sum(result.usd.values()), 1e-12)
    total = f"${Decimal(result.per_job):.8f}"
    print(f"  {'total':<28} {'':>12}  {total}  (largest: {top}, {share:.0f} %)")


def run(args: argparse.Namespace) -> int:
    from collections import deque

    from videojobs_local.local import run_local

    overrides = {"MaxConcurrentJobs": str(args.max_concurrent), **ONE_TENANT}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
        f"jobs: 1 solo, then {args.burst} at once (sora-2, 4 s), emulator speed {args.speed:g}, "
        f"MaxConcurrentJobs={args.max_concurrent}, one tenant, other parameters: template "
        "defaults; the provider sends webhooks",
        flush=True,
    )
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("videojobs_local").setLevel(logging.ERROR)
    with (
        contextlib.redirect_stdout(io.StringIO()),
        run_local(emulator_speed=args.speed, parameter_overrides=overrides) as local,
    ):
        from videojobs.observability import logger

        logger.setLevel("ERROR")
        if local.stack.iam is None:
            raise SystemExit("the meter needs the IAM guard (enforce_iam)")
        meter = Meter(local.stack.client("dynamodb"))
        local.stack.iam.call_hooks.append(meter.hook)
        local.stack.dispatcher.history = deque(maxlen=1_000_000)
        results = {}
        for name, count in (("solo", 1), (f"burst of {args.burst}", args.burst)):
            ids, result = _run_phase(local, meter, count, args.timeout)
            _, items = _jobs_by_status(local)
            statuses = Counter(i["status"]["S"] for i in items if i["job_id"]["S"] in ids)
            results[name] = (result, statuses)
    for name, (result, statuses) in results.items():
        _print_bill(name, result, statuses)
    print("\ntargets:")
    ok = True
    for name, (result, _) in results.items():
        met = result.per_job <= TARGET_USD
        ok &= met
        print(
            f"  {name}: ${result.per_job:.6f} per job <= ${TARGET_USD}: {'ok' if met else 'MISSED'}"
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--burst", type=int, default=50, help="jobs in the burst (default 50)")
    parser.add_argument("--speed", type=float, default=100.0, help="emulator speed (default 100)")
    parser.add_argument(
        "--max-concurrent", type=int, default=5, help="MaxConcurrentJobs (default 5)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="give up on a phase after this many s"
    )
    args = parser.parse_args(argv)
    if min(args.burst, args.max_concurrent) < 1 or args.speed <= 0:
        parser.error("--burst, --max-concurrent and --speed must be positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
