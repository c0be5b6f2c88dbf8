"""Test-wide guards: no hub, no traffic beyond 127.0.0.0/8, registries restored after each test."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection
ATTEMPTED_CONNECTIONS: list[tuple] = []
"""Every non-loopback address a test tried to reach (the guard refused each one)."""


class NonLoopbackConnection(AssertionError):
    """A test tried to reach an address outside 127.0.0.0/8 / ::1."""


def _check(address) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return
    host = address[0]
    try:
        ip = ipaddress.ip_address(host.split("%")[0] if isinstance(host, str) else host)
    except ValueError:
        ATTEMPTED_CONNECTIONS.append(tuple(address))
        raise NonLoopbackConnection(f"test tried to connect to a host name {host!r}")
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if not ip.is_loopback:
        ATTEMPTED_CONNECTIONS.append(tuple(address))
        raise NonLoopbackConnection(f"test tried to connect to non-loopback {host!r}")


def _guarded_connect(self, address):
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex

try:  # the mutation check (docs/contributing.md) reruns tests in one process: same examples every time
    from hypothesis import HealthCheck, settings

    settings.register_profile("mutation", derandomize=True, database=None,
                              suppress_health_check=[HealthCheck.differing_executors])
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


@pytest.fixture
def connection_log():
    """The list of refused non-loopback connection attempts, emptied for this test."""
    ATTEMPTED_CONNECTIONS.clear()
    yield ATTEMPTED_CONNECTIONS
    ATTEMPTED_CONNECTIONS.clear()


@pytest.fixture(autouse=True)
def _restore_registries():
    """Snapshot every registry before a test and put it back afterwards."""
    from st_multimodal.decoders.base import DECODERS
    from st_multimodal.resolvers.base import RESOLVERS
    from st_multimodal.sources.base import SOURCES

    saved = [(r, r.snapshot()) for r in (SOURCES, DECODERS, RESOLVERS)]
    yield
    for registry, snap in saved:
        registry.restore(snap)


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="session")
def zoo_path(zoo_dir):
    """``zoo_path(kind)``: the folder of a tiny offline model, built once per session."""
    from st_multimodal.testing.zoo import cached_model

    return lambda kind: cached_model(kind, root=zoo_dir)


def _loaded(zoo_path, kind, cls_name):
    import st_multimodal

    return getattr(st_multimodal, cls_name)(str(zoo_path(kind)), device="cpu")


@pytest.fixture(scope="session")
def clip_model(zoo_path):
    return _loaded(zoo_path, "clip", "SentenceTransformer")


@pytest.fixture(scope="session")
def siglip_model(zoo_path):
    return _loaded(zoo_path, "siglip", "SentenceTransformer")


@pytest.fixture(scope="session")
def clap_model(zoo_path):
    return _loaded(zoo_path, "clap", "SentenceTransformer")


@pytest.fixture(scope="session")
def qwen_embedder(zoo_path):
    return _loaded(zoo_path, "qwen3vl-embedding", "SentenceTransformer")


@pytest.fixture(scope="session")
def qwen_reranker(zoo_path):
    return _loaded(zoo_path, "qwen3vl-reranker", "CrossEncoder")
