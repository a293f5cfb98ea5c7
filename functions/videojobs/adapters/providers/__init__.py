"""The video provider port: what the logic layer may ask of a provider.

Importing this package stays cheap on purpose: the webhook Lambda imports it for the types
and must not pay for (or ship) the HTTP stack. The httpx-based client is only imported when
:func:`build_provider` runs.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from videojobs.models.provider import (
    ContentVariant,
    CreateVideoRequest,
    DeletedVideo,
    ListOrder,
    ModerationResult,
    ProviderConfig,
    ProviderVideo,
    RetrievedVideo,
    VideoPage,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["ContentStream", "ProviderConfig", "VideoProvider", "build_provider"]


@runtime_checkable
class ContentStream(Protocol):
    """An open download of one content variant."""

    content_length: int | None
    """Bytes the provider announced (None when it did not); the stream enforces it."""
    content_type: str | None
    request_id: str | None

    def iter_chunks(self, chunk_size: int | None = ...) -> Iterator[bytes]:
        """Yield the body without holding it in memory; iterate once.

        ``None``: the pieces as they arrive, uncopied; an int: chunks of exactly that size
        (the last may be shorter).
        """
        ...


@runtime_checkable
class VideoProvider(Protocol):
    """The operations of the OpenAI Videos protocol, failing only with ``ProviderError``s."""

    def create(self, request: CreateVideoRequest) -> ProviderVideo:
        """Start rendering a video (billed)."""
        ...

    def retrieve(self, video_id: str) -> RetrievedVideo:
        """Current state of a video, with the provider's polling hint."""
        ...

    def list(
        self,
        after: str | None = None,
        limit: int | None = None,
        order: ListOrder | None = None,
    ) -> VideoPage:
        """One page of videos."""
        ...

    def delete(self, video_id: str) -> DeletedVideo:
        """Delete a video and its assets at the provider."""
        ...

    def remix(self, video_id: str, prompt: str) -> ProviderVideo:
        """Start a new video from a completed one (billed)."""
        ...

    def moderate(self, text: str) -> ModerationResult:
        """Whether the provider's moderation flags ``text`` (free; creates nothing)."""
        ...

    def stream_content(
        self, video_id: str, variant: ContentVariant = "video"
    ) -> AbstractContextManager[ContentStream]:
        """Open a download; the connection is released when the block exits."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def build_provider(
    config: ProviderConfig,
    *,
    redirect_guard: Callable[[str, str, int], Sequence[str]] | None = None,
) -> VideoProvider:
    """Build the provider client for ``config`` (the only protocol today: OpenAI Videos).

    ``redirect_guard`` judges a download redirected off the provider's origin (see
    ``OpenAIVideosClient``); without one such a redirect is refused.
    """
    # Imported here so that importing this package does not import httpx.
    from videojobs.adapters.providers.openai_videos import OpenAIVideosClient

    return OpenAIVideosClient(config, redirect_guard=redirect_guard)
