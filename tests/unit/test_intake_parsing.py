"""Reading intake files: where a key belongs, how each format becomes lines, the defaults
file, the S3 event, and the results manifest. No AWS: these are the pure parts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videojobs.handlers import intake as intake_handler
from videojobs.logic.intake import (
    Defaults,
    Ignored,
    IntakeFile,
    intake_batch_id,
    locate,
    parse_defaults,
    parse_file,
)
from videojobs.models.batches import is_batch_id
from videojobs.models.intake import (
    ERROR_MAX_CHARS,
    IntakeFileRejectedError,
    PlanLine,
    manifest_lines,
    parse_object_created,
    render_manifest,
)
from videojobs.models.job import Job, JobError, JobStatus, StoredAsset, VideoRequest
from videojobs.settings import get_settings

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "intake_object_created_sqs.json").read_text())
    return event


def lines_of(parsed: list[Any]) -> list[tuple[int, str | None, str | None]]:
    """(line, prompt, error) for each parsed line."""
    return [(p.line, p.body.prompt if p.body else None, p.error) for p in parsed]


# --- where a key belongs -----------------------------------------------------------------------


def test_a_key_names_its_tenant_format_results_and_defaults() -> None:
    where = locate("intake/acme/campaigns/spring/Shots.v2.JSONL")
    assert where == IntakeFile(
        key="intake/acme/campaigns/spring/Shots.v2.JSONL",
        tenant_id="acme",
        format="jsonl",
        manifest_key="results/acme/campaigns/spring/Shots.v2.results.jsonl",
        defaults_key="intake/acme/campaigns/spring/_defaults.json",
    )
    flat = locate("intake/acme/prompts.txt")
    assert isinstance(flat, IntakeFile)
    assert flat.manifest_key == "results/acme/prompts.results.jsonl"


@pytest.mark.parametrize(
    "key",
    [
        "intake/acme/_defaults.json",
        "intake/acme/notes.md",
        "intake/acme/",
        "intake/acme/.csv",
        "intake/acme/README",
        "intake/shots.jsonl",
        "intake//shots.jsonl",
        "videos/acme/shots.jsonl",
    ],
)
def test_keys_that_are_not_job_files_are_ignored(key: str) -> None:
    assert isinstance(locate(key), Ignored)


@pytest.mark.parametrize(
    "key",
    [
        "intake/acme/../beta/shots.jsonl",
        "intake/acme/a/../../beta/shots.jsonl",
        "intake/acme//shots.jsonl",
        "intake/acme/spring//shots.jsonl",
        "intake/acme/./shots.jsonl",
    ],
)
def test_keys_with_dot_dot_or_empty_folders_are_refused_with_a_safe_results_key(
    key: str,
) -> None:
    where = locate(key)
    assert isinstance(where, IntakeFile)
    assert where.refusal is not None and "'..'" in where.refusal
    assert where.manifest_key == "results/acme/shots.results.jsonl"


@pytest.mark.parametrize("key", ["intake/../acme/shots.jsonl", "intake/./shots.jsonl"])
def test_a_tenant_folder_of_dots_is_no_tenant_folder(key: str) -> None:
    assert isinstance(locate(key), Ignored)


def test_a_refused_key_gets_its_reason_in_the_results_and_nothing_is_read_or_created(
    monkeypatch: pytest.MonkeyPatch, settings_for_sample_event: None
) -> None:
    from videojobs.adapters.storage import assets
    from videojobs.logic import intake as logic

    # Given a file dropped under a key that climbs out of its tenant folder
    written: dict[str, bytes] = {}

    def must_not_be_called(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a refused file is neither read nor turned into a batch")

    monkeypatch.setattr(assets, "write_results", lambda key, body: written.update({key: body}))
    monkeypatch.setattr(assets, "read_intake_object", must_not_be_called)
    monkeypatch.setattr(assets, "read_small_object", must_not_be_called)
    monkeypatch.setattr(logic, "open_intake_batch", must_not_be_called)
    monkeypatch.setattr(logic, "_check_tenant", must_not_be_called)
    ref = logic.S3ObjectRef(
        bucket="videojobs-assets", key="intake/acme/../beta/shots.jsonl", etag="e", size=10
    )
    # When the intake processes it
    result = logic.process_object(ref)
    # Then it is rejected whole, with the reason in its results manifest
    assert result is logic.IntakeResult.REJECTED
    (key, body), *_ = written.items()
    assert key == "results/acme/shots.results.jsonl"
    [line] = [json.loads(text) for text in body.decode().splitlines()]
    assert "'..'" in line["error"] and line["job_id"] is None


def test_the_batch_id_is_a_stable_batch_id_of_the_content() -> None:
    first = intake_batch_id("bucket", "intake/acme/a.jsonl", "etag-1")
    assert is_batch_id(first)
    assert first == intake_batch_id("bucket", "intake/acme/a.jsonl", "etag-1")
    assert first != intake_batch_id("bucket", "intake/acme/a.jsonl", "etag-2")
    assert first != intake_batch_id("bucket", "intake/acme/b.jsonl", "etag-1")


# --- formats -----------------------------------------------------------------------------------


def test_jsonl_lines_are_numbered_as_in_the_file_and_blank_lines_are_not_lines() -> None:
    data = (
        b'{"prompt": "one"}\n'
        b"\n"
        b'{"prompt": "two", "size": "640x480"}\r\n'
        b'{"prompt": "three"\n'
        b"[1, 2]\n"
        b'{"prompt": "four", "colour": "red"}\n'
        b'  {"prompt": "five", "seconds": 8}  \n'
    )
    parsed = parse_file("jsonl", data, max_lines=10)
    assert [(p.line, p.body is not None) for p in parsed] == [
        (1, True),
        (3, False),
        (4, False),
        (5, False),
        (6, False),
        (7, True),
    ]
    errors = {p.line: p.error or "" for p in parsed}
    assert errors[3].startswith("Invalid value for 'size'")
    assert errors[4].startswith("Not valid JSON")
    assert errors[5] == "Expected a JSON object (a create body)."
    assert errors[6] == "Unrecognized request argument supplied: colour"
    assert parsed[-1].body is not None and parsed[-1].body.seconds == "8"


def test_a_json_file_is_one_create_body() -> None:
    (only,) = parse_file("json", b'{\n  "prompt": "a kite",\n  "model": "sora-2"\n}\n', max_lines=5)
    assert (only.line, only.body and only.body.prompt) == (1, "a kite")
    (listed,) = parse_file("json", b'[{"prompt": "a kite"}]', max_lines=5)
    assert listed.error == "Expected a JSON object (a create body)."


def test_csv_columns_are_api_fields_and_metadata_columns() -> None:
    data = (
        "\ufeffprompt, size ,metadata.shot,metadata,duration\r\n"
        '"a boat, drifting",1280x720,1,"{""scene"": ""harbour""}",8\r\n'
        "a plain boat,,,,\r\n"
        ",,,,\r\n"
        '"a boat\nover two lines",,2,,\r\n'
        'a boat twice named,,3,"{""shot"": ""4""}",\r\n'
        "a boat with too many cells,,,,,extra\r\n"
        'a boat with bad metadata,,,"not json",\r\n'
    ).encode()
    parsed = parse_file("csv", data, max_lines=10)
    assert [p.line for p in parsed] == [2, 3, 5, 7, 8, 9]
    first = parsed[0].body
    assert first is not None
    assert (first.prompt, first.size, first.duration) == ("a boat, drifting", "1280x720", 8)
    assert first.metadata == {"shot": "1", "scene": "harbour"}
    plain = parsed[1].body
    assert plain is not None and (plain.size, plain.metadata) == (None, {})
    assert parsed[2].body is not None and parsed[2].body.prompt == "a boat\nover two lines"
    assert parsed[3].error == "Metadata key 'shot' is given twice."
    assert parsed[4].error == "The row has 6 cells but the header names 5 columns."
    assert (parsed[5].error or "").startswith("Invalid 'metadata': expected a JSON object.")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("prompt,colour", "Unknown column 'colour'"),
        ("prompt,size,size", "Column 'size' appears twice"),
        ("prompt,metadata.", "Unknown column 'metadata.'"),
    ],
)
def test_a_csv_header_with_an_unknown_or_repeated_column_rejects_the_file(
    header: str, reason: str
) -> None:
    with pytest.raises(IntakeFileRejectedError, match=reason):
        parse_file("csv", f"{header}\na kite,x\n".encode(), max_lines=10)


@pytest.mark.parametrize(
    ("data", "where"), [(b'prompt\na kite\n"a"b\n', "Line 3"), (b'prompt\n"unclosed\n', "Line 2")]
)
def test_a_broken_csv_rejects_the_file_naming_the_line(data: bytes, where: str) -> None:
    with pytest.raises(IntakeFileRejectedError, match=f"{where}: not valid CSV"):
        parse_file("csv", data, max_lines=10)


def test_txt_lines_are_prompts_under_the_defaults() -> None:
    defaults = Defaults(fields={"size": "1280x720", "metadata": {"campaign": "kites", "shot": "x"}})
    parsed = parse_file("txt", b"  a kite at dawn  \n\n\ta kite at dusk\n", defaults, max_lines=5)
    assert lines_of(parsed) == [(1, "a kite at dawn", None), (3, "a kite at dusk", None)]
    assert all(p.body is not None and p.body.size == "1280x720" for p in parsed)


def test_a_line_s_own_fields_beat_the_defaults_and_metadata_is_merged() -> None:
    defaults = Defaults(fields={"size": "1280x720", "metadata": {"campaign": "kites", "shot": "x"}})
    (line,) = parse_file(
        "jsonl",
        b'{"prompt": "a kite", "size": "720x1280", "metadata": {"shot": "7"}}\n',
        defaults,
        max_lines=5,
    )
    assert line.body is not None
    assert line.body.size == "720x1280"
    assert line.body.metadata == {"campaign": "kites", "shot": "7"}


def test_more_lines_than_allowed_rejects_the_file_and_the_limit_itself_is_fine() -> None:
    assert len(parse_file("txt", b"a\nb\nc\n", max_lines=3)) == 3
    with pytest.raises(IntakeFileRejectedError, match="more than 3 lines"):
        parse_file("txt", b"a\nb\nc\nd\n", max_lines=3)


@pytest.mark.parametrize("data", [b"", b"\n  \n", b"\xef\xbb\xbf"])
def test_a_file_without_lines_is_rejected(data: bytes) -> None:
    with pytest.raises(IntakeFileRejectedError, match="no lines"):
        parse_file("jsonl", data, max_lines=3)


def test_a_file_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(IntakeFileRejectedError, match="not UTF-8"):
        parse_file("txt", "une cerf-volant à l'aube".encode("latin-1"), max_lines=3)


def test_a_long_reason_is_shortened_to_fit_the_batch() -> None:
    (line,) = parse_file("jsonl", b'{"prompt": "x", "' + b"k" * 600 + b'": 1}\n', max_lines=1)
    assert line.error is not None and len(line.error) == ERROR_MAX_CHARS
    assert line.error.endswith("…")


# --- the defaults file -------------------------------------------------------------------------


def test_defaults_are_a_partial_body_plus_the_batch_callback() -> None:
    defaults = parse_defaults(
        b'{"model": "sora-2-pro", "metadata": {"team": "a"}, '
        b'"batch_callback_url": "https://hooks.example.com/batches"}'
    )
    assert defaults.fields == {"model": "sora-2-pro", "metadata": {"team": "a"}}
    assert defaults.batch_callback_url == "https://hooks.example.com/batches"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"prompt": "x"}', "may not set 'prompt'"),
        (b'{"size": "640x480"}', "_defaults.json: Invalid value for 'size'"),
        (b'{"colour": "red"}', "Unrecognized request argument supplied: colour"),
        (b'{"batch_callback_url": 7}', "must be a URL"),
        (b"[1]", "must hold a JSON object"),
        (b"{", "not valid JSON"),
        (b" " * (64 * 1024 + 1), "larger than"),
    ],
)
def test_a_bad_defaults_file_rejects_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(IntakeFileRejectedError, match=reason):
        parse_defaults(data)


# --- the event ---------------------------------------------------------------------------------


def test_the_object_of_an_object_created_event() -> None:
    body = sample_event()["Records"][0]["body"]
    ref = parse_object_created(body)
    assert ref is not None
    assert (ref.bucket, ref.key, ref.size) == (
        "videojobs-assets",
        "intake/acme/campaigns/spring.jsonl",
        1835,
    )
    assert (ref.etag, ref.version_id) == ("b1946ac92492d2347c6235b4d2611184", None)
    # A quoted etag is unquoted; a versioned bucket adds version-id
    event = json.loads(body)
    event["detail"]["object"] = {"key": "intake/a/b.txt", "etag": '"abc"', "version-id": "v1"}
    ref = parse_object_created(json.dumps(event))
    assert ref is not None and (ref.etag, ref.version_id, ref.size) == ("abc", "v1", None)
    # ... and "null" is the version of an unversioned bucket's object: nothing to pin
    event["detail"]["object"]["version-id"] = "null"
    ref = parse_object_created(json.dumps(event))
    assert ref is not None and ref.version_id is None


def test_the_etag_is_read_as_s3_spells_it_only() -> None:
    # moto's events say "eTag": the local stack respells them before they reach the function
    # (tests/integration/test_local_stack_events.py); the function reads S3's own field alone.
    event = json.loads(sample_event()["Records"][0]["body"])
    event["detail"]["object"] = {"key": "intake/a/b.txt", "eTag": '"abc"'}

    ref = parse_object_created(json.dumps(event))

    assert ref is not None and ref.etag is None


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}}),
        json.dumps({"source": "videojobs", "detail-type": "Object Created", "detail": {}}),
    ],
)
def test_anything_but_an_object_created_event_is_not_an_object(body: str) -> None:
    assert parse_object_created(body) is None


@pytest.fixture
def settings_for_sample_event(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ASSETS_BUCKET", "videojobs-assets")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("body", ["not an event", None])
def test_messages_that_make_no_job_are_consumed_not_retried(
    body: str | None, lambda_context: Any, settings_for_sample_event: None
) -> None:
    # Given a message that is not an S3 event, or an event for a file that is not a job file
    event = sample_event()
    record = event["Records"][0]
    if body is None:
        detail = json.loads(record["body"])
        detail["detail"]["object"]["key"] = "intake/acme/notes.md"
        body = json.dumps(detail)
    record["body"] = body
    # When the intake function gets it
    response = intake_handler.handler(event, lambda_context)
    # Then it is not reported as failed (SQS would only deliver it again)
    assert response == {"batchItemFailures": []}


# --- the manifest ------------------------------------------------------------------------------


def job(job_id: str, status: JobStatus, **fields: Any) -> Job:
    return Job(
        job_id=job_id,
        tenant_id="acme",
        status=status,
        created_at=1,
        updated_at=2,
        request=VideoRequest(prompt="a kite"),
        **fields,
    )


def test_the_manifest_has_every_line_in_input_order_with_its_outcome() -> None:
    video = StoredAsset(
        key="videos/acme/video_a/video.mp4", bytes=10, content_type="video/mp4", sha256="", crc32=""
    )
    jobs = {
        "video_a": job("video_a", JobStatus.COMPLETED, assets={"video": video}),
        "video_b": job(
            "video_b", JobStatus.FAILED, error=JobError(code="x", message="It went wrong.")
        ),
        "video_c": job("video_c", JobStatus.CANCELLED),
    }
    plan = [
        PlanLine(line=1, job_id="video_a"),
        PlanLine(line=2, error="Not valid JSON."),
        PlanLine(line=4, job_id="video_b"),
        PlanLine(line=5, job_id="video_c"),
        PlanLine(line=6, job_id="video_gone"),
    ]
    rendered = render_manifest(manifest_lines(plan, jobs, bucket="assets"))
    rows = [json.loads(line) for line in rendered.decode().splitlines()]
    assert rows == [
        {
            "line": 1,
            "status": "completed",
            "job_id": "video_a",
            "video": "s3://assets/videos/acme/video_a/video.mp4",
            "error": None,
        },
        {
            "line": 2,
            "status": "rejected",
            "job_id": None,
            "video": None,
            "error": "Not valid JSON.",
        },
        {
            "line": 4,
            "status": "failed",
            "job_id": "video_b",
            "video": None,
            "error": "It went wrong.",
        },
        {
            "line": 5,
            "status": "failed",
            "job_id": "video_c",
            "video": None,
            "error": "The job was cancelled.",
        },
        {
            "line": 6,
            "status": "failed",
            "job_id": "video_gone",
            "video": None,
            "error": "The job no longer exists.",
        },
    ]
