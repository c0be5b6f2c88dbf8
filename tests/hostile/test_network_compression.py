"""Compressed HTTP bodies: read raw, one gzip/deflate layer decoded incrementally under max_bytes, the rest refused."""

from __future__ import annotations

import gzip
import zlib

import pytest

from st_multimodal.errors import FetchError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources.http import HttpSource
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext

from .guards import PeakRSS, confined, run_capped
from .payloads import zeros_gzip

MiB = 1024 * 1024


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def source():
    src = HttpSource()
    yield src
    src.close()


def _ctx(**fields) -> ResolveContext:
    return ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, retry_backoff=0.01, **fields))


def test_gzip_gzip_bomb_is_stopped_within_a_capped_address_space():
    """A 2.5 KB body that is 1 GiB after two gzip layers: refused, no large allocation (512 MiB cap)."""
    result = run_capped(
        """
        from st_multimodal.testing.server import LocalServer
        from st_multimodal.sources.http import HttpSource
        from st_multimodal.policy import FetchPolicy
        from st_multimodal.types import ResolveContext
        with LocalServer() as server:
            url = server.route("/bomb", BOMB, headers={"Content-Encoding": "gzip, gzip", "Content-Type": "image/png"})
            HttpSource().fetch(url, ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, max_bytes=2_000_000)))
        """,
        imports="from hostile.payloads import gzip_gzip_bomb\nBOMB = gzip_gzip_bomb(1 << 30)",
        budget=512 * MiB,
    )
    assert result["outcome"].startswith("FetchError"), result
    assert "gzip, gzip" in result["outcome"]
    assert result["peak_growth"] < 64 * MiB, result


def test_single_gzip_layer_over_max_bytes_is_cut_off_with_flat_memory(server, source, tmp_path):
    url = server.route("/big", zeros_gzip(256 * MiB), headers={"Content-Encoding": "gzip"})
    with PeakRSS() as rss, confined(tmp_path), pytest.raises(LimitExceededError) as info:
        source.fetch(url, _ctx(max_bytes=2 * MiB))
    assert info.value.limit_name == "max_bytes"
    assert "decoded" in info.value.reason
    assert rss.growth < 40 * MiB, rss.growth


def test_gzip_body_sent_against_identity_is_decoded_under_the_cap(server, source):
    """We ask for identity; a server that gzips anyway (S3 objects stored gzipped do) is decoded, counted decoded."""
    payload = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    url = server.route("/gz", gzip.compress(payload), headers={"Content-Encoding": "gzip"})
    assert source.fetch(url, _ctx()).data == payload
    assert server.requests[0]["headers"]["Accept-Encoding"] == "identity"
    with pytest.raises(LimitExceededError):
        source.fetch(url, _ctx(max_bytes=len(payload) - 1))


def test_deflate_body_is_decoded_with_or_without_its_zlib_header(server, source):
    payload = b"RIFF" + bytes(5000)
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for path, body in (("/zlib", zlib.compress(payload)), ("/raw", raw.compress(payload) + raw.flush())):
        url = server.route(path, body, headers={"Content-Encoding": "deflate"})
        assert source.fetch(url, _ctx()).data == payload


def test_empty_body_with_an_encoding_is_empty(server, source):
    url = server.route("/empty", b"", headers={"Content-Encoding": "gzip"})
    assert source.fetch(url, _ctx()).data == b""


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip", "deflate, gzip", "x-custom"])
def test_other_and_stacked_encodings_are_refused_permanently(server, source, coding):
    url = server.route("/enc", b"\x1f\x8b" + bytes(100), headers={"Content-Encoding": coding})
    with pytest.raises(FetchError) as info:
        source.fetch(url, _ctx(retries=2))
    assert info.value.transient is False
    assert coding in str(info.value)
    assert server.count("/enc") == 1


def test_corrupt_and_truncated_gzip_are_permanent_errors(server, source):
    good = gzip.compress(b"x" * 10_000)
    corrupt = server.route("/corrupt", good[:20] + b"\xff" * 40 + good[60:], headers={"Content-Encoding": "gzip"})
    truncated = server.route("/truncated", good[: len(good) // 2], headers={"Content-Encoding": "gzip"})
    for url in (corrupt, truncated):
        with pytest.raises(FetchError) as info:
            source.fetch(url, _ctx(retries=2))
        assert info.value.transient is False
    assert server.count("/corrupt") == server.count("/truncated") == 1


def test_identity_body_that_looks_gzipped_is_kept_as_is(server, source):
    """Without Content-Encoding the bytes are the file: a .gz download stays compressed."""
    blob = gzip.compress(b"hello" * 100)
    url = server.route("/file.gz", blob, headers={"Content-Type": "application/gzip"})
    assert source.fetch(url, _ctx()).data == blob
