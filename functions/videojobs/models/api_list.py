"""Listing and deleting videos: ``GET /v1/videos``, ``DELETE /v1/videos/{id}`` (OpenAI shapes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from videojobs.models.api import VideoResource

LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 20

ListStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled"]


class ListVideosQuery(BaseModel):
    """The query string of ``GET /v1/videos``. Unknown parameters are refused, so a misspelt
    filter answers 400 instead of silently listing everything."""

    model_config = ConfigDict(extra="forbid")

    after: Annotated[
        str | None,
        Field(
            pattern=r"^video_[0-9a-f]{32}$",
            description="The id of the last video of the previous page (one of yours).",
        ),
    ] = None
    limit: Annotated[
        int,
        Field(ge=1, le=LIST_LIMIT_MAX, description="How many videos to return, 1 to 100."),
    ] = LIST_LIMIT_DEFAULT
    order: Annotated[
        Literal["asc", "desc"],
        Field(description="By creation time: newest first (desc) or oldest first (asc)."),
    ] = "desc"
    status: Annotated[ListStatus | None, Field(description="Only videos in this status.")] = None
    batch_id: Annotated[
        str | None,
        Field(min_length=1, max_length=128, description="Only videos of this batch."),
    ] = None


class VideoList(BaseModel):
    """One page of videos, newest first unless ``order=asc``."""

    object: Literal["list"] = "list"
    data: list[VideoResource]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    """What ``DELETE /v1/videos/{id}`` answers; afterwards the id is not found."""

    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
