"""``POST /v1/video_batches`` and ``GET /v1/video_batches/{id}``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from videojobs.handlers.api_common import (
    IDEMPOTENCY_KEY_HEADER,
    error_response,
    json_body,
    json_response,
    tenant_id,
)
from videojobs.handlers.api_openapi import answers, links, ok, request_body
from videojobs.logic.batches import create_batch, get_batch
from videojobs.logic.idempotency import IdempotencyKey, checked_key
from videojobs.models.batches import BatchResource, CreateBatchBody
from videojobs.models.errors import BatchNotFoundError

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

BatchId = Annotated[
    str,
    Path(
        pattern=r"^vbatch_[0-9a-f]{32}$",
        description="The batch's id, as returned when it was created.",
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        **IDEMPOTENCY_KEY_HEADER,
        description=(
            "Makes retries safe for 24 hours: the same key and body return the same batch and "
            "create no more jobs; the same key with another body is a 409."
        ),
    ),
]


@router.post(
    "/v1/video_batches",
    operation_id="createVideoBatch",
    tags=["batches"],
    summary="Create a batch of video jobs",
    description=(
        "One of three shapes: `requests` (a list of create bodies), `prompt` + `n` (variations "
        "of one prompt, other create fields shared), or `brief` + `presets` (one brief per "
        "preset). Validated all-or-nothing; a batch over a budget is refused whole (429). With "
        "an Idempotency-Key, the same key and body return the same batch; the same key with "
        "another body is a 409."
    ),
    responses=answers(
        ok(
            BatchResource,
            "The batch and its queued jobs.",
            links("batch_id", "retrieveVideoBatch"),
        ),
        409,
        429,
        503,
        bad_request=(
            "A body the schema allows is a 400 too when it is none of the three shapes, mixes "
            "them, or any job of it would be refused as `POST /v1/videos` refuses it (the "
            "`error.param` names the job and field)."
        ),
    ),
    openapi_extensions=request_body(CreateBatchBody),
)
def create_video_batch(idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    # Checked as POST /v1/videos checks it; the records are the same (see logic.idempotency).
    key = (
        None
        if idempotency_key is None
        else IdempotencyKey(checked_key(idempotency_key), router.lambda_context)
    )
    return json_response(create_batch(tenant, json_body(event), idempotency_key=key))


@router.get(
    "/v1/video_batches/<batch_id>",
    operation_id="retrieveVideoBatch",
    tags=["batches"],
    summary="Retrieve a batch's progress",
    description="Counts per status, percentage complete and the job ids.",
    responses=answers(ok(BatchResource, "The batch."), 404),
)
def get_video_batch(batch_id: BatchId) -> Response[str]:
    return json_response(get_batch(tenant_id(router.current_event), batch_id))


@router.exception_handler(  # type: ignore[untyped-decorator]
    BatchNotFoundError
)
def _batch_not_found(exc: BatchNotFoundError) -> Response[str]:
    return error_response(404, str(exc))
