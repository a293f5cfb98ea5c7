"""Webhook events the provider sends (Standard Webhooks envelope, OpenAI event body)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256)
    object: Literal["event"] = "event"
    created_at: int
    data: _EventData


class VideoCompletedEvent(_Event):
    type: Literal["video.completed"]


class VideoFailedEvent(_Event):
    type: Literal["video.failed"]


ProviderEvent = Annotated[VideoCompletedEvent | VideoFailedEvent, Field(discriminator="type")]
"""The provider events that concern jobs; other types are acknowledged and ignored."""

KNOWN_EVENT_TYPES = frozenset({"video.completed", "video.failed"})
