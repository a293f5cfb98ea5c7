"""AWS-side faults of the local stack: how often they are drawn, which kinds, and that a seed
reproduces them; how a throttled DynamoDB request looks to botocore."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.config import Config

from videojobs_local.stack.aws_faults import (
    DYNAMODB_THROTTLES,
    KINDS,
    AwsFaults,
    FaultInjector,
    throttle_response,
)
from videojobs_local.stack.iam_guard import acting_as
from videojobs_local.stack.iam_policy import Role

DRAWS = 4000


def _lambda_faults(faults: AwsFaults, draws: int = DRAWS) -> list[str | None]:
    injector = FaultInjector(faults)
    return [injector.lambda_fault() for _ in range(draws)]


def test_a_rate_of_a_tenth_faults_about_a_tenth_of_the_invokes() -> None:
    drawn = _lambda_faults(AwsFaults(rate=0.1, seed=7))

    faulted = sum(1 for fault in drawn if fault is not None)
    # Binomial(4000, 0.1): mean 400, sd 19; the seed fixes the draw, the bounds allow 4 sd.
    assert 324 <= faulted <= 476


def test_the_same_seed_draws_the_same_faults_and_another_seed_does_not() -> None:
    first = _lambda_faults(AwsFaults(rate=0.3, seed=11))

    assert _lambda_faults(AwsFaults(rate=0.3, seed=11)) == first
    assert _lambda_faults(AwsFaults(rate=0.3, seed=12)) != first


def test_every_lambda_kind_is_drawn_and_crashes_come_before_and_after_the_work() -> None:
    kinds = Counter(_lambda_faults(AwsFaults(rate=1.0, seed=3), draws=600))

    assert set(kinds) == {"throttle", "timeout", "crash_before", "crash_after"}
    # Throttle, timeout and crash a third each; a crash is before or after the work.
    assert all(150 <= kinds[k] <= 250 for k in ("throttle", "timeout"))
    assert 150 <= kinds["crash_before"] + kinds["crash_after"] <= 250


def test_only_the_chosen_kinds_are_drawn() -> None:
    injector = FaultInjector(AwsFaults(rate=1.0, kinds=frozenset({"lambda_throttle"}), seed=1))

    assert {injector.lambda_fault() for _ in range(50)} == {"throttle"}
    assert injector.dynamodb_fault() is None
    assert injector.injected == Counter({"lambda_throttle": 50})


def test_dynamodb_throttles_use_both_error_codes_and_are_counted() -> None:
    injector = FaultInjector(AwsFaults(rate=0.5, kinds=frozenset({"dynamodb_throttle"}), seed=5))

    codes = [injector.dynamodb_fault() for _ in range(400)]

    assert set(codes) == {None, *DYNAMODB_THROTTLES}
    assert injector.injected["dynamodb_throttle"] == sum(1 for c in codes if c is not None)
    assert injector.draws["dynamodb"] == 400
    assert injector.lambda_fault() is None


def test_a_zero_rate_or_a_stopped_injector_draws_nothing() -> None:
    assert not AwsFaults(rate=0.0).active
    assert set(_lambda_faults(AwsFaults(rate=0.0), draws=100)) == {None}
    stopped = FaultInjector(AwsFaults(rate=1.0))
    stopped.stop()
    assert stopped.lambda_fault() is None
    assert stopped.dynamodb_fault() is None


def test_settings_are_validated_and_read_from_a_percentage() -> None:
    assert AwsFaults.from_percent(10) == AwsFaults(rate=0.1, kinds=frozenset(KINDS))
    assert AwsFaults.from_percent(5, kinds="lambda_crash, dynamodb_throttle", seed=2) == AwsFaults(
        rate=0.05, kinds=frozenset({"lambda_crash", "dynamodb_throttle"}), seed=2
    )
    with pytest.raises(ValueError, match="unknown fault kinds"):
        AwsFaults.from_percent(5, kinds="lambda_throttle,disk_full")
    with pytest.raises(ValueError, match="between 0 and 1"):
        AwsFaults(rate=1.5)


def test_a_throttled_dynamodb_answer_is_the_error_botocore_raises_and_retries() -> None:
    response = throttle_response("https://dynamodb.us-east-1.amazonaws.com/", "ThrottlingException")

    body = json.loads(response.content)
    assert response.status_code == 400
    assert body["__type"].endswith("#ThrottlingException")


def test_only_calls_made_as_a_stack_role_meet_dynamodb_throttles() -> None:
    """Given every request throttled, a call as a role fails after botocore's retries, and a
    call from outside the stack's functions and state machines goes through to the service."""
    injector = FaultInjector(AwsFaults(rate=1.0, kinds=frozenset({"dynamodb_throttle"})))
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",  # never reached by a throttled call
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}),
    )
    role = Role(
        owner="Fn", arn="arn:aws:iam::123456789012:role/fn", session_name="fn", statements=()
    )
    call = lambda: client.get_item(TableName="t", Key={"pk": {"S": "a"}})  # noqa: E731

    with acting_as(role), pytest.raises(client.exceptions.ClientError) as raised:
        injector.dynamodb_hook(client, "GetItem", {}, role, call)

    assert raised.value.response["Error"]["Code"] in DYNAMODB_THROTTLES
    # Two attempts, both throttled: the SDK retried the first.
    assert injector.injected["dynamodb_throttle"] == 2
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    with pytest.raises(Exception) as unreachable:
        client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    assert "Could not connect" in str(unreachable.value)
    assert injector.injected["dynamodb_throttle"] == 2


def test_local_up_takes_a_fault_percentage_and_refuses_one_out_of_range() -> None:
    from videojobs_local.cli import build_parser

    args = build_parser().parse_args(
        ["local", "up", "--aws-fault-percent", "10", "--aws-fault-kinds", "lambda_crash"]
    )

    assert AwsFaults.from_percent(
        args.aws_fault_percent, kinds=args.aws_fault_kinds, seed=args.aws_fault_seed
    ) == AwsFaults(rate=0.1, kinds=frozenset({"lambda_crash"}), seed=0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["local", "up", "--aws-fault-percent", "150"])
