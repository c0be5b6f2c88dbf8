"""A hostile item fails alone, with a LimitExceededError naming the limit; the rest of the batch is untouched."""

from __future__ import annotations

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.testing import bombs, media
from st_multimodal.testing.documents import pdf_bytes


def test_image_bombs_fail_alone_and_ordinary_rows_are_bit_identical(clip_model):
    ordinary = [media.png_bytes(), media.jpeg_bytes(640, 480), media.png_rgba_bytes(300, 200)]
    items = [bombs.png_gray16(9000), ordinary[0], bombs.webp_canvas(9000), ordinary[1], bombs.tiff_flat(9000, 3),
             ordinary[2]]
    embeddings, failures = clip_model.encode(items, on_error="skip", return_failures=True)
    assert [f.index for f in failures] == [0, 2, 4]
    assert all(isinstance(f.error, stm.LimitExceededError) and f.error.limit_name == "max_item_bytes"
               for f in failures)
    alone = clip_model.encode(ordinary)
    assert np.array_equal(np.asarray(embeddings), np.asarray(alone))


@pytest.mark.parametrize("bomb", [lambda: bombs.pdf_operators(15_000_000), lambda: bombs.pdf_nested_forms(12, 4)],
                         ids=["operators", "nested-forms"])
def test_pdf_render_bombs_fail_alone(clip_model, bomb):
    limits = stm.DecodeLimits(max_decode_seconds=3.0)
    items = [stm.as_document(pdf_bytes([("circle", "red")])), stm.as_document(bomb()), media.png_bytes()]
    embeddings, failures = clip_model.encode(items, on_error="skip", return_failures=True, limits=limits)
    assert len(failures) == 1 and isinstance(failures[0].error, stm.LimitExceededError)
    assert failures[0].error.limit_name in ("max_item_bytes", "max_decode_seconds")
    assert len(embeddings) == 2 and np.isfinite(np.asarray(embeddings)).all()
