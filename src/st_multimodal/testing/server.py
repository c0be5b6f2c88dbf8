"""A threaded HTTP/1.1 server on 127.0.0.1 for tests, with a handler per path and a log of requests.

    with LocalServer() as server:
        url = server.route("/cat.png", png, headers={"Content-Type": "image/png"})
        model.encode(url, fetch_policy=FetchPolicy(allow_loopback=True))
        assert server.count("/cat.png") == 1

Unknown paths answer 404. A handler is any ``(BaseHTTPRequestHandler) -> None``; set
``server.routes[path]`` directly for slow, streaming or stateful answers, and have handlers that wait
use ``server.stop`` (set by :meth:`LocalServer.close`) so that closing does not hang.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TypedDict

__all__ = ["Handler", "LocalServer", "Request", "send"]

Handler = Callable[[BaseHTTPRequestHandler], None]


class Request(TypedDict):
    """One logged GET: the request path (with any query), its headers and the client's address."""

    path: str
    headers: dict[str, str]
    client: tuple[str, int]


def send(
    handler: BaseHTTPRequestHandler, status: int = 200, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> None:
    """Send a complete response: ``status``, ``headers``, a Content-Length and ``body``."""
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _not_found(handler: BaseHTTPRequestHandler) -> None:
    send(handler, 404, b"not found")


class LocalServer:
    """HTTP/1.1 (HTTPS with ``ssl_context``) on 127.0.0.1 at a free port, serving from a background thread.

    Attributes: ``routes`` (path -> handler), ``requests`` (the :class:`Request` log, in arrival order),
    ``in_flight`` / ``max_in_flight`` (requests being handled now / at most at once), ``stop`` (an event
    set on close), ``port`` and ``scheme``.
    """

    __test__ = False  # not a test class, whatever name a test module imports it under

    send = staticmethod(send)

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if ssl_context is not None else "http"
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        Request(path=self.path, headers=dict(self.headers), client=self.client_address)
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.routes.get(self.path, _not_found)(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.handle_error = lambda request, address: None  # clients that hang up are not errors here
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r["path"] for r in self.requests]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this server; ``host`` names it (point that name at 127.0.0.1 yourself)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(
        self, path: str, body: bytes = b"", *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> str:
        """Answer GET ``path`` with a fixed response; returns its URL."""
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError(f"body must be bytes, not {type(body).__name__} (status and headers are keyword-only)")
        self.routes[path] = lambda h: send(h, status, body, headers)
        return self.url(path)

    def redirect(self, path: str, target: str, status: int = 302) -> str:
        """Answer GET ``path`` with a redirect to ``target`` (a path or a URL); returns its URL."""
        return self.route(path, status=status, headers={"Location": target})

    def stream(self, path: str, total: int, *, content_length: bool, headers: dict[str, str] | None = None) -> str:
        """Serve ``total`` zero bytes in 64 KiB chunks, announced by Content-Length or not (then until close)."""

        def handle(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            if content_length:
                handler.send_header("Content-Length", str(total))
            else:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            chunk = b"\0" * (64 * 1024)
            for _ in range(total // len(chunk)):
                if self.stop.is_set():
                    return
                handler.wfile.write(chunk)

        self.routes[path] = handle
        return self.url(path)

    def count(self, path: str) -> int:
        """How many GET requests for ``path`` have arrived."""
        return self.paths.count(path)

    def close(self) -> None:
        """Set ``stop``, stop serving and release the port."""
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
