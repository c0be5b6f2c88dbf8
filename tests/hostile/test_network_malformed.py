"""Malformed HTTP responses are permanent errors (one request, never retried); a dropped connection stays transient."""

from __future__ import annotations

import pytest

from st_multimodal.errors import FetchError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources.http import HttpSource
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext

from .guards import confined

MALFORMED = {
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad-status-code": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    "bad-header-line": b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok",
    "two-content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "header-flood": b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * 200_000 + b"\r\n\r\nok",
}


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


def _raw(server: LocalServer, path: str, payload: bytes) -> str:
    def handle(handler):
        handler.wfile.write(payload)
        handler.wfile.flush()
        handler.close_connection = True

    server.routes[path] = handle
    return server.url(path)


def _ctx() -> ResolveContext:
    return ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, retries=3, retry_backoff=0.01))


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_response_is_permanent_and_not_retried(server, name, tmp_path):
    url = _raw(server, f"/{name}", MALFORMED[name])
    source = HttpSource()
    with confined(tmp_path), pytest.raises(FetchError) as info:
        source.fetch(url, _ctx())
    source.close()
    assert info.value.transient is False, info.value
    assert "malformed HTTP response" in str(info.value)
    assert server.count(f"/{name}") == 1
    assert "OpenSSH" not in str(info.value) and "no colon" not in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
    ids=["closed-before-answering", "body-cut-short"],
)
def test_dropped_connection_is_still_transient_and_retried(server, payload):
    url = _raw(server, "/drop", payload)
    source = HttpSource()
    with pytest.raises(FetchError) as info:
        source.fetch(url, _ctx())
    source.close()
    assert info.value.transient is True
    assert server.count("/drop") == 4
