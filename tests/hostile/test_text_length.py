"""Text length: DecodeLimits.max_text_chars is checked before hashing or tokenising, wherever text enters."""

from __future__ import annotations

import pytest

from st_multimodal import CrossEncoder, DecodeLimits, LimitExceededError, as_text
from st_multimodal.resolvers import resolve
from st_multimodal.types import ResolveContext

from .guards import PeakRSS, confined, run_capped

MiB = 1024 * 1024


def test_fifty_mib_string_fails_fast_and_cheap():
    """A 50 MiB string (once +10.5 GB and 171 s through a model) is refused before it is even hashed."""
    result = run_capped(
        """
        try:
            resolve(TEXT, ResolveContext(), 0)
            error = None
        except Exception as exc:
            error = exc
        assert type(error).__name__ == "LimitExceededError" and error.limit_name == "max_text_chars", error
        assert error.actual == len(TEXT) and "AAAA" not in str(error)
        """,
        imports="""
        from st_multimodal.resolvers import resolve
        from st_multimodal.types import ResolveContext
        TEXT = "a " + "A" * (50 << 20)
        """,
        budget=256 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 8 * MiB and result["seconds"] < 0.5, result


def test_fifty_mib_data_uri_is_a_location_decoded_once_under_budget():
    """The same size as a typed data: URI is a location (never text): decoded once, then refused as unknown bytes."""
    result = run_capped(
        """
        try:
            resolve(URI, ResolveContext(), 0)
            error = None
        except Exception as exc:
            error = exc
        assert type(error).__name__ == "DecodeError", error
        assert "AAAA" not in str(error) and "input 0" in str(error)
        """,
        imports="""
        from st_multimodal.resolvers import resolve
        from st_multimodal.types import ResolveContext
        URI = "data:image/png;base64," + "A" * (50 << 20)
        """,
        budget=256 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 100 * MiB, result


def test_long_text_fails_alone_in_a_batch_before_tokenising(clip_model, tmp_path):
    """3 MB of one word (about +750 MB and 15 s to tokenise) fails at once; the other texts are embedded."""
    inputs = ["a photo of a cat", "x" * 3_000_000, "a photo of a dog"]
    with PeakRSS() as rss, confined(tmp_path):
        embeddings, failures = clip_model.encode(inputs, on_error="skip", return_failures=True)
    assert len(embeddings) == 2
    assert [(f.index, type(f.error), f.error.limit_name) for f in failures] == [(1, LimitExceededError, "max_text_chars")]
    assert rss.growth < 50 * MiB and rss.seconds < 5, (rss.growth, rss.seconds)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t,
        lambda t: as_text(t),
        lambda t: {"text": t},
        lambda t: [{"role": "user", "content": t}],
        lambda t: [{"role": "user", "content": [{"type": "text", "text": t}]}],
    ],
    ids=["plain", "as_text", "multimodal-dict", "message-str", "message-part"],
)
def test_every_way_text_enters_is_limited(make, tmp_path):
    ctx = ResolveContext(limits=DecodeLimits(max_text_chars=1000))
    with confined(tmp_path):
        assert resolve(make("y" * 1000), ctx, 0) is not None  # exactly at the limit: accepted
        with pytest.raises(LimitExceededError) as info:
            resolve(make("y" * 1001), ctx, 0)
    assert (info.value.limit_name, info.value.limit, info.value.actual, info.value.index) == ("max_text_chars", 1000, 1001, 0)


def test_cross_encoder_pairs_are_limited_per_side(zoo_path, tmp_path):
    model = CrossEncoder(str(zoo_path("qwen3vl-reranker")), device="cpu")
    pairs = [("query", "short document"), ("query", "z" * 600_000)]
    with confined(tmp_path):
        scores, failures = model.predict(pairs, on_error="skip", return_failures=True)
    assert len(scores) == 1
    assert [(f.index, f.error.limit_name) for f in failures] == [(1, "max_text_chars")]
