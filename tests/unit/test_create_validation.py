"""Everything a create is checked against before anything is written: the multipart framing,
the mapping of a form onto the JSON fields, reference images, prompt and metadata bounds,
pre-submit moderation, and the Idempotency-Key (the same normalised request is the same
job; another request with the same key is a conflict)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from PIL import Image
from pydantic import SecretStr, ValidationError

from videojobs.adapters.providers.openai_videos import OpenAIVideosClient
from videojobs.handlers.api_create import request_fields
from videojobs.handlers.multipart import MAX_PARTS, parse_form_data
from videojobs.logic import idempotency, provider_access
from videojobs.logic.create_job import resolve_create
from videojobs.logic.idempotency import IdempotencyKey, checked_key, run_once
from videojobs.logic.reference_image import MAX_INPUT_REFERENCE_BYTES, check_image
from videojobs.models.api import CreateVideoBody, UploadedImage
from videojobs.models.errors import (
    IdempotencyConflictError,
    InvalidRequestError,
    ProviderTransientError,
)
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.models.provider import ModerationResult, ProviderConfig
from videojobs.settings import get_settings


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("VIDEOJOBS_LOCAL_MODE", "PROMPT_MAX_CHARS", "PRE_SUBMIT_MODERATION"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def image_bytes(size: tuple[int, int], fmt: str, **options: Any) -> bytes:
    mode = "RGBA" if options.pop("alpha", False) else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 80, 40)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


PNG_PORTRAIT = image_bytes((720, 1280), "PNG")


def form(*fields: tuple[str, Any]) -> tuple[bytes, str]:
    """A multipart body as httpx (like the openai SDK) builds it."""
    request = httpx.Request("POST", "http://api.test/v1/videos", files=list(fields))
    return request.read(), request.headers["content-type"]


def event(body: bytes, content_type: str | None, *, base64_encoded: bool = True) -> Any:
    """An API Gateway proxy event carrying ``body`` as API Gateway would."""
    headers = {"Content-Type": content_type} if content_type else {}
    return APIGatewayProxyEvent(
        {
            "httpMethod": "POST",
            "path": "/v1/videos",
            "headers": headers,
            "body": base64.b64encode(body).decode() if base64_encoded else body.decode(),
            "isBase64Encoded": base64_encoded,
        }
    )


def refused_body(body: bytes, content_type: str | None, **kw: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        request_fields(event(body, content_type, **kw))
    return caught.value


# --- multipart framing -----------------------------------------------------------------------


def test_a_form_as_the_sdk_sends_it_is_parsed_byte_exact() -> None:
    # Given text fields and a binary file whose bytes contain CRLFs and boundary-like runs
    payload = b"\x89PNG\r\n\x1a\n\r\n--\r\n--not-the-boundary\r\n\x00\xff"
    body, content_type = form(
        ("prompt", (None, "line one\r\nline two")),
        ("input_reference", ("ref.png", payload, "image/png")),
    )
    # When parsed
    parts = parse_form_data(body, content_type)
    # Then every part comes back whole, files with their name and type
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("prompt", None, None),
        ("input_reference", "ref.png", "image/png"),
    ]
    assert parts[0].text() == "line one\r\nline two"
    assert parts[1].data == payload


def test_preamble_transport_padding_and_epilogue_are_tolerated() -> None:
    body = (
        b"this is a preamble\r\n--XyZ  \r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n'
        b"--XyZ\r\n"
        b"Content-Disposition: form-data; name*=utf-8''se%63onds\r\n\r\n8\r\n"
        b"--XyZ--\r\nan epilogue"
    )
    parts = parse_form_data(body, "multipart/form-data; boundary=XyZ")
    assert [(p.name, p.text()) for p in parts] == [("prompt", "hello"), ("seconds", "8")]


def test_an_empty_form_has_no_parts() -> None:
    assert parse_form_data(b"--b--\r\n", 'multipart/form-data; boundary="b"') == []


_OK_PART = b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n'


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_OK_PART + b"--b--", "multipart/form-data"),
        (_OK_PART + b"--b--", "multipart/form-data; boundary="),
        (_OK_PART + b"--b--", "multipart/form-data; boundary=" + "x" * 71),
        (b"", "multipart/form-data; boundary=b"),
        (b"hello", "multipart/form-data; boundary=b"),
        (_OK_PART, "multipart/form-data; boundary=b"),
        (_OK_PART + b"--b", "multipart/form-data; boundary=b"),
        (_OK_PART + b"--bogus--", "multipart/form-data; boundary=b"),
        (b"--b\r\n\r\nno disposition\r\n--b--", "multipart/form-data; boundary=b"),
        (
            b'--b\r\nContent-Disposition: attachment; name="prompt"\r\n\r\nhi\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (
            b"--b\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="prompt"\r\nhi\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="p"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="p"\r\nno colon here\r\n\r\nhi\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="p"\r\n'
            b'Content-Disposition: form-data; name="q"\r\n\r\nhi\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="p"\r\n'
            b"X-Big: " + b"a" * 9000 + b"\r\n\r\nhi\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
        (b"--bjunk\r\n" + _OK_PART[4:] + b"--b--", "multipart/form-data; boundary=b"),
    ],
    ids=[
        "no boundary",
        "empty boundary",
        "boundary too long",
        "empty body",
        "no delimiter",
        "no closing delimiter",
        "closing delimiter without dashes",
        "wrong closing boundary",
        "no content-disposition",
        "not form-data",
        "no name",
        "no blank line after headers",
        "base64 transfer encoding",
        "header line without colon",
        "repeated header",
        "oversized headers",
        "junk after the delimiter",
    ],
)
def test_malformed_multipart_is_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form_data(body, content_type)
    assert caught.value.code == "invalid_multipart"


def test_a_form_with_too_many_fields_is_refused() -> None:
    body, content_type = form(*[(f"f{i}", (None, "x")) for i in range(MAX_PARTS + 1)])
    with pytest.raises(InvalidRequestError, match=f"at most {MAX_PARTS}"):
        parse_form_data(body, content_type)


# --- forms onto fields -----------------------------------------------------------------------


def test_the_same_fields_as_json_and_as_a_form_are_the_same_normalised_request() -> None:
    # Given one create sent as JSON (seconds as a number) and as the SDK's multipart form,
    # its metadata once as metadata[key] fields and once as a JSON field
    as_json = {
        "prompt": "a lighthouse in a storm",
        "seconds": 8,
        "size": "1280x720",
        "metadata": {"campaign": "spring", "shot": "1"},
    }
    multipart, content_type = form(
        ("prompt", (None, "a lighthouse in a storm")),
        ("seconds", (None, "8")),
        ("size", (None, "1280x720")),
        ("metadata[shot]", (None, "1")),
        ("metadata", (None, json.dumps({"campaign": "spring"}))),
    )
    # When each is read and resolved
    from_json, _ = request_fields(
        event(json.dumps(as_json).encode(), "application/json", base64_encoded=False)
    )
    from_form, upload = request_fields(event(multipart, content_type))
    resolved = [resolve_create(CreateVideoBody.model_validate(f)) for f in (from_json, from_form)]
    # Then both are the same request, and compare equal for Idempotency-Key reuse
    assert upload is None
    assert resolved[0].fingerprint() == resolved[1].fingerprint()
    assert resolved[0].request.seconds == "8"


def test_requests_that_differ_have_different_fingerprints() -> None:
    base = resolve_create(CreateVideoBody(prompt="a", metadata={"k": "v"})).fingerprint()
    other = resolve_create(CreateVideoBody(prompt="a", metadata={"k": "w"})).fingerprint()
    assert base != other
    assert base != resolve_create(CreateVideoBody(prompt="a")).fingerprint("vbatch_1")


def test_a_form_carries_the_reference_image_as_an_upload() -> None:
    body, content_type = form(
        ("prompt", (None, "a kite")),
        ("input_reference", ("kite.png", PNG_PORTRAIT, "application/octet-stream")),
    )
    fields, upload = request_fields(event(body, content_type))
    assert fields == {"prompt": "a kite"}
    assert upload is not None and upload.data == PNG_PORTRAIT and upload.filename == "kite.png"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ((("prompt", (None, "a")), ("prompt", (None, "b"))), "prompt"),
        ((("metadata[k]", (None, "a")), ("metadata", (None, '{"k": "b"}'))), "metadata.k"),
        ((("metadata[k]", (None, "a")), ("metadata[k]", (None, "b"))), "metadata[k]"),
        ((("prompt", ("prompt.txt", b"a", "text/plain")),), "prompt"),
        ((("input_reference", (None, "data:image/png;base64,AA==")),), "input_reference"),
        (
            (
                ("input_reference", ("a.png", PNG_PORTRAIT, "image/png")),
                ("input_reference", ("b.png", PNG_PORTRAIT, "image/png")),
            ),
            "input_reference",
        ),
    ],
    ids=[
        "duplicate field",
        "metadata key twice",
        "metadata field twice",
        "file for a text field",
        "text input_reference",
        "two images",
    ],
)
def test_ambiguous_forms_are_refused(fields: tuple[Any, ...], param: str) -> None:
    error = refused_body(*form(*fields))
    assert error.param == param


def test_a_metadata_field_that_is_not_a_json_object_is_refused() -> None:
    error = refused_body(*form(("metadata", (None, "k=v"))))
    assert error.code == "invalid_json"


def test_an_unknown_form_field_is_an_unrecognized_argument() -> None:
    fields, _ = request_fields(
        event(*form(("prompt", (None, "a")), ("temperature[x]", (None, "1"))))
    )
    with pytest.raises(ValidationError) as caught:
        CreateVideoBody.model_validate(fields)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    assert caught.value.errors()[0]["loc"] == ("temperature[x]",)


def test_a_text_field_that_is_not_utf8_is_refused() -> None:
    assert refused_body(*form(("prompt", (None, b"\xff\xfe")))).code == "invalid_multipart"


@pytest.mark.parametrize(
    ("body", "content_type", "base64_encoded", "code"),
    [
        (b"prompt=a", "application/x-www-form-urlencoded", True, "unsupported_media_type"),
        (b"{not json", "application/json", False, "invalid_json"),
        (b"[1, 2]", "application/json", False, "invalid_json"),
        (b'"prompt"', None, False, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", False, "invalid_json"),
        (b'{"prompt": "\xff"}', "application/json", True, "invalid_json"),
        (b"x" * (8 * 1024 * 1024), "application/json", True, "body_too_large"),
    ],
    ids=[
        "urlencoded",
        "broken json",
        "json array",
        "json string",
        "deep nesting",
        "not utf-8",
        "too large",
    ],
)
def test_bodies_that_are_not_a_json_object_or_a_form_are_refused(
    body: bytes, content_type: str | None, base64_encoded: bool, code: str
) -> None:
    assert refused_body(body, content_type, base64_encoded=base64_encoded).code == code


def test_an_empty_body_is_a_missing_prompt() -> None:
    fields, _ = request_fields(event(b"", "application/json"))
    with pytest.raises(ValidationError) as caught:
        CreateVideoBody.model_validate(fields)
    assert caught.value.errors()[0]["loc"] == ("prompt",)


# --- reference images ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (image_bytes((720, 1280), "PNG"), "image/png", "png"),
        (image_bytes((720, 1280), "JPEG"), "image/jpeg", "jpg"),
        (image_bytes((720, 1280), "JPEG", progressive=True), "image/jpeg", "jpg"),
        (image_bytes((720, 1280), "WEBP"), "image/webp", "webp"),
        (image_bytes((720, 1280), "WEBP", lossless=True), "image/webp", "webp"),
        (image_bytes((720, 1280), "WEBP", alpha=True), "image/webp", "webp"),
    ],
    ids=["png", "jpeg", "progressive jpeg", "webp lossy", "webp lossless", "webp extended"],
)
def test_images_are_typed_and_measured_from_their_bytes(
    data: bytes, content_type: str, extension: str
) -> None:
    # Given an image whose declared name says something else
    image = check_image(data, "../../etc/passwd.gif")
    # Then its real type and pixel size come from its bytes, and the name is made safe
    assert (image.content_type, image.extension, image.size) == (
        content_type,
        extension,
        "720x1280",
    )
    assert image.filename == f"passwd.{extension}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 100, "JPEG, PNG or WebP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "JPEG, PNG or WebP"),
        (PNG_PORTRAIT[:20], "not a readable PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 20, "not a readable JPG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "not a readable WEBP"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_INPUT_REFERENCE_BYTES, "largest accepted"),
    ],
    ids=[
        "empty",
        "gif",
        "svg",
        "truncated png",
        "jpeg without frame",
        "webp without size",
        "too large",
    ],
)
def test_files_that_are_not_usable_images_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as caught:
        check_image(data)
    assert caught.value.param == "input_reference"


def test_an_image_must_match_the_video_size() -> None:
    # Given a landscape image for a portrait video
    body = CreateVideoBody(prompt="a kite")
    upload = UploadedImage(filename="a.png", data=image_bytes((1280, 720), "PNG"))
    # Then the mismatch is a 400 now, not a failed job later
    with pytest.raises(InvalidRequestError, match="1280x720 but the video is 720x1280"):
        resolve_create(body, upload)
    # And the same image fits a landscape video
    landscape = resolve_create(CreateVideoBody(prompt="a kite", size="1280x720"), upload)
    assert landscape.image is not None and landscape.image.content_type == "image/png"


def test_an_image_can_come_as_a_data_url_in_json() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG_PORTRAIT).decode()
    body = CreateVideoBody.model_validate(
        {"prompt": "a kite", "input_reference": {"image_url": url}}
    )
    resolved = resolve_create(body)
    assert resolved.image is not None and resolved.image.data == PNG_PORTRAIT


@pytest.mark.parametrize(
    ("reference", "param"),
    [
        ({"image_url": "https://example.com/a.png"}, "input_reference.image_url"),
        ({"image_url": "data:image/png;base64,!!!"}, "input_reference.image_url"),
        ({"file_id": "file_123"}, "input_reference.file_id"),
        ({}, "input_reference"),
    ],
)
def test_references_the_service_cannot_use_are_refused(
    reference: dict[str, str], param: str
) -> None:
    body = CreateVideoBody.model_validate({"prompt": "a kite", "input_reference": reference})
    with pytest.raises(InvalidRequestError) as caught:
        resolve_create(body)
    assert caught.value.param == param


# --- prompt and metadata bounds --------------------------------------------------------------


def test_the_prompt_bound_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment configured for prompts of at most 10 characters
    monkeypatch.setenv("PROMPT_MAX_CHARS", "10")
    get_settings.cache_clear()
    # Then 10 characters are fine and 11 are refused with OpenAI's code
    assert resolve_create(CreateVideoBody(prompt="x" * 10)).request.prompt == "x" * 10
    with pytest.raises(InvalidRequestError) as caught:
        resolve_create(CreateVideoBody(prompt="x" * 11))
    assert (caught.value.param, caught.value.code) == ("prompt", "string_above_max_length")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"prompt": "   "}, ("prompt",)),
        ({"prompt": 5}, ("prompt",)),
        ({"prompt": "a", "metadata": {f"k{i}": "v" for i in range(17)}}, ("metadata",)),
        ({"prompt": "a", "metadata": {"k" * 65: "v"}}, ("metadata", "k" * 65, "[key]")),
        ({"prompt": "a", "metadata": {"k": "v" * 513}}, ("metadata", "k")),
        ({"prompt": "a", "metadata": {"k": 1}}, ("metadata", "k")),
        ({"prompt": "a", "callback_url": "https://x.test/" + "a" * 2048}, ("callback_url",)),
        ({"prompt": "a", "n": 2}, ("n",)),
        ({"prompt": "a", "model": "sora-3"}, ("model",)),
        ({"prompt": "a", "seconds": 8.5}, ("seconds",)),
    ],
)
def test_out_of_bounds_fields_are_refused_by_the_model(
    fields: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        CreateVideoBody.model_validate(fields)
    assert caught.value.errors()[0]["loc"] == loc


# --- pre-submit moderation -------------------------------------------------------------------


class FakeModeration:
    def __init__(self, result: ModerationResult | Exception) -> None:
        self.result = result
        self.texts: list[str] = []

    def moderate(self, text: str) -> ModerationResult:
        self.texts.append(text)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def moderation(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModerationResult | Exception], Any]:
    def install(result: ModerationResult | Exception) -> FakeModeration:
        fake = FakeModeration(result)
        # create_job imports get_provider where it moderates (cold start): patch its home.
        monkeypatch.setattr(provider_access, "get_provider", lambda **_: fake)
        monkeypatch.setenv("PRE_SUBMIT_MODERATION", "true")
        get_settings.cache_clear()
        return fake

    return install


def test_a_flagged_prompt_is_refused_as_a_content_policy_violation(
    moderation: Callable[[ModerationResult | Exception], FakeModeration],
) -> None:
    fake = moderation(ModerationResult(flagged=True, categories=("violence",)))
    with pytest.raises(InvalidRequestError) as caught:
        resolve_create(CreateVideoBody(prompt="a brawl", preset="tiktok"))
    assert (caught.value.code, caught.value.param) == ("content_policy_violation", "prompt")
    assert "violence" in caught.value.message
    # The text checked is what the provider would be asked for, style line included
    assert fake.texts[0].startswith("a brawl\n\n")


def test_a_clean_prompt_passes_moderation(
    moderation: Callable[[ModerationResult | Exception], FakeModeration],
) -> None:
    fake = moderation(ModerationResult(flagged=False))
    assert resolve_create(CreateVideoBody(prompt="a meadow")).request.prompt == "a meadow"
    assert fake.texts == ["a meadow"]


def test_an_unavailable_moderation_endpoint_does_not_stop_creates(
    moderation: Callable[[ModerationResult | Exception], FakeModeration],
) -> None:
    # The provider moderates every create itself; the pre-check is an optimisation.
    moderation(ProviderTransientError("down", status_code=503))
    assert resolve_create(CreateVideoBody(prompt="a meadow")).request.prompt == "a meadow"


def moderation_answer(request: httpx.Request) -> httpx.Response:
    text = json.loads(request.content)["input"]
    flagged = "[[flag]]" in text
    result = {"flagged": flagged, "categories": {"violence": flagged, "hate": False}}
    return httpx.Response(200, json={"id": "modr-1", "model": "m", "results": [result]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a meadow", ModerationResult(flagged=False)),
        ("[[flag]] a brawl", ModerationResult(flagged=True, categories=("violence",))),
    ],
)
def test_the_provider_client_moderates_over_post_moderations(
    text: str, expected: ModerationResult
) -> None:
    # Given the provider client against a /moderations endpoint
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return moderation_answer(request)

    config = ProviderConfig(base_url="https://provider.test/v1", api_key=SecretStr("sk-test"))
    with OpenAIVideosClient(config, transport=httpx.MockTransport(handler)) as client:
        # When a text is moderated / Then the verdict and flagged categories come back
        assert client.moderate(text) == expected
    assert (seen[0].method, seen[0].url.path) == ("POST", "/v1/moderations")


def test_a_moderation_answer_that_is_not_one_is_a_transient_provider_error() -> None:
    config = ProviderConfig(base_url="https://provider.test/v1", api_key=SecretStr("sk-test"))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"results": []}))
    with (
        OpenAIVideosClient(config, transport=transport) as client,
        pytest.raises(ProviderTransientError),
    ):
        client.moderate("a meadow")


def test_moderation_is_not_called_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_provider(**_: Any) -> None:
        raise AssertionError("the provider must not be called")

    monkeypatch.setattr(provider_access, "get_provider", no_provider)
    assert resolve_create(CreateVideoBody(prompt="[[flag]] a meadow")).request.model == "sora-2"


# --- Idempotency-Key -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "k" * 256, "key\twith tab", "clé"])
def test_unusable_idempotency_keys_are_refused(value: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        checked_key(value)
    assert caught.value.code == "invalid_idempotency_key"


def test_a_255_character_key_is_fine() -> None:
    assert checked_key("k" * 255) == "k" * 255


class MemoryPersistence(BasePersistenceLayer):
    """Powertools' persistence contract over a dict, with DynamoDB's conditional put."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self.lock = threading.Lock()

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self.lock:
            if idempotency_key not in self.records:
                raise IdempotencyItemNotFoundError
            return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        with self.lock:
            old = self.records.get(data_record.idempotency_key)
            if old is not None and not old.is_expired:
                raise IdempotencyItemAlreadyExistsError
            self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        with self.lock:
            self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        with self.lock:
            self.records.pop(data_record.idempotency_key, None)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryPersistence:
    memory = MemoryPersistence()
    monkeypatch.setattr(idempotency, "_persistence", lambda: memory)
    return memory


class Creator:
    """Counts creates and hands out a new queued job for each."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    def __call__(self) -> Job:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        return Job(
            job_id=f"video_{self.calls:032x}",
            tenant_id="t1",
            status=JobStatus.QUEUED,
            created_at=1,
            updated_at=1,
            request=VideoRequest(prompt="a kite"),
        )


REQUEST = {"request": {"prompt": "a kite"}, "metadata": {}}


class Invocation:
    """The part of a Lambda context Powertools reads: time left, so a crashed lock lapses."""

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def key(value: str) -> IdempotencyKey:
    return IdempotencyKey(value, Invocation())  # type: ignore[arg-type]


def test_the_same_key_and_request_return_the_first_job_and_create_once(
    store: MemoryPersistence,
) -> None:
    create = Creator()
    first = run_once("t1", key("k1"), REQUEST, create)
    again = run_once("t1", key("k1"), dict(REQUEST), create)
    assert again == first
    assert create.calls == 1


def test_the_same_key_with_another_request_is_a_conflict(store: MemoryPersistence) -> None:
    create = Creator()
    run_once("t1", key("k1"), REQUEST, create)
    with pytest.raises(IdempotencyConflictError) as caught:
        run_once("t1", key("k1"), {**REQUEST, "metadata": {"a": "b"}}, create)
    assert caught.value.code == "idempotency_key_reused"
    assert create.calls == 1


def test_keys_belong_to_one_tenant(store: MemoryPersistence) -> None:
    create = Creator()
    first = run_once("t1", key("k1"), REQUEST, create)
    other = run_once("t2", key("k1"), REQUEST, create)
    assert other.job_id != first.job_id
    assert create.calls == 2


def test_a_failed_create_releases_the_key(store: MemoryPersistence) -> None:
    def failing() -> Job:
        raise InvalidRequestError("no")

    with pytest.raises(InvalidRequestError):
        run_once("t1", key("k1"), REQUEST, failing)
    create = Creator()
    assert run_once("t1", key("k1"), REQUEST, create).job_id == f"video_{1:032x}"


def test_a_duplicate_in_flight_waits_for_the_first_and_gets_its_job(
    store: MemoryPersistence,
) -> None:
    # Given a first request still creating its job
    gate = threading.Event()
    create = Creator(gate)
    results: list[Job] = []
    first = threading.Thread(
        target=lambda: results.append(run_once("t1", key("k1"), REQUEST, create))
    )
    first.start()
    while not store.records:
        time.sleep(0.01)
    # When a duplicate arrives and the first finishes shortly after
    threading.Timer(0.3, gate.set).start()
    duplicate = run_once("t1", key("k1"), REQUEST, create)
    first.join(5)
    # Then both answer with the one job
    assert results == [duplicate]
    assert create.calls == 1


def test_a_duplicate_of_a_request_that_takes_too_long_is_told_to_retry(
    store: MemoryPersistence, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "IN_PROGRESS_WAIT_SECONDS", 0.3)
    gate = threading.Event()
    create = Creator(gate)
    first = threading.Thread(target=run_once, args=("t1", key("k1"), REQUEST, create))
    first.start()
    try:
        while not store.records:
            time.sleep(0.01)
        with pytest.raises(IdempotencyConflictError) as caught:
            run_once("t1", key("k1"), REQUEST, create)
        assert caught.value.code == "idempotency_request_in_progress"
    finally:
        gate.set()
        first.join(5)
    assert create.calls == 1
