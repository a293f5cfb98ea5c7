"""AWS-side faults on the local stack, at a set rate: Lambda throttles, crashes and timeouts,
and DynamoDB throttling.

Each fault is reported the way AWS reports it, so the state machine's Retry and Catch and
the SDK's own retries meet what they would meet in a deployment:

* ``lambda_throttle``: Invoke fails with HTTP 429 ``TooManyRequestsException`` and the
  handler does not run (Step Functions sees ``Lambda.TooManyRequestsException``);
* ``lambda_crash``: the runtime dies, before the handler ran or after it did its work (the
  answer is lost), and Invoke answers ``FunctionError: Unhandled`` with ``errorType``
  ``Runtime.ExitError``, as for a process killed mid-invocation;
* ``lambda_timeout``: the handler runs and its answer is discarded, reported as a timeout
  (``Sandbox.Timedout``, "Task timed out after N seconds"), the worst case of a timeout:
  the side effects happened, the caller does not know;
* ``dynamodb_throttle``: a DynamoDB request of a function or of a state machine's direct
  integration gets HTTP 400 ``ProvisionedThroughputExceededException`` or
  ``ThrottlingException``. The answer is given at the HTTP layer (botocore's ``before-send``
  event), so the SDK's retry policy retries it as it would in AWS and only throttling that
  outlasts it reaches the code; each attempt draws again.

Lambda faults apply to calls of Lambda's Invoke API made with ``RequestResponse``: every
Step Functions task and any boto3 ``invoke``. They do not apply to the stack's stand-ins for
event sources (API Gateway front, EventBridge targets, SQS pollers), whose AWS-side retries
(asynchronous invoke retries, ...) are not emulated. DynamoDB faults apply to the calls the
IAM guard checks (a function's or a state machine's), so they need ``enforce_iam``.

Reproducible: a seeded random stream for Lambda invokes and one for DynamoDB requests decide
every draw, so the n-th invoke (request) of a run meets the same fault in every run with that
seed (with concurrent executions, which call comes n-th can vary).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from moto.core.botocore_stubber import MockRawResponse

from .iam_guard import current_principal
from .iam_policy import Role

KINDS = ("lambda_throttle", "lambda_crash", "lambda_timeout", "dynamodb_throttle")
LAMBDA_KINDS = ("lambda_throttle", "lambda_crash", "lambda_timeout")

# What the dispatcher does with one Invoke.
LambdaFault = Literal["throttle", "crash_before", "crash_after", "timeout"]

DYNAMODB_THROTTLES = {
    "ProvisionedThroughputExceededException": (
        "Throughput exceeds the current capacity of your table or index. DynamoDB is "
        "automatically scaling your table or index so please try again shortly. If exceptions "
        "persist, check if you have a hot key."
    ),
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
}
_HANDLER_ID = "videojobs-local-aws-faults"


@dataclass(frozen=True)
class AwsFaults:
    """Which AWS-side faults to inject and how often.

    ``rate`` is the share (0-1) of the calls each kind applies to that meet a fault: Lambda
    Invokes meet one of the enabled Lambda kinds, DynamoDB requests a throttle.
    """

    rate: float = 0.0
    kinds: frozenset[str] = frozenset(KINDS)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, not {self.rate}")
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        object.__setattr__(self, "kinds", frozenset(self.kinds))

    @classmethod
    def from_percent(cls, percent: float, *, kinds: str | None = None, seed: int = 0) -> AwsFaults:
        """From a percentage and a comma-separated list of kinds (None: all), as CLIs take them."""
        chosen = KINDS if kinds is None else tuple(k.strip() for k in kinds.split(",") if k)
        return cls(rate=percent / 100, kinds=frozenset(chosen), seed=seed)

    @property
    def active(self) -> bool:
        return self.rate > 0 and bool(self.kinds)


@dataclass
class FaultInjector:
    """Draws faults for `AwsFaults`, counts them, and answers DynamoDB requests it throttles."""

    faults: AwsFaults
    injected: Counter[str] = field(default_factory=Counter)
    draws: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        # One stream per target, so Lambda faults do not depend on how many DynamoDB requests
        # came between two invokes.
        self._rngs = {
            target: random.Random(f"{self.faults.seed}:{target}")
            for target in ("lambda", "dynamodb")
        }
        self._lock = threading.Lock()
        self._enabled = True

    def stop(self) -> None:
        """No more faults, also from clients that keep the DynamoDB handler registered."""
        self._enabled = False

    def _draw(self, target: str, kinds: tuple[str, ...]) -> tuple[str, random.Random] | None:
        enabled = [kind for kind in kinds if kind in self.faults.kinds]
        if not self._enabled or not enabled or self.faults.rate <= 0:
            return None
        rng = self._rngs[target]
        with self._lock:
            self.draws[target] += 1
            if rng.random() >= self.faults.rate:
                return None
            kind = rng.choice(enabled)
            self.injected[kind] += 1
            # A generator of its own for the details, so they don't shift later draws.
            return kind, random.Random(rng.random())

    def lambda_fault(self) -> LambdaFault | None:
        """The fault (if any) the next Invoke meets."""
        drawn = self._draw("lambda", LAMBDA_KINDS)
        if drawn is None:
            return None
        kind, details = drawn
        if kind == "lambda_throttle":
            return "throttle"
        if kind == "lambda_timeout":
            return "timeout"
        return "crash_before" if details.random() < 0.5 else "crash_after"

    def dynamodb_fault(self) -> str | None:
        """The throttling error code (if any) the next DynamoDB request meets."""
        drawn = self._draw("dynamodb", ("dynamodb_throttle",))
        if drawn is None:
            return None
        return drawn[1].choice(sorted(DYNAMODB_THROTTLES))

    # -- DynamoDB, through the IAM guard's call hooks

    def dynamodb_hook(
        self,
        client: BaseClient,
        operation: str,
        params: Any,
        role: Role,
        call: Callable[[], Any],
    ) -> Any:
        """A call hook: arms the client's HTTP layer before a DynamoDB call goes out."""
        if client.meta.service_model.service_name == "dynamodb":
            client.meta.events.register(
                "before-send.dynamodb", self._before_send, unique_id=_HANDLER_ID
            )
        return call()

    def _before_send(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        # Same thread as the caller: only the stack's functions and state machines meet faults.
        if current_principal() is None:
            return None
        code = self.dynamodb_fault()
        if code is None:
            return None
        return throttle_response(request.url, code)


def throttle_response(url: str, code: str) -> AWSResponse:
    """DynamoDB's HTTP answer to a throttled request."""
    body = json.dumps(
        {
            "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
            "message": DYNAMODB_THROTTLES[code],
        }
    ).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
        "Content-Length": str(len(body)),
    }
    return AWSResponse(url, 400, headers, MockRawResponse(body))
