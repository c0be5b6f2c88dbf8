"""A threaded HTTP/1.1 test server on 127.0.0.1 with per-path handlers, and a fake DNS."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from st_multimodal.policy import FetchPolicy
from st_multimodal.types import ResolveContext

Handler = Callable[[BaseHTTPRequestHandler], None]


def send(h: BaseHTTPRequestHandler, status: int = 200, body: bytes = b"", headers: dict | None = None) -> None:
    """Send a complete response with Content-Length."""
    h.send_response(status)
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class TestServer:
    __test__ = False

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if ssl_context else "http"
        self.routes: dict[str, Handler] = {}
        self.requests: list[dict] = []
        self.stop = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "client": self.client_address}
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.routes.get(self.path, lambda h: send(h, 404, b"not found"))(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.handle_error = lambda request, address: None
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    send = staticmethod(send)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, status: int = 200, body: bytes = b"", headers: dict | None = None) -> str:
        self.routes[path] = lambda h: send(h, status, body, headers)
        return self.url(path)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = TestServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for ``tls.test`` (made with the openssl CLI): (cert path, key path)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=tls.test",
         "-addext", "subjectAltName=DNS:tls.test"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(tls_cert):
    """An HTTPS test server for ``tls.test``; ``.sni`` lists the server names clients sent."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_cert)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    srv = TestServer(context)
    srv.sni = names
    yield srv
    srv.close()


def _local_ctx(**policy) -> ResolveContext:
    """A context that may reach the loopback test server, with fast retries."""
    policy.setdefault("allow_loopback", True)
    policy.setdefault("retry_backoff", 0.01)
    return ResolveContext(fetch_policy=FetchPolicy(**policy))


@pytest.fixture
def local_ctx():
    """Build a context that may reach the loopback test server: ``local_ctx(**policy_fields)``."""
    return _local_ctx


class FakeDNS:
    """Replaces socket.getaddrinfo for chosen names; other names (and IP literals) resolve normally."""

    def __init__(self, monkeypatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.calls: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def add(self, name: str, *answers: list[str]) -> None:
        """Successive lookups of ``name`` return successive answers (the last one repeats)."""
        self.answers[name] = list(answers)

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self._real(host, port, *args, **kwargs)
        self.calls.append(name)
        queue = self.answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0))
            for ip in answer
        ]


@pytest.fixture
def fake_dns(monkeypatch):
    return FakeDNS(monkeypatch)
