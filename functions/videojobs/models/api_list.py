"""Listing and deleting videos: ``GET /v1/videos``, ``DELETE /v1/videos/{id}`` (OpenAI shapes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from videojobs.models.api import VideoResource

LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 20

ListStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled"]


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
