"""Serving the emulator over HTTP/1.1 from a background thread."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any, cast

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

from .app import EmulatorApp, TruncatedDownloadError
from .config import EmulatorConfig
from .engine import Emulator

logger = logging.getLogger(__name__)

# Idle keep-alive connections are closed after this many seconds.
KEEP_ALIVE_TIMEOUT = 30.0


class _Connections:
    """Open client sockets, so stop() can end idle keep-alive connections at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            closed = self._closed
        if closed:
            _shutdown(sock)

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class KeepAliveRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, but with HTTP/1.1 persistent connections.

    werkzeug's development handler closes every connection after one response. Clients such
    as the openai SDK keep a pool of connections, and a benchmark of downloads should not pay
    for a new one on every request, so this handler keeps the connection open whenever the
    request body was fully consumed and the response length is known or chunked.
    """

    connections: _Connections
    timeout = KEEP_ALIVE_TIMEOUT
    # Headers and body go out in separate writes; with Nagle on, each small response waits
    # for the client's delayed ACK (~40 ms on Linux).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.connections.discard(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('"%s" %s %s', self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.DEBUG
        logger.log(level, message, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        body: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):
            # A chunked request body: simpler to close than to track how much was read.
            self.close_connection = True
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
                self.close_connection = True
            body = LimitedStream(cast(IO[bytes], self.rfile), max(length, 0))
            environ["wsgi.input"] = body

        state: dict[str, Any] = {"status": None, "headers": None, "sent": False, "chunked": False}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info and state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return write

        def write(data: bytes) -> None:
            if not state["sent"]:
                self._send_head(state)
            if data:
                if state["chunked"]:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)
            self.wfile.flush()

        application_iter: Iterable[bytes] | None = None
        try:
            application_iter = self.server.app(environ, start_response)
            for data in application_iter:
                write(data)
            if not state["sent"]:
                write(b"")
            if state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except TruncatedDownloadError:
            if not state["sent"]:
                write(b"")
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("error while serving %s %s", self.command, self.path)
            self.close_connection = True
            if not state["sent"]:
                with contextlib.suppress(Exception):
                    self.send_error(500)
        finally:
            close = getattr(application_iter, "close", None)
            if close is not None:
                close()
        if body is not None and not self.close_connection:
            # Unread request bytes would be parsed as the next request.
            try:
                body.exhaust()
            except (ConnectionError, TimeoutError, OSError):
                self.close_connection = True

    def _send_head(self, state: dict[str, Any]) -> None:
        status: str = state["status"]
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        names = set()
        for name, value in state["headers"]:
            self.send_header(name, value)
            names.add(name.lower())
        if (
            "content-length" not in names
            and self.command != "HEAD"
            and not (100 <= code < 200 or code in (204, 304))
        ):
            state["chunked"] = True
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        state["sent"] = True


class EmulatorServer:
    """The emulator on a real socket, served from a background thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``port=0`` picks a free
    port; read it back from :attr:`port` or :attr:`url`.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulator = Emulator(config or EmulatorConfig())
        self.app = EmulatorApp(self.emulator)
        self._connections = _Connections()
        handler = type(
            "EmulatorRequestHandler", (KeepAliveRequestHandler,), {"connections": self._connections}
        )
        try:
            self._server: ThreadedWSGIServer = cast(
                ThreadedWSGIServer,
                make_server(host, port, self.app, threaded=True, request_handler=handler),
            )
        except (OSError, SystemExit) as exc:
            # werkzeug calls sys.exit() when the port is taken; a library must not exit.
            self.emulator.close()
            raise OSError(f"cannot listen on {host}:{port}") from exc
        # Non-daemon handler threads are joined by server_close(), so stop() leaves none behind.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    def start(self) -> EmulatorServer:
        self.emulator.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("provider emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join all threads; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.emulator.stop_event.set()
        # Connections first: werkzeug's serve_forever joins handler threads on its way out,
        # and an idle keep-alive thread would otherwise hold it until its read times out.
        self._connections.close_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the admin API, in process ------------------------------------------------------------

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Same as ``POST /_emulator/faults`` with ``faults`` as the JSON body."""
        self.emulator.faults.configure(faults)
        return self.emulator.faults.snapshot()

    def update_config(self, **changes: Any) -> EmulatorConfig:
        """Same as ``POST /_emulator/config``."""
        return self.emulator.update_config(changes)

    def requests(self) -> list[dict[str, Any]]:
        """Same as ``GET /_emulator/requests``."""
        return self.emulator.requests()

    def stats(self) -> dict[str, int | float]:
        """Same as ``GET /_emulator/stats``."""
        return self.emulator.stats_snapshot()

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Same as ``GET /_emulator/webhooks``."""
        return self.emulator.webhooks.deliveries()

    def wait_for(
        self,
        video_id: str,
        statuses: tuple[str, ...] = ("completed", "failed"),
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Block until a video reaches one of ``statuses``; returns its Video object."""
        return self.emulator.wait_for(video_id, statuses, timeout)

    def reset(self, *, restore_config: bool = False) -> None:
        """Same as ``POST /_emulator/reset`` (``{"config": true}`` restores the start config)."""
        self.emulator.reset(restore_config=restore_config)
