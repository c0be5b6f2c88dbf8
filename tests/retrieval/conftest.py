"""A counting HTTP server on 127.0.0.1, and a clip model allowed to fetch from it."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from st_multimodal.policy import FetchPolicy


class CountingServer:
    """Serves fixed bodies by path and counts the GET requests for each path."""

    __test__ = False

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                body, mime = server.bodies.get(self.path, (b"not found", "text/plain"))
                self.send_response(200 if self.path in server.bodies else 404)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, mime: str = "image/png") -> str:
        self.bodies[path] = (body, mime)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counting_server():
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture
def loopback_clip(clip_model, monkeypatch):
    """The session clip model, allowed to fetch from 127.0.0.1 for this test."""
    monkeypatch.setattr(clip_model, "fetch_policy", FetchPolicy(allow_loopback=True, retries=0))
    return clip_model
