"""DataSource: base64 and percent-encoded data: URIs, media type, size cap before decoding."""

from __future__ import annotations

import base64

import pytest

from st_multimodal.errors import BlockedSourceError, FetchError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources import fetch
from st_multimodal.sources import data as data_module
from st_multimodal.types import ResolveContext


def ctx(**policy) -> ResolveContext:
    return ResolveContext(fetch_policy=FetchPolicy(**policy))


class TestParse:
    def test_base64_keeps_media_type(self):
        got = fetch("data:Image/PNG;name=x.png;base64," + base64.b64encode(b"\x89PNG\x00\xff").decode(), ctx())
        assert (got.data, got.mime, got.name) == (b"\x89PNG\x00\xff", "image/png", None)
        assert got.source.startswith("data:Image/PNG") and len(got.source) < 40

    def test_percent_encoded(self):
        got = fetch("data:text/plain;charset=utf-8,caf%C3%A9%20au%20lait", ctx())
        assert (got.data, got.mime) == ("café au lait".encode(), "text/plain")

    def test_default_media_type(self):
        assert fetch("DATA:,hi", ctx()).mime == "text/plain"

    @pytest.mark.parametrize(
        "payload",
        ["/+8A/w==", "/+8A/w", "_-8A_w==", "/+8A\n/w==", "%2F%2B8A%2Fw%3D%3D"],
        ids=["padded", "unpadded", "urlsafe", "newline", "percent-encoded"],
    )
    def test_base64_variants(self, payload):
        assert fetch("data:application/octet-stream;base64," + payload, ctx()).data == b"\xff\xef\x00\xff"

    @pytest.mark.parametrize("uri", ["data:image/png;base64", "data:;base64,@@@@", "data:;base64,abcde"])
    def test_malformed(self, uri):
        with pytest.raises(FetchError, match="malformed") as info:
            fetch(uri, ctx())
        assert not info.value.transient


class TestLimits:
    def test_decoded_size_is_capped_before_decoding(self, monkeypatch):
        monkeypatch.setattr(data_module.base64, "b64decode", lambda *a, **k: pytest.fail("decoded anyway"))
        uri = "data:image/png;base64," + "A" * (4 * 1024 * 1024)
        with pytest.raises(LimitExceededError) as info:
            fetch(uri, ctx(max_bytes=1024 * 1024))
        assert info.value.limit_name == "max_bytes" and info.value.actual > 1024 * 1024

    def test_exactly_at_cap(self):
        raw = bytes(range(256)) * 4
        assert fetch("data:;base64," + base64.b64encode(raw).decode(), ctx(max_bytes=1024)).data == raw
        with pytest.raises(LimitExceededError):
            fetch("data:;base64," + base64.b64encode(raw + b"x").decode(), ctx(max_bytes=1024))

    def test_percent_encoded_cap_counts_decoded_bytes(self):
        assert len(fetch("data:," + "%41" * 100, ctx(max_bytes=100)).data) == 100
        with pytest.raises(LimitExceededError):
            fetch("data:," + "A" * 101, ctx(max_bytes=100))

    def test_scheme_must_be_allowed(self):
        with pytest.raises(BlockedSourceError):
            fetch("data:,hi", ctx(allowed_schemes={"http"}))
