"""encode_to_disk with PDF inputs: one row per page with the id ``<id>#page=N``, failures at input positions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

import st_multimodal as stm
from st_multimodal.policy import DecodeLimits
from st_multimodal.streaming import encode_to_disk, load_embeddings
from st_multimodal.testing.documents import encrypted_pdf_bytes, pdf_bytes

PDF = pdf_bytes([("triangle", "blue"), ("circle", "red")])


class TestEncodeToDiskWithDocuments:
    def test_pages_are_rows_with_page_ids(self, tmp_path):
        model = stm.demo_model(limits=DecodeLimits(pdf_dpi=36))
        inputs = ["a red circle", PDF, encrypted_pdf_bytes(), "a blue square", PDF]
        report = encode_to_disk(model, iter(inputs), tmp_path / "out", ids=list("abcde"), chunk_size=3,
                                show_progress_bar=False)
        ids, embeddings, failures = load_embeddings(tmp_path / "out")
        assert ids == ["a", "b#page=1", "b#page=2", "d", "e#page=1", "e#page=2"]
        assert (report.encoded, report.failed) == (6, 1)
        assert [(f["id"], f["index"], f["error"]) for f in failures] == [("c", 2, "EncryptedDocumentError")]
        expected = model.encode(["a red circle", PDF, "a blue square", PDF], convert_to_numpy=True)
        np.testing.assert_allclose(embeddings, expected, atol=1e-5)
