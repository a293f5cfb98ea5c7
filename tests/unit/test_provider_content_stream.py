"""stream_content: pass-through and chunking, length checks, broken streams, errors, redirects,
real sockets."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from videojobs.adapters.providers import ContentStream
from videojobs.adapters.providers.openai_videos import OpenAIVideosClient, RedirectGuard
from videojobs.logic.callback_target import provider_redirect_addresses
from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)
from videojobs.models.provider import AuthStyle, ProviderConfig
from videojobs.settings import get_settings

API_KEY = "sk-stream-test-KEY-77aa01"
BASE_URL = "https://example.openai.azure.com/openai/v1"
MiB = 1024 * 1024

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., OpenAIVideosClient]


class PieceStream(httpx.SyncByteStream):
    """A response body delivered in given pieces, optionally failing after them."""

    def __init__(self, pieces: Iterator[bytes] | list[bytes], fail: Exception | None = None):
        self.pieces = pieces
        self.fail = fail
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True


CDN_ADDRESS = "93.184.215.14"


class FakeGuard:
    """A redirect guard answering from a table, remembering what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, int]] = []

    def __call__(self, scheme: str, host: str, port: int) -> list[str]:
        self.asked.append((scheme, host, port))
        return self.answers[host]


class Recorder:
    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    clients: list[OpenAIVideosClient] = []

    def factory(
        handler: Handler | None = None,
        *,
        auth_style: AuthStyle = "bearer",
        transport: httpx.BaseTransport | None = None,
        redirect_guard: RedirectGuard | None = None,
        **config: Any,
    ) -> OpenAIVideosClient:
        settings = ProviderConfig(
            base_url=config.pop("base_url", BASE_URL),
            auth_style=auth_style,
            api_key=SecretStr(API_KEY),
            **config,
        )
        if transport is None and handler is not None:
            transport = httpx.MockTransport(handler)
        client = OpenAIVideosClient(settings, transport=transport, redirect_guard=redirect_guard)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def body_of(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def split(data: bytes, piece: int) -> list[bytes]:
    return [data[i : i + piece] for i in range(0, len(data), piece)]


def mp4_response(
    pieces: list[bytes],
    *,
    length: int | None,
    fail: Exception | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {"content-type": "video/mp4", "x-request-id": "req_dl", **(headers or {})}
    if length is not None:
        all_headers["content-length"] = str(length)
    return httpx.Response(200, headers=all_headers, stream=PieceStream(pieces, fail))


# --- the happy path ------------------------------------------------------------------------


def mixed_pieces(body: bytes) -> list[bytes]:
    """``body`` cut into pieces of mixed sizes, some tiny, some larger than a small chunk."""
    pieces, offset = [], 0
    for size in [1, 7, 500, 3, 1200, 64]:
        pieces.append(body[offset : offset + size])
        offset += size
    pieces.append(body[offset:])
    return pieces


def test_by_default_the_pieces_are_handed_over_as_they_arrive(
    make_client: ClientFactory,
) -> None:
    # Given a 3000-byte body arriving in pieces of mixed sizes
    body = body_of(3000)
    sent = mixed_pieces(body)
    client = make_client(lambda _: mp4_response(sent, length=len(body)))

    # When it is streamed without a chunk size
    with client.stream_content("video_123") as stream:
        received = list(stream.iter_chunks())

    # Then the pieces come out unchanged, in order, as the very objects the transport gave
    assert [len(piece) for piece in received] == [len(piece) for piece in sent]
    assert b"".join(received) == body
    assert all(out is given for out, given in zip(received, sent, strict=True))
    assert stream.bytes_received == len(body)


def test_bytes_received_counts_each_piece_as_it_is_handed_over(
    make_client: ClientFactory,
) -> None:
    body = body_of(1000)
    client = make_client(lambda _: mp4_response(split(body, 300), length=len(body)))

    counts: list[int] = []
    with client.stream_content("video_123") as stream:
        assert stream.bytes_received == 0
        for _ in stream.iter_chunks():
            counts.append(stream.bytes_received)

    assert counts == [300, 600, 900, 1000]


def test_pass_through_memory_stays_near_one_piece_while_streaming_a_large_body(
    make_client: ClientFactory,
) -> None:
    # Given a 48 MiB body whose 64 KiB pieces are created as they are sent
    piece_size, total = 64 * 1024, 48 * MiB

    def pieces() -> Iterator[bytes]:
        for index in range(total // piece_size):
            yield bytes([index % 256]) * piece_size

    client = make_client(
        lambda _: httpx.Response(
            200, headers={"content-length": str(total)}, stream=PieceStream(pieces())
        )
    )

    # When it is streamed piece by piece and each piece is dropped
    tracemalloc.start()
    try:
        received = 0
        with client.stream_content("video_123") as stream:
            for piece in stream.iter_chunks():
                received += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the body went through with no buffer anywhere near even one 1 MiB chunk
    assert received == total
    assert peak < 512 * 1024


def test_chunks_have_the_requested_size_whatever_the_network_piece_size(
    make_client: ClientFactory,
) -> None:
    # Given a 1000-byte body arriving in awkward 7-byte pieces
    body = body_of(1000)
    recorder = Recorder(lambda _: mp4_response(split(body, 7), length=len(body)))
    client = make_client(recorder)

    # When it is streamed in 64-byte chunks
    with client.stream_content("video_123", "video") as stream:
        chunks = list(stream.iter_chunks(chunk_size=64))

    # Then every chunk but the last is exactly 64 bytes and nothing is lost or reordered
    assert [len(chunk) for chunk in chunks] == [64] * 15 + [40]
    assert b"".join(chunks) == body
    assert all(type(chunk) is bytes for chunk in chunks)


def test_the_stream_exposes_length_type_and_request_id(make_client: ClientFactory) -> None:
    client = make_client(lambda _: mp4_response([b"abc"], length=3))

    with client.stream_content("video_123") as stream:
        assert isinstance(stream, ContentStream)
        assert (stream.content_length, stream.content_type, stream.request_id) == (
            3,
            "video/mp4",
            "req_dl",
        )
        assert b"".join(stream.iter_chunks()) == b"abc"


@pytest.mark.parametrize("variant", ["video", "thumbnail", "spritesheet"])
def test_the_request_names_the_variant_and_asks_for_identity(
    make_client: ClientFactory, variant: str
) -> None:
    recorder = Recorder(lambda _: mp4_response([b"x"], length=1))
    client = make_client(recorder, content_read_timeout=33.0)

    with client.stream_content("video_123", variant) as stream:  # type: ignore[arg-type]
        list(stream.iter_chunks())

    sent = recorder.requests[-1]
    assert sent.url.path == "/openai/v1/videos/video_123/content"
    assert dict(sent.url.params) == {"variant": variant}
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.extensions["timeout"]["read"] == 33.0


@pytest.mark.parametrize("chunk_size", [None, 128])
def test_a_chunked_body_has_no_length_and_still_streams(
    make_client: ClientFactory, chunk_size: int | None
) -> None:
    body = body_of(300)
    client = make_client(lambda _: mp4_response(split(body, 100), length=None))

    with client.stream_content("video_123") as stream:
        assert stream.content_length is None
        assert b"".join(stream.iter_chunks(chunk_size=chunk_size)) == body


def test_a_compressed_body_is_decoded_and_its_length_not_exposed(
    make_client: ClientFactory,
) -> None:
    # Given a server that compresses anyway
    body = b"spritesheet " * 1000
    packed = gzip.compress(body)
    client = make_client(
        lambda _: mp4_response(
            split(packed, 50), length=len(packed), headers={"content-encoding": "gzip"}
        )
    )

    # When it is streamed
    with client.stream_content("video_123", "spritesheet") as stream:
        # Then the declared (compressed) length is not offered as the length of what we yield
        assert stream.content_length is None
        assert b"".join(stream.iter_chunks(chunk_size=1000)) == body


def test_a_compressed_chunked_body_is_decoded(make_client: ClientFactory) -> None:
    body = b"thumbnail " * 500
    packed = gzip.compress(body)
    client = make_client(
        lambda _: mp4_response(split(packed, 40), length=None, headers={"content-encoding": "gzip"})
    )

    with client.stream_content("video_123", "thumbnail") as stream:
        assert b"".join(stream.iter_chunks(chunk_size=777)) == body


@pytest.mark.parametrize("chunk_size", [1, 3, 100, 101, 1000, 4096])
def test_any_chunk_size_reassembles_the_body(make_client: ClientFactory, chunk_size: int) -> None:
    # Pieces of mixed sizes: some smaller than a chunk, some spanning several
    body = body_of(3000)
    sizes = [1, 7, 500, 3, 1200, 64, 1225]
    pieces, offset = [], 0
    for size in sizes:
        pieces.append(body[offset : offset + size])
        offset += size
    client = make_client(lambda _: mp4_response(pieces, length=len(body)))

    with client.stream_content("video_123") as stream:
        chunks = list(stream.iter_chunks(chunk_size=chunk_size))

    assert b"".join(chunks) == body
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size
    assert stream.bytes_received == len(body)


def test_memory_stays_near_one_chunk_while_streaming_a_large_body(
    make_client: ClientFactory,
) -> None:
    # Given a 48 MiB body generated on the fly
    piece = b"\xab" * (64 * 1024)
    total = 48 * MiB

    def pieces() -> Iterator[bytes]:
        for _ in range(total // len(piece)):
            yield piece

    client = make_client(
        lambda _: httpx.Response(
            200, headers={"content-length": str(total)}, stream=PieceStream(pieces())
        )
    )

    # When it is streamed in 1 MiB chunks and each chunk is dropped
    tracemalloc.start()
    try:
        received = 0
        with client.stream_content("video_123") as stream:
            for chunk in stream.iter_chunks(chunk_size=MiB):
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the whole body went through but never sat in memory
    assert received == total
    assert peak < 4 * MiB


# --- broken streams ------------------------------------------------------------------------


def test_a_body_shorter_than_content_length_is_transient(make_client: ClientFactory) -> None:
    # Given a server that declares 1000 bytes and sends 600
    client = make_client(lambda _: mp4_response(split(body_of(600), 100), length=1000))

    # When the body is streamed
    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        for _ in stream.iter_chunks(chunk_size=256):
            pass

    # Then the truncation is a transient error naming what arrived
    error = caught.value
    assert type(error) is ProviderTransientError
    assert error.code == "truncated_body"
    assert error.request_id == "req_dl"
    assert "600 of the 1000 bytes" in error.message


def test_a_body_longer_than_content_length_is_transient(make_client: ClientFactory) -> None:
    client = make_client(lambda _: mp4_response(split(body_of(600), 100), length=500))

    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        list(stream.iter_chunks(chunk_size=64))

    assert type(caught.value) is ProviderTransientError
    assert caught.value.code == "truncated_body"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (httpx.RemoteProtocolError("peer closed connection"), "remote_protocol_error"),
        (httpx.ReadError("connection reset by peer"), "read_error"),
        (httpx.ReadTimeout("timed out"), "read_timeout"),
    ],
)
@pytest.mark.parametrize(
    ("chunk_size", "handed_over"),
    [(128, [128, 128]), (None, [100, 100, 100])],
    ids=["chunks", "pass-through"],
)
def test_a_disconnect_mid_stream_is_transient(
    make_client: ClientFactory,
    failure: httpx.TransportError,
    code: str,
    chunk_size: int | None,
    handed_over: list[int],
) -> None:
    # Given a body that breaks after 300 of its 1000 bytes, sent in 100-byte pieces
    client = make_client(
        lambda _: mp4_response(split(body_of(300), 100), length=1000, fail=failure)
    )

    # When it is streamed in whole chunks of 128 bytes, or piece by piece as it arrives
    received: list[bytes] = []
    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        for chunk in stream.iter_chunks(chunk_size=chunk_size):
            received.append(chunk)

    # Then the failure is transient and chained, and only what was whole before the break
    # was handed out
    error = caught.value
    assert type(error) is ProviderTransientError
    assert error.code == code
    assert error.request_id == "req_dl"
    assert error.__cause__ is failure
    assert [len(chunk) for chunk in received] == handed_over
    assert stream.bytes_received == sum(handed_over)


def test_pass_through_hands_over_a_short_body_then_fails(make_client: ClientFactory) -> None:
    # Given a server that declares 1000 bytes and sends 600
    client = make_client(lambda _: mp4_response(split(body_of(600), 100), length=1000))

    # When the body is streamed piece by piece
    received: list[bytes] = []
    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        for piece in stream.iter_chunks():
            received.append(piece)

    # Then what arrived was handed over, and the end of the stream is a transient error
    error = caught.value
    assert type(error) is ProviderTransientError
    assert error.code == "truncated_body"
    assert error.request_id == "req_dl"
    assert "600 of the 1000 bytes" in error.message
    assert b"".join(received) == body_of(600)
    assert stream.bytes_received == 600


@pytest.mark.parametrize("declared", [500, 550])
def test_pass_through_never_hands_over_bytes_beyond_content_length(
    make_client: ClientFactory, declared: int
) -> None:
    # Given a server that declares fewer bytes than the 600 it sends, in 100-byte pieces
    client = make_client(lambda _: mp4_response(split(body_of(600), 100), length=declared))

    # When the body is streamed piece by piece
    received: list[bytes] = []
    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        for piece in stream.iter_chunks():
            received.append(piece)

    # Then the piece that overflows the declared length is refused, not handed over
    assert type(caught.value) is ProviderTransientError
    assert caught.value.code == "truncated_body"
    assert [len(piece) for piece in received] == [100] * 5
    assert stream.bytes_received == 500


def test_a_compressed_body_is_decoded_in_pass_through(make_client: ClientFactory) -> None:
    body = b"spritesheet " * 1000
    packed = gzip.compress(body)
    client = make_client(
        lambda _: mp4_response(
            split(packed, 50), length=len(packed), headers={"content-encoding": "gzip"}
        )
    )

    with client.stream_content("video_123", "spritesheet") as stream:
        assert b"".join(stream.iter_chunks()) == body
        assert stream.bytes_received == len(body)


def test_a_truncated_compressed_body_is_transient_in_pass_through(
    make_client: ClientFactory,
) -> None:
    # Given a gzip body whose declared length is longer than what is sent
    packed = gzip.compress(b"thumbnail " * 500)
    client = make_client(
        lambda _: mp4_response(
            split(packed, 40), length=len(packed) + 10, headers={"content-encoding": "gzip"}
        )
    )

    with client.stream_content("video_123") as stream, pytest.raises(ProviderError) as caught:
        list(stream.iter_chunks())

    assert type(caught.value) is ProviderTransientError
    assert caught.value.code == "truncated_body"


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_a_chunk_size_that_is_not_positive_is_refused(
    make_client: ClientFactory, chunk_size: int
) -> None:
    client = make_client(lambda _: mp4_response([b"abc"], length=3))

    with client.stream_content("video_123") as stream, pytest.raises(ValueError, match="positive"):
        stream.iter_chunks(chunk_size=chunk_size)


@pytest.mark.parametrize("chunk_size", [None, 100])
def test_the_response_is_closed_when_the_block_exits_early(
    make_client: ClientFactory, chunk_size: int | None
) -> None:
    body_stream = PieceStream(split(body_of(1000), 100))
    client = make_client(
        lambda _: httpx.Response(200, headers={"content-length": "1000"}, stream=body_stream)
    )

    with client.stream_content("video_123") as stream:
        next(stream.iter_chunks(chunk_size=chunk_size))

    assert body_stream.closed


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, ProviderRejectedError),
        (400, ProviderRejectedError),
        (409, ProviderRejectedError),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (429, ProviderThrottledError),
        (500, ProviderTransientError),
        (503, ProviderTransientError),
    ],
)
def test_an_error_status_on_content_is_mapped(
    make_client: ClientFactory, status: int, expected: type[ProviderError]
) -> None:
    # Given content that is not (or no longer) available
    payload = json.dumps(
        {"error": {"message": "Video not ready", "type": "invalid_request_error", "code": "nope"}}
    ).encode()
    client = make_client(
        lambda _: httpx.Response(
            status,
            headers={
                "content-type": "application/json",
                "x-request-id": "req_c",
                "retry-after": "4",
            },
            content=payload,
        )
    )

    # When a download is opened
    with pytest.raises(ProviderError) as caught, client.stream_content("video_123"):
        pytest.fail("the block must not run for an error status")

    # Then the error is mapped before any body is handed out
    assert type(caught.value) is expected
    assert caught.value.request_id == "req_c"
    assert caught.value.code == "nope"
    if isinstance(caught.value, ProviderThrottledError):
        assert caught.value.retry_after == 4.0


def test_an_endless_error_body_is_not_read_to_the_end(make_client: ClientFactory) -> None:
    def forever() -> Iterator[bytes]:
        while True:
            yield b"<p>oops</p>" * 1000

    client = make_client(
        lambda _: httpx.Response(
            502, headers={"content-type": "text/html"}, stream=PieceStream(forever())
        )
    )

    with pytest.raises(ProviderTransientError) as caught, client.stream_content("video_123"):
        pass

    assert "502" in caught.value.message


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_a_redirect_to_another_origin_does_not_carry_the_key(
    make_client: ClientFactory, auth_style: AuthStyle
) -> None:
    # Given a provider that redirects downloads to a CDN
    def respond(request: httpx.Request) -> httpx.Response:
        if request.headers["host"] == "cdn.example.net":
            return mp4_response([b"movie"], length=5)
        return httpx.Response(302, headers={"location": "https://cdn.example.net/v/abc.mp4?sig=1"})

    recorder = Recorder(respond)
    guard = FakeGuard({"cdn.example.net": [CDN_ADDRESS]})
    client = make_client(recorder, auth_style=auth_style, redirect_guard=guard)

    # When the content is streamed
    with client.stream_content("video_123") as stream:
        data = b"".join(stream.iter_chunks())

    # Then the CDN was checked, and the body comes from the address checked for it (by name in
    # Host and TLS), which never saw the key
    first, second = recorder.requests
    assert data == b"movie"
    assert guard.asked == [("https", "cdn.example.net", 443)]
    assert str(second.url) == f"https://{CDN_ADDRESS}/v/abc.mp4?sig=1"
    assert second.headers["host"] == "cdn.example.net"
    assert second.extensions["sni_hostname"] == "cdn.example.net"
    assert {"authorization", "api-key"} & set(first.headers.keys())
    assert not {"authorization", "api-key"} & set(second.headers.keys())
    assert all(API_KEY not in value for value in second.headers.values())


def test_without_a_guard_a_redirect_off_the_origin_is_refused(make_client: ClientFactory) -> None:
    recorder = Recorder(
        lambda request: httpx.Response(302, headers={"location": "https://cdn.example.net/x"})
    )
    client = make_client(recorder)

    with pytest.raises(ProviderRejectedError) as caught, client.stream_content("video_123"):
        pass

    assert caught.value.code == "redirect_refused"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "location",
    [
        "http://cdn.example.net/v/abc.mp4",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://10.0.0.5/v/abc.mp4",
        "https://127.0.0.1:8443/v/abc.mp4",
        "https://[::ffff:169.254.169.254]/v",
        "ftp://cdn.example.net/v/abc.mp4",
    ],
)
def test_a_redirect_to_plain_http_or_a_non_public_address_is_never_followed(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    # Given a provider (or whoever answers for it) redirecting a download inwards
    monkeypatch.delenv("VIDEOJOBS_LOCAL_MODE", raising=False)
    get_settings.cache_clear()
    recorder = Recorder(lambda request: httpx.Response(302, headers={"location": location}))
    client = make_client(recorder, redirect_guard=provider_redirect_addresses)

    # When the content is streamed, then the redirect is refused and nothing else is asked
    with pytest.raises(ProviderRejectedError) as caught, client.stream_content("video_123"):
        pass
    assert caught.value.code == "redirect_refused"
    assert len(recorder.requests) == 1
    get_settings.cache_clear()


def test_a_same_origin_redirect_keeps_the_key(make_client: ClientFactory) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            return httpx.Response(307, headers={"location": "/openai/v1/files/blob_1"})
        return mp4_response([b"movie"], length=5)

    recorder = Recorder(respond)
    client = make_client(recorder)

    with client.stream_content("video_123") as stream:
        assert b"".join(stream.iter_chunks()) == b"movie"

    assert recorder.requests[1].url.path == "/openai/v1/files/blob_1"
    assert recorder.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


def test_a_redirect_loop_ends_in_a_rejection(make_client: ClientFactory) -> None:
    recorder = Recorder(lambda request: httpx.Response(302, headers={"location": str(request.url)}))
    client = make_client(recorder)

    with pytest.raises(ProviderRejectedError) as caught, client.stream_content("video_123"):
        pass

    assert caught.value.status_code == 302
    assert len(recorder.requests) == 6


# --- real sockets --------------------------------------------------------------------------


class ScriptedServer:
    """A TCP server on 127.0.0.1 that answers each connection with a scripted function."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        # accept() is not woken by close() from another thread; poll instead.
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                self.script(conn)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=5)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return b""
        data += piece
    return data


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Callable[[socket.socket], None]) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_server_that_hangs_up_early_gives_a_transient_error(
    serve: Callable[..., ScriptedServer], make_client: ClientFactory
) -> None:
    # Given a real server that promises 100 000 bytes and hangs up after 40 000
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n"
            b"x-request-id: req_sock\r\n\r\n" + b"\x00" * 40_000
        )

    server = serve(script)
    client = make_client(base_url=server.base_url)

    # When the download is streamed
    with client.stream_content("video_1") as stream, pytest.raises(ProviderError) as caught:
        list(stream.iter_chunks(chunk_size=16_384))

    # Then it is a transient error, with the request id the server sent
    assert type(caught.value) is ProviderTransientError
    assert caught.value.request_id == "req_sock"


def test_a_server_that_stalls_mid_body_hits_the_content_read_timeout(
    serve: Callable[..., ScriptedServer], make_client: ClientFactory
) -> None:
    release = threading.Event()

    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"\x00" * 10)
        release.wait(10)

    server = serve(script)
    client = make_client(base_url=server.base_url, content_read_timeout=0.2)

    try:
        with client.stream_content("video_1") as stream, pytest.raises(ProviderError) as caught:
            list(stream.iter_chunks())
    finally:
        release.set()

    assert type(caught.value) is ProviderTransientError
    assert caught.value.code == "read_timeout"


def test_requests_reuse_one_connection(
    serve: Callable[..., ScriptedServer], make_client: ClientFactory
) -> None:
    body = json.dumps(
        {
            "id": "video_1",
            "object": "video",
            "model": "sora-2",
            "status": "queued",
            "progress": 0,
            "seconds": "4",
            "size": "720x1280",
            "created_at": 1,
        }
    ).encode()

    def script(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    server = serve(script)
    client = make_client(base_url=server.base_url)

    for _ in range(3):
        client.retrieve("video_1")

    assert server.connections == 1


def test_a_refused_connection_is_transient(make_client: ClientFactory) -> None:
    # A port that was just free and is now closed: nothing listens there.
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    client = make_client(base_url=f"http://127.0.0.1:{port}/v1", connect_timeout=2.0)

    with pytest.raises(ProviderTransientError) as caught, client.stream_content("video_1"):
        pass

    assert caught.value.code == "connect_error"
    assert API_KEY not in str(caught.value)
