"""PDF pages through the multi-vector encoder and index: one token matrix and one id per page."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

import st_multimodal as stm
from st_multimodal.testing import documents


def test_pages_expand_for_token_vectors_and_index_ids(colqwen, tmp_path):
    report = tmp_path / "report.pdf"
    report.write_bytes(documents.pdf_bytes([("triangle", "blue"), ("circle", "red"), ("square", "green")]))
    rows, failures = colqwen.encode_document([str(report), "a caption", documents.truncated_pdf_bytes()],
                                             on_error="skip", return_failures=True)
    assert len(rows) == 4 and all(r.ndim == 2 for r in rows)  # three pages, then the caption
    assert [f.index for f in failures] == [2]
    second = colqwen.encode_document([stm.as_document(str(report), pages=[2])])
    np.testing.assert_allclose(second[0], rows[1], rtol=1e-5, atol=1e-5)

    index = stm.MultimodalIndex(colqwen)
    index.add([str(report)])
    assert index.ids == [f"{report}#page={n}" for n in (1, 2, 3)]
    hits = index.search("a red circle", top_k=3)
    assert sorted(h.id for h in hits) == sorted(index.ids)
