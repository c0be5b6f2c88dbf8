"""In-memory bytes: an oversized bytearray or memoryview is refused from its length, before it is copied."""

from __future__ import annotations

import pytest

from .guards import run_capped

MiB = 1024 * 1024


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
def test_oversized_buffer_is_refused_before_it_is_copied(kind):
    result = run_capped(
        """
        try:
            resolve(VALUE, ResolveContext(), 0)
            error = None
        except Exception as exc:
            error = exc
        assert type(error).__name__ == "LimitExceededError" and error.limit_name == "max_bytes", error
        assert error.actual == 128 << 20
        """,
        imports=f"""
        from st_multimodal.resolvers import resolve
        from st_multimodal.types import ResolveContext
        BUFFER = bytearray(b"\\x89PNG" + bytes((128 << 20) - 4))
        VALUE = BUFFER if {kind!r} == "bytearray" else memoryview(BUFFER)
        """,
        budget=256 * MiB,
    )
    assert result["outcome"] == "ok", result
    assert result["peak_growth"] < 16 * MiB, result
