"""The assets bucket: the only module that talks to S3.

Provider downloads are streamed into S3 by a manual multipart upload: one part is buffered
at a time (memory stays near two parts whatever the video's size, and nothing touches /tmp),
the CRC32 of the whole object is computed as the bytes pass and handed to S3 as a
full-object checksum, so S3 itself refuses an upload whose bytes differ from what we read,
and our own SHA-256 is recorded beside it.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.adapters import aws
from videojobs.models.errors import ProviderTransientError, StorageUnavailableError
from videojobs.models.job import StoredAsset
from videojobs.models.provider_types import ContentVariant
from videojobs.observability import logger
from videojobs.settings import get_settings

if TYPE_CHECKING:
    from videojobs.models.intake import IntakeObject

FILE_NAMES: dict[ContentVariant, str] = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}


# What each variant is, whatever the provider said: a stored type is served to browsers by
# S3, so it must never be one a provider (or whoever answered for it) could choose, such as
# text/html.
CONTENT_TYPES: dict[ContentVariant, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}


def asset_key(tenant_id: str, job_id: str, variant: ContentVariant) -> str:
    """Where a job's file lives: ``videos/<tenant>/<job>/<file>``."""
    return f"videos/{tenant_id}/{job_id}/{FILE_NAMES[variant]}"


def _crc32_b64(value: int) -> str:
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def store_stream(
    key: str,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    expected_bytes: int | None,
    part_bytes: int | None = None,
) -> StoredAsset:
    """Stream ``chunks`` into ``key``; the upload is aborted on any error.

    Raises :class:`ProviderTransientError` when fewer or more bytes arrive than
    ``expected_bytes`` (the provider's Content-Length): a truncated download is retried, never
    stored. Whatever made the upload stop is what propagates, even when the abort fails too.
    """
    settings = get_settings()
    size = part_bytes or settings.multipart_part_bytes
    client = aws.s3()
    upload = client.create_multipart_upload(
        Bucket=settings.bucket,
        Key=key,
        ContentType=content_type,
        ChecksumAlgorithm="CRC32",
        ChecksumType="FULL_OBJECT",
    )
    upload_id = upload["UploadId"]
    parts: list[dict[str, Any]] = []
    crc = 0
    sha = hashlib.sha256()
    total = 0
    buffer = bytearray()

    def send(data: bytes | bytearray) -> None:
        number = len(parts) + 1
        part_crc = _crc32_b64(zlib.crc32(data))
        resp = client.upload_part(
            Bucket=settings.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes(data),
            ChecksumCRC32=part_crc,
        )
        parts.append({"PartNumber": number, "ETag": resp["ETag"], "ChecksumCRC32": part_crc})

    try:
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            sha.update(chunk)
            total += len(chunk)
            buffer += chunk
            while len(buffer) >= size:
                send(buffer[:size])
                del buffer[:size]
        if expected_bytes is not None and total != expected_bytes:
            name = key.rsplit("/", 1)[-1]
            raise ProviderTransientError(
                f"download of {name} ended after {total} of {expected_bytes} bytes"
            )
        if buffer or not parts:
            send(buffer)
        client.complete_multipart_upload(
            Bucket=settings.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumCRC32=_crc32_b64(crc),
            ChecksumType="FULL_OBJECT",
        )
    except BaseException:
        _abort_upload(client, settings.bucket, key, upload_id)
        raise
    # S3 has already checked the CRC32 at completion; the size check is ours, end to end.
    head = client.head_object(Bucket=settings.bucket, Key=key)
    if int(head["ContentLength"]) != total:
        client.delete_object(Bucket=settings.bucket, Key=key)
        raise ProviderTransientError(f"stored {head['ContentLength']} bytes of {total} for {key}")
    return StoredAsset(
        key=key,
        bytes=total,
        content_type=content_type,
        sha256=sha.hexdigest(),
        crc32=_crc32_b64(crc),
    )


def _abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort an unfinished upload, best effort.

    Called while another exception is propagating: that one is what the state machine's Retry
    matches, so a failed abort (a denied permission, a throttle) is logged and swallowed. The
    bucket's lifecycle rule removes an upload left behind after a day.
    """
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError) as exc:
        code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else None
        logger.warning(
            "could not abort a multipart upload; the lifecycle rule removes it",
            extra={"key": key, "error_code": code or type(exc).__name__},
        )


# --- Bedrock output ----------------------------------------------------------------------------

BEDROCK_PREFIX = "bedrock/"
"""Where Bedrock writes each job's output: ``bedrock/<job>/<invocation id>/output.mp4``."""


def bedrock_output_uri(job_id: str) -> str:
    """The ``s3Uri`` a job's invocation writes under (a folder of its own per job)."""
    return f"s3://{get_settings().bucket}/{BEDROCK_PREFIX}{job_id}"


def bedrock_output_key(job_id: str, invocation_id: str, file_name: str) -> str:
    """The key of one file Bedrock wrote for a job's invocation."""
    return f"{BEDROCK_PREFIX}{job_id}/{invocation_id}/{file_name}"


def copy_bedrock_output(source_key: str, key: str, *, content_type: str) -> StoredAsset:
    """Copy a file Bedrock wrote into ``key``, inside the bucket (nothing is downloaded).

    S3 computes the copy's SHA-256 itself, and it is recorded with the byte count. Raises
    :class:`ProviderTransientError` when the source is not there (yet).
    """
    settings = get_settings()
    client = aws.s3()
    try:
        copied = client.copy_object(
            Bucket=settings.bucket,
            Key=key,
            CopySource={"Bucket": settings.bucket, "Key": source_key},
            MetadataDirective="REPLACE",
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _NOT_THERE:
            raise ProviderTransientError(
                f"Bedrock's output {source_key.rsplit('/', 2)[-2]}/... is not in the bucket",
                code="output_missing",
            ) from None
        raise
    digest = copied.get("CopyObjectResult", {}).get("ChecksumSHA256")
    head = client.head_object(Bucket=settings.bucket, Key=key, ChecksumMode="ENABLED")
    digest = digest or head.get("ChecksumSHA256")
    if not digest:
        raise ProviderTransientError(f"S3 recorded no SHA-256 for {key}", code="checksum_missing")
    return StoredAsset(
        key=key,
        bytes=int(head["ContentLength"]),
        content_type=content_type,
        sha256=base64.b64decode(digest).hex(),
    )


def delete_bedrock_output(job_id: str) -> int:
    """Delete what Bedrock wrote for a job (after the copy, or once the job ended)."""
    return _delete_prefix(f"{BEDROCK_PREFIX}{job_id}/")


# --- Downloads ---------------------------------------------------------------------------------


def download_name(job_id: str, variant: ContentVariant) -> str:
    """The file name a download of a job's variant is saved as (``<job>.mp4``, ...)."""
    if variant == "video":
        return f"{job_id}.mp4"
    return f"{job_id}_{FILE_NAMES[variant]}"


def asset_download_url(key: str, job_id: str, variant: ContentVariant) -> str:
    """A short-lived GET URL for a job's stored file, downloaded as an attachment of its
    variant's type (S3 answers with these headers, whatever the object's metadata says)."""
    return presigned_get_url(
        key, filename=download_name(job_id, variant), content_type=CONTENT_TYPES[variant]
    )


def presigned_get_url(
    key: str,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    ttl: int | None = None,
) -> str:
    """A short-lived GET URL for one stored file."""
    settings = get_settings()
    params: dict[str, str] = {"Bucket": settings.bucket, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    if content_type:
        params["ResponseContentType"] = content_type
    return str(
        aws.s3().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl or settings.asset_url_ttl_seconds
        )
    )


def link_origin() -> str:
    """Scheme, host and port of the presigned links :func:`presigned_get_url` hands out."""
    url = aws.s3_unsigned().generate_presigned_url(
        "get_object", Params={"Bucket": get_settings().bucket, "Key": "origin"}
    )
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}"


def delete_job_assets(tenant_id: str, job_id: str) -> int:
    """Delete every stored file of a job; returns how many were deleted."""
    return _delete_prefix(f"videos/{tenant_id}/{job_id}/")


def delete_job_inputs(tenant_id: str, job_id: str) -> int:
    """Delete a job's stored ``input_reference``; returns how many files were deleted."""
    return _delete_prefix(f"inputs/{tenant_id}/{job_id}/")


def _delete_prefix(prefix: str) -> int:
    settings = get_settings()
    client = aws.s3()
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=settings.bucket, Prefix=prefix
    ):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=settings.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def input_key(tenant_id: str, job_id: str, extension: str) -> str:
    """Where a job's ``input_reference`` image is kept (under ``inputs/``)."""
    return f"inputs/{tenant_id}/{job_id}/reference.{extension}"


def store_input(key: str, data: bytes, content_type: str) -> None:
    """Keep a caller's reference image (small: bounded by the API's request size).

    Raises :class:`StorageUnavailableError` when S3 refuses the write.
    """
    try:
        aws.s3().put_object(
            Bucket=get_settings().bucket, Key=key, Body=data, ContentType=content_type
        )
    except ClientError as exc:
        raise StorageUnavailableError("the reference image could not be stored") from exc


def read_input(key: str) -> bytes:
    """A stored reference image."""
    resp = aws.s3().get_object(Bucket=get_settings().bucket, Key=key)
    return bytes(resp["Body"].read())


# --- intake files and their results ----------------------------------------------------------

# The object is gone, or no longer the one the event was about: a newer write has its own event.
_NOT_THERE = frozenset({"NoSuchKey", "NoSuchVersion", "404", "PreconditionFailed", "412"})


def read_intake_object(
    key: str, *, etag: str | None, version_id: str | None, max_bytes: int
) -> IntakeObject | None:
    """The intake file the event named, reading at most ``max_bytes + 1`` bytes of it.

    Read by version when the bucket has versions, otherwise only if its ETag is still the
    event's. None when it was deleted or replaced since (the replacement has its own event).
    """
    # Imported here, not at the top: only intake reads these, and the intake and batch models
    # would cost every function that stores or deletes files at cold start.
    from videojobs.models.intake import IntakeObject

    params: dict[str, Any] = {"Bucket": get_settings().bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    elif etag:
        params["IfMatch"] = f'"{etag}"'
    try:
        resp = aws.s3().get_object(**params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _NOT_THERE:
            return None
        raise
    body = resp["Body"]
    try:
        data = bytes(body.read(max_bytes + 1))
    finally:
        body.close()
    return IntakeObject(
        key=key,
        etag=str(resp["ETag"]).strip('"'),
        version_id=resp.get("VersionId") or version_id,
        size=int(resp["ContentLength"]),
        data=data,
    )


def read_small_object(key: str, *, max_bytes: int) -> bytes | None:
    """A small file (an intake ``_defaults.json``): ``max_bytes + 1`` bytes at most, or None."""
    try:
        resp = aws.s3().get_object(Bucket=get_settings().bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _NOT_THERE:
            return None
        raise
    body = resp["Body"]
    try:
        return bytes(body.read(max_bytes + 1))
    finally:
        body.close()


def write_results(key: str, body: bytes) -> None:
    """Write an intake results manifest (JSON Lines); rewriting the same one is harmless."""
    aws.s3().put_object(
        Bucket=get_settings().bucket, Key=key, Body=body, ContentType="application/x-ndjson"
    )
