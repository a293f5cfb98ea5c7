"""``Idempotency-Key``: a retried create returns what the first attempt made (a job, a batch).

Built on Powertools idempotency over the idempotency table (records keyed on tenant + key,
kept 24 hours: a TTL attribute, and Powertools treats an expired record as absent since TTL
deletes late). The record also holds a hash of the *normalised* request (what the job will
be, not the bytes sent), so the same fields sent as JSON or as multipart are the same body,
while the same key with anything different is a conflict (409 ``idempotency_key_reused``).

A duplicate that arrives while the first request is still creating its job waits briefly for
it and then answers with the same job; only if the first takes longer than that is it told
to retry (409 ``idempotency_request_in_progress``, as Stripe and OpenAI answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import (
    PydanticSerializer,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from videojobs.adapters import aws
from videojobs.models.errors import IdempotencyConflictError, InvalidRequestError
from videojobs.models.job import Job
from videojobs.settings import get_settings

RECORD_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_CHARS = 255
# How long a duplicate waits for the request it repeats; creating a job takes well under this.
IN_PROGRESS_WAIT_SECONDS = 5.0
_IN_PROGRESS_POLL_SECONDS = 0.2

Created = TypeVar("Created", bound=BaseModel)


@dataclass(frozen=True)
class IdempotencyKey:
    """A caller's key, and the invocation's context (so a crashed attempt's lock lapses)."""

    value: str
    lambda_context: LambdaContext | None = None


def checked_key(value: str) -> str:
    """The header value if usable as a key; otherwise :class:`InvalidRequestError`."""
    if not 1 <= len(value) <= MAX_KEY_CHARS:
        raise InvalidRequestError(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters long.",
            code="invalid_idempotency_key",
        )
    if not value.isascii() or not value.isprintable():
        raise InvalidRequestError(
            "Idempotency-Key must be printable ASCII.", code="invalid_idempotency_key"
        )
    return value


@lru_cache(maxsize=4)
def _layer(table_name: str, client: Any) -> DynamoDBPersistenceLayer:
    # One layer per table and client: building one registers a hook on the client.
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)


def _persistence() -> BasePersistenceLayer:
    return _layer(get_settings().idempotency_table, aws.dynamodb_client())


def _config(key: IdempotencyKey) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_TTL_SECONDS,
        hash_function="sha256",
        lambda_context=key.lambda_context,
    )


def _create_once(*, data: Mapping[str, Any], create: Callable[[], BaseModel]) -> BaseModel:
    """The function Powertools guards; ``data`` is hashed, never used."""
    return create()


def run_once(
    tenant_id: str,
    key: IdempotencyKey,
    request: Mapping[str, Any],
    create: Callable[[], Job],
) -> Job:
    """``create()`` once per tenant and key; a repeat with the same ``request`` gets its job.

    ``request`` is the normalised request (JSON-serialisable). A repeat with a different one
    raises :class:`IdempotencyConflictError`. When ``create`` fails, the key is released.
    """
    return run_once_as(Job, tenant_id, key, request, create)


def run_once_as(
    model: type[Created],
    tenant_id: str,
    key: IdempotencyKey,
    request: Mapping[str, Any],
    create: Callable[[], Created],
) -> Created:
    """:func:`run_once` for a create that answers with another ``model`` (a batch).

    Keys are shared by every create of a tenant: ``request`` should name its operation, so
    a key reused across operations is a conflict rather than another operation's answer.
    """
    guarded = idempotent_function(
        _create_once,
        data_keyword_argument="data",
        persistence_store=_persistence(),
        config=_config(key),
        output_serializer=PydanticSerializer(model=model),
    )
    data = {"key": f"{tenant_id}\n{key.value}", "request": dict(request)}
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    while True:
        try:
            created: Created = guarded(data=data, create=create)
            return created
        except IdempotencyValidationError:
            raise IdempotencyConflictError(
                "This Idempotency-Key was already used with a different request; "
                "use a new key for a new request.",
                code="idempotency_key_reused",
            ) from None
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() >= deadline:
                raise IdempotencyConflictError(
                    "A request with this Idempotency-Key is still being processed; "
                    "retry it shortly.",
                    code="idempotency_request_in_progress",
                ) from None
            time.sleep(_IN_PROGRESS_POLL_SECONDS)
