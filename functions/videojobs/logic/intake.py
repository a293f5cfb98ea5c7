"""S3 intake: a file dropped under ``intake/<tenant>/`` becomes one batch, one job per valid line.

Formats (by extension, case-insensitive): ``.json`` one create body; ``.jsonl`` one body per
line; ``.csv`` a header row of API field names (metadata as ``metadata.<key>`` columns and/or
a ``metadata`` column holding a JSON object); ``.txt`` one prompt per line. A sibling
``_defaults.json`` (a partial create body, plus an optional ``batch_callback_url``) is merged
under every line of any format. Blank lines are not lines.

Exactly once per line: the batch id is a hash of bucket, key and ETag, and every line is
created under a Powertools idempotency key made of that batch id and the line number, so a
redelivered event or an identical upload finds the same batch and the same jobs; a batch
already sealed is left alone. Jobs are created by the same ``create_job`` the API uses.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from videojobs.adapters.dal import batches, tenants
from videojobs.adapters.storage import assets
from videojobs.logic import idempotency
from videojobs.logic.batches import invalid_body, open_intake_batch, seal_intake_batch
from videojobs.logic.callback_target import validate_callback_url
from videojobs.logic.create_job import create_job
from videojobs.logic.idempotency import IdempotencyKey
from videojobs.models.api import CreateVideoBody
from videojobs.models.errors import BudgetExceededError, InvalidRequestError, VideojobsError
from videojobs.models.intake import (
    DEFAULTS_FILE,
    INTAKE_PREFIX,
    MANIFEST_SUFFIX,
    RESULTS_PREFIX,
    IntakeFileRejectedError,
    IntakeFormat,
    IntakeIncompleteError,
    IntakeObject,
    IntakeSource,
    PlanLine,
    S3ObjectRef,
    manifest_lines,
    render_manifest,
    short_reason,
)
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings

FORMATS: dict[str, IntakeFormat] = {
    "json": "json",
    "jsonl": "jsonl",
    "csv": "csv",
    "txt": "txt",
}
MAX_DEFAULTS_BYTES = 64 * 1024
BATCH_CALLBACK_FIELD = "batch_callback_url"
# Below this much time left no new line is started: the message is handed back and the next
# delivery carries on where this one stopped (every line is idempotent).
MIN_TIME_LEFT_MS = 30_000

# What ``create_job`` raises for a line it refuses (as opposed to a service failure, which
# fails the message so that SQS delivers it again). A line over the tenant's budget is
# refused like a bad one: retrying the file would not make it fit.
LINE_REFUSALS: tuple[type[VideojobsError], ...] = (InvalidRequestError, BudgetExceededError)

_CSV_FIELDS = frozenset(CreateVideoBody.model_fields) - {"metadata", "input_reference"}
_METADATA_COLUMN = "metadata"
_METADATA_PREFIX = "metadata."
_REFERENCE_COLUMN = "input_reference"


class IntakeResult(StrEnum):
    """What became of one intake event."""

    ACCEPTED = "accepted"
    """A batch was created (or continued) and sealed."""
    DUPLICATE = "duplicate"
    """The file's batch was already sealed: a redelivery or an identical upload."""
    REJECTED = "rejected"
    """No job: the file was refused whole, or none of its lines was valid."""
    IGNORED = "ignored"
    """Not an intake file (a defaults file, another extension, outside a tenant folder)."""
    STALE = "stale"
    """The object was deleted or replaced before it was read."""


# --- where a file belongs ----------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeFile:
    """An intake key, understood: whose it is, its format, and where its results go."""

    key: str
    tenant_id: str
    format: IntakeFormat
    manifest_key: str
    defaults_key: str
    refusal: str | None = None
    """Why the file is refused whole before it is read (its key is unsafe), or None."""


# Segments a path-like reader would resolve (``a/../b``, ``a//b``, ``./a``): S3 keeps them
# literally, but a tool that syncs the bucket to disk would not, so such a key could land a
# file, or its results, in another folder than the one its key claims.
_UNSAFE_SEGMENTS = frozenset({"", ".", ".."})


@dataclass(frozen=True)
class Ignored:
    """A key under ``intake/`` that is not a job file, and why."""

    reason: str


def locate(key: str) -> IntakeFile | Ignored:
    """What ``intake/<tenant>/[<folders>/]<name>.<ext>`` means, or why it is not a job file.

    Results go to ``results/<tenant>/[<folders>/]<name>.results.jsonl``.
    """
    if not key.startswith(INTAKE_PREFIX):
        return Ignored("outside intake/")
    parts = key[len(INTAKE_PREFIX) :].split("/")
    if len(parts) < 2 or parts[0] in _UNSAFE_SEGMENTS:
        return Ignored("not inside a tenant folder (intake/<tenant_id>/...)")
    name = parts[-1]
    if name == DEFAULTS_FILE:
        return Ignored("a defaults file, read with the files beside it")
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or extension.lower() not in FORMATS:
        return Ignored("not a .json, .jsonl, .csv or .txt file")
    if any(part in _UNSAFE_SEGMENTS for part in parts[1:-1]):
        # Refused, with its results beside the tenant's other results (a safe key).
        return IntakeFile(
            key=key,
            tenant_id=parts[0],
            format=FORMATS[extension.lower()],
            manifest_key=f"{RESULTS_PREFIX}{parts[0]}/{stem}{MANIFEST_SUFFIX}",
            defaults_key=f"{INTAKE_PREFIX}{parts[0]}/{DEFAULTS_FILE}",
            refusal=(
                "The file's key has an empty, '.' or '..' folder (such as '//' or '/../'); "
                "put it under intake/<tenant_id>/ with plain folder names."
            ),
        )
    folder = "/".join(parts[:-1])
    return IntakeFile(
        key=key,
        tenant_id=parts[0],
        format=FORMATS[extension.lower()],
        manifest_key=f"{RESULTS_PREFIX}{folder}/{stem}{MANIFEST_SUFFIX}",
        defaults_key=f"{INTAKE_PREFIX}{folder}/{DEFAULTS_FILE}",
    )


def intake_batch_id(bucket: str, key: str, etag: str) -> str:
    """The batch id of a file's content: the same object always maps to the same batch."""
    digest = hashlib.sha256("\n".join(("intake", bucket, key, etag)).encode("utf-8"))
    return "vbatch_" + digest.hexdigest()[:32]


# --- reading a file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Defaults:
    """A ``_defaults.json``: create fields every line starts from, and batch-level fields."""

    fields: dict[str, Any] = field(default_factory=dict)
    batch_callback_url: str | None = None


@dataclass(frozen=True)
class ParsedLine:
    """One input line: a valid create body, or the reason it is not one."""

    line: int
    body: CreateVideoBody | None = None
    error: str | None = None


def parse_defaults(data: bytes) -> Defaults:
    """Read a ``_defaults.json``; anything wrong in it refuses the file it applies to."""
    if len(data) > MAX_DEFAULTS_BYTES:
        raise IntakeFileRejectedError(f"{DEFAULTS_FILE} is larger than {MAX_DEFAULTS_BYTES} bytes.")
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise IntakeFileRejectedError(f"{DEFAULTS_FILE} is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise IntakeFileRejectedError(f"{DEFAULTS_FILE} must hold a JSON object.")
    if "prompt" in parsed:
        raise IntakeFileRejectedError(
            f"{DEFAULTS_FILE} may not set 'prompt': every line brings its own."
        )
    callback = parsed.pop(BATCH_CALLBACK_FIELD, None)
    if callback is not None and not isinstance(callback, str):
        raise IntakeFileRejectedError(f"{DEFAULTS_FILE}: '{BATCH_CALLBACK_FIELD}' must be a URL.")
    try:
        # A stand-in prompt: only the defaults themselves are being checked here.
        CreateVideoBody.model_validate({**parsed, "prompt": "-"})
    except ValidationError as exc:
        raise IntakeFileRejectedError(f"{DEFAULTS_FILE}: {invalid_body(exc).message}") from None
    return Defaults(fields=parsed, batch_callback_url=callback)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeFileRejectedError(
            f"The file is not UTF-8 text (invalid byte at offset {exc.start})."
        ) from None


def _json_object(text: str) -> dict[str, Any] | str:
    """The JSON object ``text`` holds, or the reason it is not one."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"Not valid JSON: {exc.msg} (column {exc.colno})."
    except (ValueError, RecursionError):
        return "Not valid JSON."
    if not isinstance(parsed, dict):
        return "Expected a JSON object (a create body)."
    return parsed


def _json_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    if text.strip():
        yield 1, _json_object(text)


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield number, _json_object(raw)


def _txt_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield number, {"prompt": raw.strip()}


def _csv_columns(header: list[str]) -> list[str]:
    columns = [name.strip() for name in header]
    for name in columns:
        known = (
            name in _CSV_FIELDS
            or name in (_METADATA_COLUMN, _REFERENCE_COLUMN)
            or (name.startswith(_METADATA_PREFIX) and len(name) > len(_METADATA_PREFIX))
        )
        if not known:
            allowed = ", ".join(sorted(_CSV_FIELDS | {_METADATA_COLUMN, _REFERENCE_COLUMN}))
            raise IntakeFileRejectedError(
                f"Unknown column '{name[:80]}' in the header (line 1). Columns are named like "
                f"the API fields: {allowed}, and metadata.<key>."
            )
        if columns.count(name) > 1:
            raise IntakeFileRejectedError(f"Column '{name[:80]}' appears twice in the header.")
    return columns


def _csv_body(columns: Sequence[str], row: Sequence[str]) -> dict[str, Any] | str:
    if len(row) > len(columns):
        return f"The row has {len(row)} cells but the header names {len(columns)} columns."
    body: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=False):
        if not cell.strip():
            continue  # an empty cell leaves the field out
        if name == _METADATA_COLUMN:
            pairs = _json_object(cell)
            if isinstance(pairs, str):
                return f"Invalid 'metadata': expected a JSON object. {pairs}"
            for key, value in pairs.items():
                if key in metadata:
                    return f"Metadata key '{key[:64]}' is given twice."
                metadata[key] = value
        elif name.startswith(_METADATA_PREFIX):
            key = name[len(_METADATA_PREFIX) :]
            if key in metadata:
                return f"Metadata key '{key[:64]}' is given twice."
            metadata[key] = cell
        elif name == _REFERENCE_COLUMN:
            body[name] = {"image_url": cell.strip()}
        else:
            body[name] = cell.strip()
    if metadata:
        body["metadata"] = metadata
    return body


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # Strict: an unclosed quote would otherwise swallow the rest of the file as one prompt.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = _csv_columns(header)
        start = reader.line_num + 1
        for row in reader:
            # A quoted cell may span lines: a row is numbered by the line it starts on.
            number, start = start, reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield number, _csv_body(columns, row)
    except csv.Error as exc:
        raise IntakeFileRejectedError(f"Line {reader.line_num}: not valid CSV ({exc}).") from None


_RECORDS = {
    "json": _json_records,
    "jsonl": _jsonl_records,
    "csv": _csv_records,
    "txt": _txt_records,
}


def _merged(defaults: Defaults, record: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**defaults.fields, **record}
    base, own = defaults.fields.get("metadata"), record.get("metadata")
    if isinstance(base, dict) and isinstance(own, dict):
        merged["metadata"] = {**base, **own}
    return merged


def parse_file(
    fmt: IntakeFormat, data: bytes, defaults: Defaults | None = None, *, max_lines: int
) -> list[ParsedLine]:
    """Every line of an intake file, each a valid create body or the reason it is not.

    Raises :class:`IntakeFileRejectedError` when the file cannot be taken at all: not UTF-8,
    broken CSV or an unknown column, no line, or more than ``max_lines`` lines.
    """
    defaults = defaults or Defaults()
    parsed: list[ParsedLine] = []
    for number, record in _RECORDS[fmt](_text(data)):
        if len(parsed) >= max_lines:
            raise IntakeFileRejectedError(
                f"The file has more than {max_lines} lines, the most one file may hold; "
                "split it into several files."
            )
        if isinstance(record, str):
            parsed.append(ParsedLine(line=number, error=record))
            continue
        try:
            body = CreateVideoBody.model_validate(_merged(defaults, record))
        except ValidationError as exc:
            parsed.append(ParsedLine(line=number, error=short_reason(invalid_body(exc).message)))
            continue
        parsed.append(ParsedLine(line=number, body=body))
    if not parsed:
        raise IntakeFileRejectedError("The file holds no lines.")
    return parsed


# --- processing an event -----------------------------------------------------------------------


def _check_tenant(tenant_id: str) -> None:
    try:
        tenants.checked_tenant_id(tenant_id)
    except InvalidRequestError:
        raise IntakeFileRejectedError(
            f"'{tenant_id[:80]}' is not a tenant id: files go under intake/<tenant_id>/."
        ) from None
    if tenants.get_tenant(tenant_id) is None:
        raise IntakeFileRejectedError(
            f"Unknown tenant '{tenant_id}': files go under intake/<tenant_id>/ of an "
            "existing tenant."
        )


def _too_large(size: int, limit: int) -> IntakeFileRejectedError:
    return IntakeFileRejectedError(
        f"The file is {size} bytes; at most {limit} bytes are accepted per file. "
        "Split it into several files."
    )


def _load_defaults(where: IntakeFile) -> Defaults:
    data = assets.read_small_object(where.defaults_key, max_bytes=MAX_DEFAULTS_BYTES)
    if data is None:
        return Defaults()
    defaults = parse_defaults(data)
    if defaults.batch_callback_url is not None:
        try:
            validate_callback_url(defaults.batch_callback_url)
        except InvalidRequestError as exc:
            raise IntakeFileRejectedError(
                f"{DEFAULTS_FILE}: '{BATCH_CALLBACK_FIELD}': {exc.message}"
            ) from None
    return defaults


def _write_results_now(where: IntakeFile, plan: Sequence[PlanLine]) -> None:
    """The manifest of a file that made no job: it is final at once."""
    lines = manifest_lines(plan, {}, bucket=get_settings().bucket)
    assets.write_results(where.manifest_key, render_manifest(lines))


def _check_time(lambda_context: LambdaContext | None) -> None:
    if lambda_context is not None and (
        lambda_context.get_remaining_time_in_millis() < MIN_TIME_LEFT_MS
    ):
        raise IntakeIncompleteError("out of time; the next delivery continues the file")


def _create_line(
    tenant_id: str,
    batch_id: str,
    entry: ParsedLine,
    body: CreateVideoBody,
    lambda_context: LambdaContext | None,
) -> PlanLine:
    # The newline keeps these keys apart from any Idempotency-Key header (printable only).
    key = IdempotencyKey(f"intake\n{batch_id}\n{entry.line}", lambda_context)
    # The line's identity, not its body: a defaults file edited between two deliveries of
    # the same object still finds the job the first delivery created.
    identity = {"operation": "intake", "batch_id": batch_id, "line": entry.line}
    try:
        job = idempotency.run_once(
            tenant_id, key, identity, lambda: create_job(tenant_id, body, batch_id=batch_id)
        )
    except LINE_REFUSALS as exc:
        return PlanLine(line=entry.line, error=short_reason(str(exc)))
    return PlanLine(line=entry.line, job_id=job.job_id)


def _process(
    ref: S3ObjectRef, where: IntakeFile, lambda_context: LambdaContext | None
) -> IntakeResult:
    settings = get_settings()
    if where.refusal is not None:
        raise IntakeFileRejectedError(where.refusal)
    _check_tenant(where.tenant_id)
    if ref.size is not None and ref.size > settings.intake_max_file_bytes:
        raise _too_large(ref.size, settings.intake_max_file_bytes)
    obj: IntakeObject | None = assets.read_intake_object(
        where.key,
        etag=ref.etag,
        version_id=ref.version_id,
        max_bytes=settings.intake_max_file_bytes,
    )
    if obj is None:
        logger.info("intake file gone or replaced before it was read")
        return IntakeResult.STALE
    if obj.size > settings.intake_max_file_bytes:
        raise _too_large(obj.size, settings.intake_max_file_bytes)
    defaults = _load_defaults(where)
    parsed = parse_file(where.format, obj.data, defaults, max_lines=settings.intake_max_lines)
    valid = sum(1 for entry in parsed if entry.body is not None)
    if not valid:
        _write_results_now(where, [PlanLine(line=p.line, error=p.error) for p in parsed])
        metrics.add_metric(name="IntakeLinesRejected", unit="Count", value=len(parsed))
        logger.info("intake file has no valid line", extra={"lines": len(parsed)})
        return IntakeResult.REJECTED
    batch = open_intake_batch(
        where.tenant_id,
        intake_batch_id(ref.bucket, obj.key, obj.etag),
        total=valid,
        source=IntakeSource(
            bucket=ref.bucket,
            key=obj.key,
            etag=obj.etag,
            version_id=obj.version_id,
            format=where.format,
            manifest_key=where.manifest_key,
        ),
        callback_url=defaults.batch_callback_url,
        metadata={"intake_file": obj.key, "intake_results": where.manifest_key},
    )
    if batch.source.sealed:
        logger.info("intake file already processed")
        return IntakeResult.DUPLICATE
    # Lines an earlier delivery already made a job for: not even asked again.
    done = {line.line: line for line in batch.source.progress}
    plan: list[PlanLine] = []
    for entry in parsed:
        if entry.body is None:
            plan.append(PlanLine(line=entry.line, error=entry.error))
            continue
        if entry.line in done:
            plan.append(done[entry.line])
            continue
        _check_time(lambda_context)
        line = _create_line(where.tenant_id, batch.batch_id, entry, entry.body, lambda_context)
        if line.job_id is not None and not batches.record_intake_progress(batch.batch_id, line):
            logger.info("intake file sealed by another delivery meanwhile")
            return IntakeResult.DUPLICATE
        plan.append(line)
    seal_intake_batch(batch.batch_id, plan)
    rejected = sum(1 for line in plan if line.job_id is None)
    metrics.add_metric(name="IntakeLinesRejected", unit="Count", value=rejected)
    logger.info("intake file accepted", extra={"lines": len(plan), "rejected": rejected})
    return IntakeResult.ACCEPTED


def process_object(ref: S3ObjectRef, lambda_context: LambdaContext | None = None) -> IntakeResult:
    """Turn the object an ``Object Created`` event names into a batch of jobs (once).

    A file refused whole, or with no valid line, gets its results manifest at once; otherwise
    the manifest is written when the batch completes. Service failures raise, so the message
    is delivered again and the file continues where it stopped.
    """
    if ref.bucket != get_settings().bucket:
        logger.warning("object created in another bucket; ignored", extra={"bucket": ref.bucket})
        return IntakeResult.IGNORED
    where = locate(ref.key)
    if isinstance(where, Ignored):
        logger.info("not an intake file; ignored", extra={"key": ref.key, "reason": where.reason})
        return IntakeResult.IGNORED
    logger.append_keys(intake_key=ref.key, tenant_id=where.tenant_id)
    try:
        result = _process(ref, where, lambda_context)
    except IntakeFileRejectedError as exc:
        logger.info("intake file rejected", extra={"reason": str(exc)})
        _write_results_now(where, [PlanLine(line=None, error=str(exc))])
        result = IntakeResult.REJECTED
    metrics.add_metric(name=f"IntakeFiles{result.value.title()}", unit="Count", value=1)
    return result
