"""The provider's request budget: one token bucket in the control table, shared by every
function that calls the provider.

The item ``ratelimit#provider`` holds ``tokens`` (fractional), ``updated_at`` (epoch ms) and
``version``. The bucket holds at most ``capacity`` tokens and refills continuously at
``rate_per_minute / 60`` tokens a second, which is how the provider's own per-minute limit
replenishes: matching it means our requests never outrun it.

A taker reads the item, refills it for the time passed, and writes the result back
conditional on ``version`` being the one it read. Two takers that read the same state cannot
both spend the same token: the second write is refused and that taker reads again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.adapters.dal.dynamo import conditional_failed
from videojobs.settings import get_settings

BUCKET_KEY = "ratelimit#provider"

# A refused write means another taker just changed the bucket; after this many in a row the
# caller is told to wait a moment instead of hammering the item.
_MAX_CONFLICTS = 5
_CONTENDED_WAIT = 0.05
_TOKEN_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class BucketState:
    """The stored bucket; ``version`` 0 means the item does not exist yet (a full bucket)."""

    tokens: float
    updated_at_ms: int
    version: int


def refilled(state: BucketState, now_ms: int, rate_per_minute: float, capacity: float) -> float:
    """Tokens in the bucket at ``now_ms``: what was left plus the refill since, capped.

    An ``updated_at`` in the future (a pause after a 429, or another machine's clock slightly
    ahead) refills nothing until that moment comes.
    """
    elapsed_ms = max(0, now_ms - state.updated_at_ms)
    return min(capacity, state.tokens + elapsed_ms * rate_per_minute / 60_000)


def _table() -> Any:
    return aws.dynamodb().Table(get_settings().control_table)


class TokenBucket:
    """The shared bucket for ``rate_per_minute`` requests, holding up to ``capacity`` tokens
    (default: one minute's worth, as the provider's own limit does)."""

    def __init__(
        self, rate_per_minute: float, capacity: float | None = None, key: str = BUCKET_KEY
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate_per_minute = float(rate_per_minute)
        self.capacity = float(capacity if capacity is not None else rate_per_minute)
        if self.capacity < 1:
            raise ValueError("capacity must hold at least one token")
        self.key = key

    def read(self) -> BucketState:
        """The bucket as stored (consistent read); a missing item is a full bucket."""
        item = _table().get_item(Key={"pk": self.key}, ConsistentRead=True).get("Item") or {}
        return BucketState(
            tokens=float(item.get("tokens", self.capacity)),
            updated_at_ms=int(item.get("updated_at", 0)),
            version=int(item.get("version", 0)),
        )

    def try_take(self, now_ms: int, *, keep: float = 0.0) -> float:
        """Take one token at ``now_ms`` if the bucket would still hold ``keep`` after it.

        Returns 0.0 when a token was taken, otherwise the seconds until one could be (an
        estimate: other takers may get there first).
        """
        for _ in range(_MAX_CONFLICTS):
            state = self.read()
            available = refilled(state, now_ms, self.rate_per_minute, self.capacity)
            needed = 1.0 + keep
            if available < needed:
                until_refill = max(0, state.updated_at_ms - now_ms) / 1000
                return until_refill + (needed - available) * 60 / self.rate_per_minute
            # Never move updated_at backwards: a clock behind the last writer's must not be
            # refilled twice for the same moment later.
            if self._commit(state, available - 1.0, max(now_ms, state.updated_at_ms)):
                return 0.0
        return _CONTENDED_WAIT

    def pause(self, until_ms: int) -> None:
        """Empty the bucket until ``until_ms`` (the provider said 429 with a Retry-After).

        Only ever moves the pause later; the version bump makes takers that read the bucket
        before the pause write again.
        """
        try:
            _table().update_item(
                Key={"pk": self.key},
                UpdateExpression=(
                    "SET tokens = :zero, updated_at = :until,"
                    " version = if_not_exists(version, :zero) + :one"
                ),
                ConditionExpression="attribute_not_exists(updated_at) OR updated_at < :until",
                ExpressionAttributeValues={":zero": 0, ":one": 1, ":until": until_ms},
            )
        except ClientError as exc:
            if not conditional_failed(exc):
                raise

    def _commit(self, state: BucketState, tokens: float, updated_at_ms: int) -> bool:
        if state.version == 0:
            condition = "attribute_not_exists(version)"
            values: dict[str, Any] = {}
        else:
            condition = "version = :read"
            values = {":read": state.version}
        try:
            _table().update_item(
                Key={"pk": self.key},
                UpdateExpression="SET tokens = :tokens, updated_at = :at, version = :next",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":tokens": Decimal(repr(max(0.0, tokens))).quantize(_TOKEN_PLACES, ROUND_DOWN),
                    ":at": updated_at_ms,
                    ":next": state.version + 1,
                    **values,
                },
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True
