"""Reading, listing, cancelling and deleting jobs: ``GET /v1/videos[/{id}[/content]]``,
``POST /v1/videos/{id}/cancel``, ``DELETE /v1/videos/{id}``."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.handlers.api_common import (
    NO_STORE,
    VIDEO_ID_PATTERN,
    VideoId,
    checked_job_id,
    json_response,
    tenant_id,
)
from videojobs.handlers.api_openapi import answers, ok
from videojobs.logic.apply_provider_status import refresh_progress
from videojobs.logic.cancel_job import cancel_job, delete_job
from videojobs.logic.queue_position import queue_positions
from videojobs.logic.video_view import video_resource
from videojobs.models.api import VideoResource
from videojobs.models.api_list import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    ListStatus,
    VideoDeleted,
    VideoList,
)
from videojobs.models.errors import InvalidRequestError, JobNotFoundError, VariantUnavailableError
from videojobs.models.job import Job, JobStatus
from videojobs.models.provider_types import ContentVariant

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

_UNKNOWN_CURSOR = "after must be the id of one of your videos."
_LIST_PARAMETERS = frozenset({"after", "limit", "order", "status", "batch_id"})


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
        raise InvalidRequestError(_UNKNOWN_CURSOR, param="after", code="invalid_value")
    return job


@router.get(
    "/v1/videos",
    operation_id="listVideos",
    tags=["videos"],
    summary="List your videos",
    description=(
        "One page of your videos (cursor paging as in the OpenAI API: pass the last id as "
        "`after`). Deleted videos never appear; progress shown is as last recorded (a "
        "single-video read refreshes it)."
    ),
    responses=answers(
        ok(VideoList, "One page of videos."),
        bad_request="A well-formed `after` is a 400 too when it is not one of your videos.",
    ),
)
def list_videos(
    after: Annotated[
        str | None,
        Query(
            pattern=VIDEO_ID_PATTERN,
            description="The id of the last video of the previous page (one of yours).",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=LIST_LIMIT_MAX, description="How many videos to return, 1 to 100."),
    ] = LIST_LIMIT_DEFAULT,
    order: Annotated[
        Literal["asc", "desc"],
        Query(description="By creation time: newest first (desc) or oldest first (asc)."),
    ] = "desc",
    status: Annotated[ListStatus | None, Query(description="Only videos in this status.")] = None,
    batch_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Only videos of this batch.")
    ] = None,
) -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    _query(event, _LIST_PARAMETERS)
    found = jobs.list_for_tenant(
        tenant,
        after=_cursor(tenant, after),
        limit=limit,
        descending=order == "desc",
        status=JobStatus(status) if status else None,
        batch_id=batch_id,
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


@router.get(
    "/v1/videos/<video_id>",
    operation_id="retrieveVideo",
    tags=["videos"],
    summary="Retrieve a video",
    description=(
        "The job with its current progress; once completed, `assets` holds short-lived "
        "download URLs."
    ),
    responses=answers(ok(VideoResource, "The video."), 404),
)
def get_video(video_id: VideoId) -> Response[str]:
    job = jobs.get_for_tenant(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(video_resource(refresh_progress(job)))


@router.delete(
    "/v1/videos/<video_id>",
    operation_id="deleteVideo",
    tags=["videos"],
    summary="Cancel and delete a video",
    description=(
        "A running job is cancelled (its workflow stopped, the provider's video deleted, "
        "`video.cancelled` published); any job's stored files are deleted. Afterwards the id "
        "is not found."
    ),
    responses=answers(ok(VideoDeleted, "The video was deleted."), 404),
)
def delete_video(video_id: VideoId) -> Response[str]:
    job = delete_job(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(VideoDeleted(id=job.job_id))


@router.post(
    "/v1/videos/<video_id>/cancel",
    operation_id="cancelVideo",
    tags=["videos"],
    summary="Cancel a running video, keeping its record",
    description=(
        "Extension. A running job is cancelled as by `DELETE` (workflow stopped, provider "
        "video deleted, `video.cancelled` published) but stays readable and listed with "
        "`status: cancelled`. A job that has already ended is answered unchanged, its files "
        "kept: cancelling never deletes a video."
    ),
    responses=answers(ok(VideoResource, "The video as it is now (cancelled or ended)."), 404),
)
def cancel_video(video_id: VideoId) -> Response[str]:
    job = cancel_job(tenant_id(router.current_event), checked_job_id(video_id))
    return json_response(video_resource(job))


@router.get(
    "/v1/videos/<video_id>/content",
    operation_id="downloadVideoContent",
    tags=["videos"],
    summary="Download a completed video's file",
    description="Redirects to a short-lived URL of the stored file.",
    responses=answers(
        {
            302: {
                "description": "Found: the file is at `Location`.",
                "headers": {
                    "Location": {
                        "description": "A presigned URL, valid for a few minutes.",
                        "schema": {"type": "string", "format": "uri"},
                    }
                },
                "content": {},
            }
        },
        404,
        bad_request=(
            "A well-formed request is a 400 too while the video has no file: "
            "`video_not_ready` until it is completed, `video_failed` once it failed or was "
            "cancelled."
        ),
    ),
)
def get_content(
    video_id: VideoId,
    variant: Annotated[ContentVariant, Query(description="Which file.")] = "video",
) -> Response[str]:
    event = router.current_event
    tenant = tenant_id(event)
    _query(event, frozenset({"variant"}))
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
