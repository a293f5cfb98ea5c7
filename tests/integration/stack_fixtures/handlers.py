"""Handlers named by the local-stack test templates; they record what reached them."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import boto3
import botocore.exceptions

_lock = threading.Lock()
_records: dict[str, list[Any]] = defaultdict(list)
_attempts: dict[str, int] = defaultdict(int)


class ProviderTransientError(Exception):
    """Stands in for the project's retryable provider error."""


class ProviderRejectedError(Exception):
    """Stands in for a non-retryable rejection."""


def reset() -> None:
    with _lock:
        _records.clear()
        _attempts.clear()


def record(channel: str, value: Any) -> None:
    with _lock:
        _records[channel].append(value)


def records(channel: str) -> list[Any]:
    with _lock:
        return list(_records[channel])


def wait_for(channel: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
    """Wait until `count` records arrived on a channel; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = records(channel)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{channel}: expected {count} records, got {records(channel)}")


def _context_view(context: Any) -> dict[str, Any]:
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


# ------------------------------------------------------------------ generic


def echo(event: Any, context: Any) -> dict[str, Any]:
    record("echo", event)
    return {"event": event, "context": _context_view(context)}


def env_probe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports its view of the environment, optionally holding still to overlap others."""
    time.sleep(float(event.get("hold", 0)))
    keys = event.get("keys", [])
    return {key: os.environ.get(key) for key in keys} | {"_all": sorted(os.environ)}


def fail(event: dict[str, Any], context: Any) -> None:
    record("fail", event)
    raise ProviderTransientError(event.get("message", "provider unavailable"))


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with ProviderTransientError until called `succeed_on` times for `key`."""
    key = str(event.get("key", "default"))
    with _lock:
        _attempts[key] += 1
        attempt = _attempts[key]
    record("flaky", {"key": key, "attempt": attempt, "at": time.monotonic()})
    if attempt < int(event.get("succeed_on", 2)):
        raise ProviderTransientError(f"attempt {attempt}")
    return {"attempts": attempt}


def reject(event: Any, context: Any) -> None:
    raise ProviderRejectedError("content policy")


def decimal_result(event: Any, context: Any) -> dict[str, Any]:
    return {"price": Decimal("1.5"), "count": Decimal("3")}


def unserialisable(event: Any, context: Any) -> Any:
    return {"when": object()}


def sleepy(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("seconds", 0)))
    return {"slept": event.get("seconds", 0)}


def keep_token(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("tokens", event["token"])
    return {"stored": True}


def collect(event: Any, context: Any) -> None:
    record("collect", event)


def reaper(event: dict[str, Any], context: Any) -> None:
    record("reaper", event)


def use_boto3(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Writes an item with a client built inside the handler, as real handlers do."""
    table = os.environ["TABLE_NAME"]
    client = boto3.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": event["pk"]}})
    return {"table": table, "region": client.meta.region_name}


def aws_call(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Makes one boto3 call and reports how it ended: ``{"ok": true}`` or the error."""
    client = boto3.client(event["service"])
    try:
        getattr(client, event["operation"])(**event.get("params", {}))
    except botocore.exceptions.ClientError as exc:
        return {
            "code": exc.response["Error"]["Code"],
            "message": exc.response["Error"]["Message"],
            "status": exc.response["ResponseMetadata"].get("HTTPStatusCode"),
        }
    return {"ok": True}


def api_slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answers after ``?seconds=`` seconds."""
    time.sleep(float((event.get("queryStringParameters") or {}).get("seconds", 0)))
    record("api_slow", event["path"])
    return {"statusCode": 200, "body": "late"}


def big_result(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns a result of about ``bytes`` bytes."""
    return {"blob": "x" * int(event["bytes"])}


# ---------------------------------------------------------------------- SQS


def sqs_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails the records whose body says so; reports them as partial failures."""
    failures = []
    for item in event["Records"]:
        record("sqs", item)
        if "fail" in item["body"]:
            failures.append({"itemIdentifier": item["messageId"]})
    return {"batchItemFailures": failures}


def sqs_crash(event: dict[str, Any], context: Any) -> None:
    for item in event["Records"]:
        record("sqs_crash", item)
    raise RuntimeError("batch handler crashed")


# ---------------------------------------------------------------------- API


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("api", event)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Handler": "api"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps(
            {
                "resource": event["resource"],
                "path": event["path"],
                "method": event["httpMethod"],
                "pathParameters": event["pathParameters"],
                "query": event["queryStringParameters"],
                "authorizer": event["requestContext"].get("authorizer"),
            }
        ),
    }


def api_created(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("api_created", event)
    return {"statusCode": 201, "body": json.dumps({"created": True})}


def api_binary(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("api_binary", event)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode(),
        "isBase64Encoded": True,
    }


def api_crash(event: Any, context: Any) -> None:
    raise ValueError("handler bug")


def api_malformed(event: Any, context: Any) -> dict[str, Any]:
    return {"body": "no status code"}


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("authorizer", event)
    token = event["headers"].get("Authorization", "")
    if token == "Bearer good":
        effect = "Allow"
    elif token == "Bearer deny":
        effect = "Deny"
    elif token == "Bearer elsewhere":
        # Allows a different method only: nothing matches this request.
        return _policy("Allow", event["methodArn"].rsplit("/", 2)[0] + "/NOPE/*")
    else:
        # API Gateway answers 401 when an authorizer fails with exactly this message.
        raise Exception("Unauthorized")
    return _policy(effect, event["methodArn"].split("/", 1)[0] + "/*")


def _policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": "tenant-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"tenant_id": "t-1", "limit": 5, "admin": False},
    }
