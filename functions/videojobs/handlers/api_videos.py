"""Reading, listing, cancelling and deleting jobs: ``GET /v1/videos[/{id}[/content]]``,
``POST /v1/videos/{id}/cancel``, ``DELETE /v1/videos/{id}``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError

from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.handlers.api_common import NO_STORE, checked_job_id, json_response, tenant_id
from videojobs.logic.apply_provider_status import refresh_progress
from videojobs.logic.cancel_job import cancel_job, delete_job
from videojobs.logic.queue_position import queue_positions
from videojobs.logic.video_view import video_resource
from videojobs.models.api_list import LIST_LIMIT_MAX, ListVideosQuery, VideoDeleted, VideoList
from videojobs.models.errors import InvalidRequestError, JobNotFoundError, VariantUnavailableError
from videojobs.models.job import Job, JobStatus
from videojobs.models.provider_types import CONTENT_VARIANTS, ContentVariant

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

_LIST_PARAM_MESSAGES = {
    "after": "after must be the id of one of your videos.",
    "limit": f"limit must be an integer from 1 to {LIST_LIMIT_MAX}.",
    "order": "order must be 'asc' or 'desc'.",
    "status": "status must be one of: queued, in_progress, completed, failed, cancelled.",
    "batch_id": "batch_id must be 1 to 128 characters.",
}


def _query(event: APIGatewayProxyEvent, allowed: frozenset[str]) -> dict[str, str]:
    """The query string as single values; a repeated or unknown parameter is a 400."""
    for name, values in (event.multi_value_query_string_parameters or {}).items():
        if len(values or []) > 1:
            raise InvalidRequestError(
                f"Query parameter '{name[:64]}' was given more than once.",
                param=name[:64],
                code="invalid_value",
            )
    params = dict(event.query_string_parameters or {})
    for name in params:
        if name not in allowed:
            raise InvalidRequestError(
                f"Unrecognized query parameter: '{name[:64]}'.",
                param=name[:64],
                code="unknown_parameter",
            )
    return params


def _list_query(event: APIGatewayProxyEvent) -> ListVideosQuery:
    params = _query(event, frozenset(ListVideosQuery.model_fields))
    try:
        return ListVideosQuery.model_validate(params)
    except ValidationError as exc:
        param = str(exc.errors()[0]["loc"][0])
        raise InvalidRequestError(
            _LIST_PARAM_MESSAGES[param], param=param, code="invalid_value"
        ) from None


def _cursor(tenant: str, after: str | None) -> Job | None:
    """The job a page starts after. A deleted job still marks a place in the listing, so a
    client deleting while it pages is not thrown off; another tenant's job is unknown."""
    if after is None:
        return None
    try:
        job = jobs.get(after)
    except JobNotFoundError:
        job = None
    if job is None or job.tenant_id != tenant:
        raise InvalidRequestError(
            _LIST_PARAM_MESSAGES["after"], param="after", code="invalid_value"
        )
    return job


@router.get("/v1/videos")
def list_videos() -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    query = _list_query(event)
    found = jobs.list_for_tenant(
        tenant,
        after=_cursor(tenant, query.after),
        limit=query.limit,
        descending=query.order == "desc",
        status=JobStatus(query.status) if query.status else None,
        batch_id=query.batch_id,
    )
    # Listing never asks the provider for progress: a page would cost one call per job. The
    # queue positions are read once for the page, not once per job.
    positions = queue_positions(found.jobs)
    page = VideoList(
        data=[video_resource(job, positions) for job in found.jobs],
        first_id=found.jobs[0].job_id if found.jobs else None,
        last_id=found.last_id,
        has_more=found.has_more,
    )
    return json_response(page)


@router.get("/v1/videos/<video_id>")
def get_video(video_id: str) -> Response[str]:
    job = jobs.get_for_tenant(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(video_resource(refresh_progress(job)))


@router.delete("/v1/videos/<video_id>")
def delete_video(video_id: str) -> Response[str]:
    job = delete_job(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(VideoDeleted(id=job.job_id))


@router.post("/v1/videos/<video_id>/cancel")
def cancel_video(video_id: str) -> Response[str]:
    job = cancel_job(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(video_resource(job))


@router.get("/v1/videos/<video_id>/content")
def get_content(video_id: str) -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    variant = _query(event, frozenset({"variant"})).get("variant", "video")
    if variant not in CONTENT_VARIANTS:
        raise InvalidRequestError(
            f"variant must be one of: {', '.join(CONTENT_VARIANTS)}.",
            param="variant",
            code="invalid_value",
        )
    job = jobs.get_for_tenant(tenant, checked_job_id(video_id))
    chosen: ContentVariant = variant
    if job.status is JobStatus.COMPLETED and chosen not in job.assets and "video" in job.assets:
        raise VariantUnavailableError(
            f"Video '{video_id}' has no {chosen}: {job.request.model} makes the video alone."
        )
    if job.status is not JobStatus.COMPLETED or chosen not in job.assets:
        raise InvalidRequestError(
            f"Video '{video_id}' has no content (status: {job.status.value}).",
            code="video_failed" if job.status.is_terminal else "video_not_ready",
        )
    url = assets.asset_download_url(job.assets[chosen].key, job.job_id, chosen)
    return Response(status_code=302, headers={"Location": url, **NO_STORE}, body="")
