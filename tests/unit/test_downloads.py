"""Stored files and their download links: the stored type is fixed per variant whatever the
provider says, and presigned links download as attachments of that type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from job_factory import JOB_ID, make_job

from videojobs.adapters import aws
from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic import store_assets
from videojobs.models.job import Job, JobStatus, StoredAsset
from videojobs.models.provider_types import ContentVariant
from videojobs.settings import get_settings


class HostileStream:
    """A download whose provider claims a type a browser would render."""

    content_length = 4
    content_type = "text/html; charset=utf-8"
    request_id = None

    def iter_chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"<h1>"


class FakeProvider:
    @contextmanager
    def stream_content(self, video_id: str, variant: ContentVariant) -> Iterator[HostileStream]:
        yield HostileStream()


def test_stored_files_get_their_variants_type_whatever_the_provider_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a finished job whose provider answers every download as text/html
    running = make_job(JobStatus.IN_PROGRESS, provider_video_id="video_p")
    monkeypatch.setattr(jobs, "get", lambda job_id: running)
    monkeypatch.setattr(store_assets, "get_provider", lambda **_: FakeProvider())
    stored_types: dict[str, str] = {}

    def store_stream(key: str, chunks: Iterator[bytes], **kwargs: Any) -> StoredAsset:
        stored_types[key.rsplit("/", 1)[-1]] = kwargs["content_type"]
        return StoredAsset(
            key=key, bytes=4, content_type=kwargs["content_type"], sha256="s", crc32="c"
        )

    def record_assets(job_id: str, files: dict[str, StoredAsset]) -> Job:
        return running.with_changes(assets=files)

    monkeypatch.setattr(assets, "store_stream", store_stream)
    monkeypatch.setattr(jobs, "record_assets", record_assets)
    # When the store step runs
    done = store_assets.store_assets(JOB_ID)
    # Then each file is stored as what it is, never as the provider's text/html
    assert stored_types == {
        "video.mp4": "video/mp4",
        "thumbnail.webp": "image/webp",
        "spritesheet.jpg": "image/jpeg",
    }
    assert {v: a.content_type for v, a in done.assets.items()} == {
        "video": "video/mp4",
        "thumbnail": "image/webp",
        "spritesheet": "image/jpeg",
    }


@pytest.fixture
def signer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Presigning is local arithmetic: fake credentials, no endpoint is called."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ASSETS_BUCKET", "assets-test")
    get_settings.cache_clear()
    aws.reset_clients()
    yield
    aws.reset_clients()
    get_settings.cache_clear()


@pytest.mark.usefixtures("signer")
@pytest.mark.parametrize(
    ("variant", "kind", "filename"),
    [
        ("video", "video/mp4", f"{JOB_ID}.mp4"),
        ("thumbnail", "image/webp", f"{JOB_ID}_thumbnail.webp"),
        ("spritesheet", "image/jpeg", f"{JOB_ID}_spritesheet.jpg"),
    ],
)
def test_a_download_link_is_an_attachment_of_its_variants_type(
    variant: ContentVariant, kind: str, filename: str
) -> None:
    key = assets.asset_key("acme", JOB_ID, variant)
    url = assets.asset_download_url(key, JOB_ID, variant)
    query = parse_qs(urlsplit(url).query)
    assert query["response-content-disposition"] == [f'attachment; filename="{filename}"']
    assert query["response-content-type"] == [kind]
