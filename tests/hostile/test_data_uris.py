"""data: URIs: size checked from the encoded length before decoding, payload decoded once, in slices, never copied whole."""

from __future__ import annotations

import base64
import random
from urllib.parse import quote_from_bytes

import pytest

from st_multimodal.errors import FetchError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources import data as data_module
from st_multimodal.sources.data import parse_data_uri
from st_multimodal.types import ResolveContext

from .guards import confined, run_capped

MiB = 1024 * 1024

_RESOLVE = """
from st_multimodal.resolvers import resolve, as_image
from st_multimodal.types import ResolveContext
"""


def test_oversized_typed_data_uri_is_refused_without_copying_it():
    """256 MiB of base64 typed as an image: refused from its length, with no copy of the string (was +256 MB, 2.2 s)."""
    result = run_capped(
        """
        try:
            resolve(as_image(URI), ResolveContext(), 0)
        except Exception as exc:
            outcome_error = exc
        assert type(outcome_error).__name__ == "LimitExceededError", outcome_error
        assert outcome_error.limit_name == "max_bytes"
        """,
        imports=_RESOLVE + "URI = 'data:image/png;base64,' + 'A' * (256 << 20)",
        budget=192 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 16 * MiB, result
    assert result["seconds"] < 2.0, result


def test_data_uri_within_the_cap_costs_its_decoded_size_once():
    """48 MiB decoded from a 64 MiB URI: memory grows by about the decoded bytes, not by copies of the payload (was +176 MiB)."""
    result = run_capped(
        """
        fetched = FETCH(URI, ResolveContext())
        assert len(fetched.data) == 48 << 20 and fetched.data[:3] == b"\\x89PN"
        """,
        imports="""
        from st_multimodal.sources.base import fetch as FETCH
        from st_multimodal.types import ResolveContext
        import base64
        URI = 'data:image/png;base64,' + base64.b64encode(b'\\x89PNG' + bytes((48 << 20) - 4)).decode()
        """,
        budget=512 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 72 * MiB, result  # 48 MiB decoded, growing by 1/8 steps (was +176 MiB)


def test_percent_encoded_payload_is_decoded_in_slices():
    """60 MiB of '%41' decodes to 20 MiB: the decode must not split the whole payload into millions of pieces."""
    result = run_capped(
        """
        data, _ = parse_data_uri(URI, 64 << 20)
        assert len(data) == 20 << 20
        """,
        imports="""
        from st_multimodal.sources.data import parse_data_uri
        URI = 'data:application/octet-stream,' + '%41' * (20 << 20)
        """,
        budget=768 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 40 * MiB, result


def _variants(raw: bytes) -> list[str]:
    encoded = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    spaced = "\n".join(encoded[i : i + 7] for i in range(0, len(encoded), 7))
    return [
        ";base64," + encoded,
        ";base64," + encoded.rstrip("="),
        ";base64," + urlsafe,
        ";base64," + spaced,
        ";base64," + quote_from_bytes(encoded.encode(), safe=""),
        ";base64," + quote_from_bytes(spaced.encode(), safe=""),
        "," + quote_from_bytes(raw, safe=""),
    ]


@pytest.mark.parametrize("chunk", [4, 5, 7, 8, 13, 64])
def test_sliced_decoding_matches_a_whole_decode_at_every_boundary(monkeypatch, chunk):
    monkeypatch.setattr(data_module, "_CHUNK_CHARS", chunk)
    rng = random.Random(chunk)
    for size in (0, 1, 2, 3, 4, 5, 31, 100):
        raw = bytes(rng.randrange(256) for _ in range(size))
        for tail in _variants(raw):
            assert parse_data_uri("data:application/octet-stream" + tail, 1 << 20)[0] == raw, (size, tail)


@pytest.mark.parametrize("chunk", [4, 8, 1 << 20])
@pytest.mark.parametrize("payload", ["AA==AAAA", "AAAA=AAA", "AAA", "A", "AB=C", "@@@@", "AAAA%ZZ"])
def test_malformed_base64_is_refused_at_every_slice_size(monkeypatch, chunk, payload):
    monkeypatch.setattr(data_module, "_CHUNK_CHARS", chunk)
    if payload == "AAA":  # unpadded but decodable: accepted
        assert parse_data_uri("data:;base64," + payload, 100)[0] == b"\x00\x00"
        return
    with pytest.raises(FetchError, match="malformed"):
        parse_data_uri("data:;base64," + payload, 100)


def test_header_without_a_comma_is_refused_without_scanning_the_payload(tmp_path):
    with confined(tmp_path), pytest.raises(FetchError, match="no ','"):
        parse_data_uri("data:image/png;base64" + "A" * (8 * MiB), 64 * MiB)


def test_cap_is_exact_on_the_decoded_length():
    raw = bytes(range(256)) * 4
    ctx = ResolveContext(fetch_policy=FetchPolicy(max_bytes=1024))
    assert parse_data_uri("data:;base64," + base64.b64encode(raw).decode(), ctx.fetch_policy.max_bytes)[0] == raw
    with pytest.raises(LimitExceededError):
        parse_data_uri("data:;base64," + base64.b64encode(raw + b"x").decode(), 1024)
    with pytest.raises(LimitExceededError):
        parse_data_uri("data:," + quote_from_bytes(raw + b"x", safe=""), 1024)
