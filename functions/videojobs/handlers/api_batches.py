"""``POST /v1/video_batches`` and ``GET /v1/video_batches/{id}``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from videojobs.handlers.api_common import (
    error_response,
    header,
    json_body,
    json_response,
    tenant_id,
)
from videojobs.logic.batches import create_batch, get_batch
from videojobs.logic.idempotency import IdempotencyKey, checked_key
from videojobs.models.errors import BatchNotFoundError

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.post("/v1/video_batches")
def create_video_batch() -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    value = header(event, "idempotency-key")
    # Checked as POST /v1/videos checks it; the records are the same (see logic.idempotency).
    key = None if value is None else IdempotencyKey(checked_key(value), router.lambda_context)
    return json_response(create_batch(tenant, json_body(event), idempotency_key=key))


@router.get("/v1/video_batches/<batch_id>")
def get_video_batch(batch_id: str) -> Response[str]:
    return json_response(get_batch(tenant_id(router.current_event), batch_id))


@router.exception_handler(  # type: ignore[untyped-decorator]
    BatchNotFoundError
)
def _batch_not_found(exc: BatchNotFoundError) -> Response[str]:
    return error_response(404, str(exc))
