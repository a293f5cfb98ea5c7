"""OpenAIVideosClient against httpx.MockTransport: requests sent, responses read, errors mapped."""

from __future__ import annotations

import email.policy
import json
import logging
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from videojobs.adapters.providers import VideoProvider, build_provider
from videojobs.adapters.providers.openai_videos import OpenAIVideosClient
from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)
from videojobs.models.provider import (
    AuthStyle,
    CreateVideoRequest,
    InputReference,
    ProviderConfig,
    ProviderVideoStatus,
)

API_KEY = "sk-unit-test-KEY-4f1c9a7e"
BASE_URL = "https://example.openai.azure.com/openai/v1"

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., OpenAIVideosClient]


def video_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "video_123",
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "seconds": "4",
        "size": "720x1280",
        "prompt": "a calico cat playing piano",
        "created_at": 1_760_000_000,
        "completed_at": None,
        "expires_at": None,
        "error": None,
        "remixed_from_video_id": None,
    }
    body.update(overrides)
    return body


def error_json(message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


class Recorder:
    """A MockTransport handler that remembers what it was sent."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    clients: list[OpenAIVideosClient] = []

    def factory(
        handler: Handler, *, auth_style: AuthStyle = "bearer", **config: Any
    ) -> OpenAIVideosClient:
        settings = ProviderConfig(
            base_url=config.pop("base_url", BASE_URL),
            auth_style=auth_style,
            api_key=SecretStr(API_KEY),
            **config,
        )
        client = OpenAIVideosClient(settings, transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def parse_multipart(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """name -> (filename, content type, payload) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    assert isinstance(message, EmailMessage)
    assert message.is_multipart()
    fields: dict[str, tuple[str | None, str | None, bytes]] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        fields[name] = (part.get_filename(), part["content-type"], payload)
    return fields


def raises_from(action: Callable[[], object]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        action()
    return caught.value


# --- requests on the wire ------------------------------------------------------------------


def test_create_sends_multipart_fields_without_a_file(make_client: ClientFactory) -> None:
    # Given a provider that accepts the video
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    # When a video is created without a reference image
    video = client.create(
        CreateVideoRequest(prompt="a calico cat", model="sora-2-pro", seconds="8", size="1792x1024")
    )

    # Then the body is multipart form data with the four fields as plain strings
    sent = recorder.last
    assert sent.method == "POST"
    assert sent.url.path == "/openai/v1/videos"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert parse_multipart(sent) == {
        "prompt": (None, None, b"a calico cat"),
        "model": (None, None, b"sora-2-pro"),
        "seconds": (None, None, b"8"),
        "size": (None, None, b"1792x1024"),
    }
    assert video.id == "video_123"
    assert video.status is ProviderVideoStatus.QUEUED


def test_create_sends_input_reference_as_a_file_part(make_client: ClientFactory) -> None:
    # Given an image with bytes that are not valid text
    image = b"\x89PNG\r\n\x1a\n\x00\xff" + bytes(range(256))
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    # When a video is created from it
    client.create(
        CreateVideoRequest(
            prompt="zoom out",
            input_reference=InputReference(
                filename="start.png", content_type="image/png", data=image
            ),
        )
    )

    # Then the image travels unchanged as the input_reference file part
    fields = parse_multipart(recorder.last)
    assert fields["input_reference"] == ("start.png", "image/png", image)
    assert fields["prompt"] == (None, None, b"zoom out")


def test_create_encodes_a_non_ascii_prompt_as_utf8(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    client.create(CreateVideoRequest(prompt="café au lait, 東京の夜"))

    assert parse_multipart(recorder.last)["prompt"][2] == "café au lait, 東京の夜".encode()


def test_remix_sends_a_json_body(make_client: ClientFactory) -> None:
    # Given a provider that starts the remix
    recorder = Recorder(
        lambda _: httpx.Response(
            200, json=video_json(id="video_456", remixed_from_video_id="video_123")
        )
    )
    client = make_client(recorder)

    # When a completed video is remixed
    video = client.remix("video_123", "same scene, at night")

    # Then the prompt is posted as JSON to the remix route
    sent = recorder.last
    assert sent.method == "POST"
    assert sent.url.path == "/openai/v1/videos/video_123/remix"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"prompt": "same scene, at night"}
    assert video.remixed_from_video_id == "video_123"


def test_list_passes_cursor_limit_and_order(make_client: ClientFactory) -> None:
    page = {
        "object": "list",
        "data": [video_json(id="video_b"), video_json(id="video_c")],
        "first_id": "video_b",
        "last_id": "video_c",
        "has_more": True,
    }
    recorder = Recorder(lambda _: httpx.Response(200, json=page))
    client = make_client(recorder)

    result = client.list(after="video_a", limit=2, order="asc")

    assert recorder.last.url.path == "/openai/v1/videos"
    assert dict(recorder.last.url.params) == {"after": "video_a", "limit": "2", "order": "asc"}
    assert [video.id for video in result.data] == ["video_b", "video_c"]
    assert result.has_more is True
    assert result.last_id == "video_c"


def test_list_without_arguments_sends_no_query(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json={"object": "list", "data": []}))
    client = make_client(recorder)

    result = client.list()

    assert recorder.last.url.query == b""
    assert result.data == []


def test_delete_returns_the_deletion(make_client: ClientFactory) -> None:
    recorder = Recorder(
        lambda _: httpx.Response(
            200, json={"id": "video_123", "object": "video.deleted", "deleted": True}
        )
    )
    client = make_client(recorder)

    deleted = client.delete("video_123")

    assert recorder.last.method == "DELETE"
    assert recorder.last.url.path == "/openai/v1/videos/video_123"
    assert deleted.deleted is True


def test_retrieve_parses_a_completed_video_and_ignores_unknown_fields(
    make_client: ClientFactory,
) -> None:
    body = video_json(
        status="completed",
        progress=100,
        completed_at=1_760_000_090,
        expires_at=1_760_003_690,
        quality="high",
    )
    client = make_client(lambda _: httpx.Response(200, json=body))

    retrieved = client.retrieve("video_123")

    assert retrieved.video.status is ProviderVideoStatus.COMPLETED
    assert retrieved.video.progress == 100
    assert retrieved.video.expires_at == 1_760_003_690


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2500", 2500), (" 750 ", 750), ("1200.4", 1200), (None, None), ("soon", None), ("-5", None)],
)
def test_retrieve_reads_the_poll_after_hint(
    make_client: ClientFactory, header: str | None, expected: int | None
) -> None:
    headers = {} if header is None else {"openai-poll-after-ms": header}
    client = make_client(lambda _: httpx.Response(200, json=video_json(), headers=headers))

    assert client.retrieve("video_123").poll_after_ms == expected


def test_video_ids_cannot_escape_their_path(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    client.retrieve("../files?x=1")

    assert recorder.last.url.raw_path == b"/openai/v1/videos/..%2Ffiles%3Fx%3D1"


def test_an_empty_video_id_is_refused_before_any_request(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    with pytest.raises(ValueError, match="video_id"):
        client.retrieve("")
    assert recorder.requests == []


def test_base_url_with_trailing_slash_and_plain_host(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder, base_url="http://127.0.0.1:8765/v1/")

    client.retrieve("video_123")

    assert str(recorder.last.url) == "http://127.0.0.1:8765/v1/videos/video_123"


def test_user_agent_names_videojobs(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder)

    client.retrieve("video_123")

    assert recorder.last.headers["user-agent"].startswith("videojobs/")


def test_configured_timeouts_are_applied(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(
        recorder, connect_timeout=1.5, read_timeout=7.0, write_timeout=9.0, pool_timeout=2.5
    )

    client.retrieve("video_123")

    assert recorder.last.extensions["timeout"] == {
        "connect": 1.5,
        "read": 7.0,
        "write": 9.0,
        "pool": 2.5,
    }


# --- auth ----------------------------------------------------------------------------------


def test_bearer_auth_sends_authorization_only(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder, auth_style="bearer")

    client.retrieve("video_123")

    assert recorder.last.headers["authorization"] == f"Bearer {API_KEY}"
    assert "api-key" not in recorder.last.headers


def test_api_key_auth_sends_api_key_only(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json=video_json()))
    client = make_client(recorder, auth_style="api-key")

    client.create(CreateVideoRequest(prompt="a cat"))

    assert recorder.last.headers["api-key"] == API_KEY
    assert "authorization" not in recorder.last.headers


# --- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ProviderRejectedError),
        (404, ProviderRejectedError),
        (409, ProviderRejectedError),
        (410, ProviderRejectedError),
        (413, ProviderRejectedError),
        (415, ProviderRejectedError),
        (422, ProviderRejectedError),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (408, ProviderTransientError),
        (429, ProviderThrottledError),
        (500, ProviderTransientError),
        (502, ProviderTransientError),
        (503, ProviderTransientError),
        (504, ProviderTransientError),
        (529, ProviderTransientError),
        (302, ProviderRejectedError),
    ],
)
def test_each_status_maps_to_its_error_class(
    make_client: ClientFactory, status: int, expected: type[ProviderError]
) -> None:
    # Given a provider answering with this status and an OpenAI error body
    client = make_client(
        lambda _: httpx.Response(
            status,
            json=error_json("Something about the request", code="some_code", param="size"),
            headers={"x-request-id": "req_abc123"},
        )
    )

    # When a video is retrieved
    error = raises_from(lambda: client.retrieve("video_123"))

    # Then the error class is exactly the one the state machine matches on
    assert type(error) is expected
    assert error.status_code == status
    assert error.request_id == "req_abc123"
    assert error.code == "some_code"
    assert error.param == "size"
    assert "Something about the request" in error.message


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.create(CreateVideoRequest(prompt="x")), id="create"),
        pytest.param(lambda c: c.retrieve("video_1"), id="retrieve"),
        pytest.param(lambda c: c.list(), id="list"),
        pytest.param(lambda c: c.delete("video_1"), id="delete"),
        pytest.param(lambda c: c.remix("video_1", "again"), id="remix"),
    ],
)
def test_every_operation_maps_errors_and_keeps_the_request_id(
    make_client: ClientFactory, call: Callable[[OpenAIVideosClient], object]
) -> None:
    client = make_client(
        lambda _: httpx.Response(
            400,
            json=error_json("Your request was blocked", code="moderation_blocked"),
            headers={"x-request-id": "req_op"},
        )
    )

    error = raises_from(lambda: call(client))

    assert type(error) is ProviderRejectedError
    assert error.code == "moderation_blocked"
    assert error.request_id == "req_op"
    assert "req_op" in str(error)


def test_a_content_policy_rejection_keeps_the_provider_message(
    make_client: ClientFactory,
) -> None:
    client = make_client(
        lambda _: httpx.Response(
            400,
            json=error_json(
                "Your request was blocked by our moderation system.",
                code="moderation_blocked",
                param="prompt",
            ),
        )
    )

    error = raises_from(lambda: client.create(CreateVideoRequest(prompt="x")))

    assert (
        error.message
        == "POST /openai/v1/videos: Your request was blocked by our moderation system."
    )
    # ... and the provider's words alone, the only part a tenant may be shown
    assert error.provider_message == "Your request was blocked by our moderation system."
    assert (error.code, error.param) == ("moderation_blocked", "prompt")


def test_insufficient_quota_is_a_rejection_not_a_throttle(make_client: ClientFactory) -> None:
    client = make_client(
        lambda _: httpx.Response(
            429,
            json=error_json("You exceeded your current quota", code="insufficient_quota"),
            headers={"retry-after": "1"},
        )
    )

    error = raises_from(lambda: client.create(CreateVideoRequest(prompt="x")))

    assert type(error) is ProviderRejectedError
    assert error.code == "insufficient_quota"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"retry-after": "7", "retry-after-ms": "250"}, 0.25),
        ({"retry-after": "7", "x-ratelimit-reset-requests": "20ms"}, 7.0),
        ({"retry-after": "later", "x-ratelimit-reset-requests": "1h2m3.5s"}, 3723.5),
        ({"retry-after-ms": "-1", "retry-after": "3"}, 3.0),
        ({"retry-after": "soon", "retry-after-ms": "abc", "x-ratelimit-reset-requests": "?"}, None),
        ({}, None),
    ],
)
def test_throttling_carries_retry_after(
    make_client: ClientFactory, headers: dict[str, str], expected: float | None
) -> None:
    # Given a 429 with these rate-limit headers
    client = make_client(
        lambda _: httpx.Response(
            429, json=error_json("Rate limit reached", code="rate_limit_exceeded"), headers=headers
        )
    )

    # When a request is made
    error = raises_from(lambda: client.retrieve("video_123"))

    # Then the throttle says how long to wait, or that the provider did not say
    assert type(error) is ProviderThrottledError
    assert error.retry_after == (None if expected is None else pytest.approx(expected))


def test_throttling_with_an_http_date_counts_from_now(make_client: ClientFactory) -> None:
    client = make_client(
        lambda _: httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    )

    error = raises_from(lambda: client.retrieve("video_123"))

    assert isinstance(error, ProviderThrottledError)
    assert error.retry_after is not None
    assert error.retry_after > 70 * 365 * 24 * 3600


def test_a_non_json_error_body_gives_a_short_safe_message(make_client: ClientFactory) -> None:
    # Given a gateway that answers with a megabyte of HTML
    page = "<html><body>" + "<p>upstream exploded</p>" * 50_000 + "</body></html>"
    client = make_client(
        lambda _: httpx.Response(
            502,
            text=page,
            headers={"content-type": "text/html; charset=utf-8", "x-request-id": "req_gw"},
        )
    )

    # When a request fails
    error = raises_from(lambda: client.retrieve("video_123"))

    # Then the message is short, names the status, and quotes none of the page
    assert type(error) is ProviderTransientError
    assert len(str(error)) < 300
    assert "502" in error.message
    assert "text/html" in error.message
    assert "upstream exploded" not in str(error)
    assert error.code is None
    assert error.request_id == "req_gw"


def test_an_error_body_with_a_bare_string_is_still_shown(make_client: ClientFactory) -> None:
    client = make_client(lambda _: httpx.Response(404, json={"error": "Resource not found"}))

    error = raises_from(lambda: client.retrieve("video_404"))

    assert type(error) is ProviderRejectedError
    assert "Resource not found" in error.message


def test_an_empty_error_body(make_client: ClientFactory) -> None:
    client = make_client(lambda _: httpx.Response(503))

    error = raises_from(lambda: client.retrieve("video_1"))

    assert type(error) is ProviderTransientError
    assert error.message == "GET /openai/v1/videos/video_1 returned HTTP 503 Service Unavailable"


def test_a_very_long_provider_message_is_truncated(make_client: ClientFactory) -> None:
    client = make_client(lambda _: httpx.Response(400, json=error_json("x" * 20_000)))

    error = raises_from(lambda: client.retrieve("video_1"))

    assert len(error.message) < 600
    assert error.message.endswith("...")


def test_an_error_body_too_large_to_read_gives_the_status_only(
    make_client: ClientFactory,
) -> None:
    # Bodies are read up to a cap, so an enormous JSON error cannot be parsed (nor fill memory)
    client = make_client(lambda _: httpx.Response(400, json=error_json("x" * 1_000_000)))

    error = raises_from(lambda: client.retrieve("video_1"))

    assert type(error) is ProviderRejectedError
    assert "HTTP 400" in error.message
    assert len(str(error)) < 300


@pytest.mark.parametrize(
    ("exception", "code"),
    [
        (httpx.ConnectError("connection refused"), "connect_error"),
        (httpx.ConnectTimeout("connect timed out"), "connect_timeout"),
        (httpx.PoolTimeout("pool timed out"), "pool_timeout"),
        (httpx.ReadTimeout("read timed out"), "read_timeout"),
        (httpx.WriteTimeout("write timed out"), "write_timeout"),
        (httpx.ReadError("connection reset by peer"), "read_error"),
        (httpx.WriteError("broken pipe"), "write_error"),
        (httpx.RemoteProtocolError("server disconnected"), "remote_protocol_error"),
    ],
)
def test_transport_failures_are_transient(
    make_client: ClientFactory, exception: httpx.TransportError, code: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exception

    client = make_client(fail)

    error = raises_from(lambda: client.create(CreateVideoRequest(prompt="x")))

    assert type(error) is ProviderTransientError
    assert error.code == code
    assert error.status_code is None
    assert error.__cause__ is exception


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(
            lambda: httpx.Response(200, text="<html>maintenance</html>"), id="html-on-200"
        ),
        pytest.param(lambda: httpx.Response(200, content=b""), id="empty"),
        pytest.param(lambda: httpx.Response(200, content=b'{"id": "video_1", '), id="cut-short"),
        pytest.param(lambda: httpx.Response(200, json={"id": "video_1"}), id="missing-fields"),
        pytest.param(
            lambda: httpx.Response(200, json=video_json(status="exploded")), id="unknown-status"
        ),
        pytest.param(lambda: httpx.Response(200, json=[video_json()]), id="wrong-shape"),
    ],
)
def test_an_unreadable_success_body_is_transient(
    make_client: ClientFactory, respond: Callable[[], httpx.Response]
) -> None:
    client = make_client(lambda _: respond())

    error = raises_from(lambda: client.retrieve("video_1"))

    assert type(error) is ProviderTransientError
    assert error.code == "invalid_response"
    assert error.status_code == 200
    assert "ProviderVideo" in error.message
    assert "maintenance" not in str(error)


def test_a_success_body_that_cannot_be_decompressed_is_transient(
    make_client: ClientFactory,
) -> None:
    client = make_client(
        lambda _: httpx.Response(
            200,
            headers={"content-encoding": "gzip"},
            stream=httpx.ByteStream(b"not gzip at all"),
        )
    )

    error = raises_from(lambda: client.retrieve("video_1"))

    assert type(error) is ProviderTransientError
    assert error.code == "invalid_response"


def test_a_runaway_success_body_is_not_read_into_memory(make_client: ClientFactory) -> None:
    def endless() -> Iterator[bytes]:
        yield b'{"id": "video_1", "padding": "'
        while True:
            yield b"x" * 65536

    client = make_client(lambda _: httpx.Response(200, content=endless()))

    error = raises_from(lambda: client.retrieve("video_1"))

    assert type(error) is ProviderTransientError
    assert error.code == "invalid_response"
    assert "more than" in error.message


# --- the key stays secret ------------------------------------------------------------------


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_the_key_is_absent_from_config_and_client_text(
    make_client: ClientFactory, auth_style: AuthStyle
) -> None:
    client = make_client(lambda _: httpx.Response(200, json=video_json()), auth_style=auth_style)

    texts = [
        repr(client),
        str(client),
        repr(client.config),
        str(client.config),
        client.config.model_dump_json(),
        str(client.config.model_dump()),
        repr(vars(client)),
    ]

    assert all(API_KEY not in text for text in texts)
    assert "example.openai.azure.com" in repr(client)


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_the_key_is_absent_from_errors_even_when_the_provider_echoes_it(
    make_client: ClientFactory, auth_style: AuthStyle
) -> None:
    # Given a gateway that echoes the credential it refused, in every field it has
    client = make_client(
        lambda _: httpx.Response(
            401,
            json=error_json(f"Incorrect API key provided: {API_KEY}", code=API_KEY, param=API_KEY),
        ),
        auth_style=auth_style,
    )

    # When the call fails
    error = raises_from(lambda: client.retrieve("video_1"))

    # Then no rendering of the error shows the key
    assert type(error) is ProviderAuthError
    rendered = [str(error), repr(error), error.message, str(error.code), str(error.param)]
    rendered.append("".join(traceback.format_exception(error)))
    assert all(API_KEY not in text for text in rendered)
    assert "[redacted]" in error.message


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_the_key_is_absent_from_transport_error_chains_and_logs(
    make_client: ClientFactory, auth_style: AuthStyle, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(fail, auth_style=auth_style)
    ok_client = make_client(lambda _: httpx.Response(200, json=video_json()), auth_style=auth_style)

    with caplog.at_level(logging.DEBUG):
        error = raises_from(lambda: client.retrieve("video_1"))
        ok_client.retrieve("video_1")
        logging.getLogger("test").exception("provider call failed", exc_info=error)

    assert API_KEY not in "".join(traceback.format_exception(error))
    assert API_KEY not in caplog.text
    assert "provider call failed" in caplog.text


def test_a_validation_error_on_the_config_does_not_show_the_key() -> None:
    with pytest.raises(ValueError) as caught:
        ProviderConfig.model_validate({"api_key": API_KEY, "auth_style": "basic"})

    assert API_KEY not in str(caught.value)


# --- lifecycle and the port ----------------------------------------------------------------


def test_the_client_is_a_context_manager_that_closes(make_client: ClientFactory) -> None:
    client = make_client(lambda _: httpx.Response(200, json=video_json()))

    with client as entered:
        entered.retrieve("video_1")

    with pytest.raises(RuntimeError, match="closed"):
        client.retrieve("video_1")


def test_build_provider_returns_a_video_provider() -> None:
    config = ProviderConfig(base_url=BASE_URL, api_key=SecretStr(API_KEY))

    provider = build_provider(config)
    try:
        assert isinstance(provider, VideoProvider)
        assert isinstance(provider, OpenAIVideosClient)
    finally:
        provider.close()


def test_importing_the_provider_port_does_not_import_httpx() -> None:
    # A fresh interpreter: this one already imported httpx.
    code = (
        "import sys, videojobs.adapters.providers, videojobs.models.provider; "
        "sys.exit(1 if 'httpx' in sys.modules or 'openai' in sys.modules else 0)"
    )

    result = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)  # noqa: S603

    assert result.returncode == 0
