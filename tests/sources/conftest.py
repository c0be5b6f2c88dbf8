"""Fixtures: the loopback test server (``st_multimodal.testing.server``), an HTTPS one with SNI, a fake DNS."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import pytest

from st_multimodal.policy import FetchPolicy
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


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
    with LocalServer(context) as srv:
        srv.sni = names
        yield srv


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
