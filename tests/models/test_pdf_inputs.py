"""PDF inputs through the models: one row per page in order, failures at the caller's positions, caches per page."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

import st_multimodal as stm
from st_multimodal.inference import mixin as inference
from st_multimodal.decoders import pdf
from st_multimodal.errors import DecodeError, EncryptedDocumentError, LimitExceededError, PageOutOfRangeError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.documents import encrypted_pdf_bytes, pdf_bytes, truncated_pdf_bytes

SHAPES = [("triangle", "blue"), ("circle", "red"), ("square", "green")]
PDF = pdf_bytes(SHAPES)
SMALL = DecodeLimits(pdf_dpi=36)  # A4 at 36 dpi: 298 x 421, plenty for a 64 px model


@pytest.fixture(scope="module")
def demo():
    return stm.demo_model()


def _pages_as_images(data: bytes, pages, limits: DecodeLimits = SMALL):
    return [pdf.render_page(data, p, limits) for p in pages]


def _encode(model, inputs, **kw):
    return model.encode(inputs, limits=SMALL, convert_to_numpy=True, **kw)


class TestEncode:
    def test_one_row_per_page_in_order(self, demo):
        out = _encode(demo, ["a red circle", PDF, stm.as_document(PDF, pages=[3]), "a blue square"])
        expected = _encode(demo, ["a red circle", *_pages_as_images(PDF, (1, 2, 3)), *_pages_as_images(PDF, (3,)), "a blue square"])
        assert out.shape == (6, expected.shape[1])
        np.testing.assert_allclose(out, expected, atol=1e-5)

    def test_a_single_pdf_gives_a_matrix(self, demo):
        assert _encode(demo, PDF).shape[0] == 3

    def test_query_and_document_prompts(self, demo):
        assert demo.encode_document([PDF], limits=SMALL).shape[0] == 3
        assert demo.encode_query(stm.as_document(PDF, pages=2), limits=SMALL).shape[0] == 1

    def test_expanding_first_gives_the_same_result(self, demo):
        inputs = [truncated_pdf_bytes(), "a red square", PDF, encrypted_pdf_bytes(), media.png_bytes(seed=3)]
        direct, direct_failures = _encode(demo, inputs, on_error="skip", return_failures=True)
        expanded = stm.expand_documents(inputs, demo, on_error="skip")
        again, again_failures = _encode(demo, expanded, on_error="skip", return_failures=True)
        np.testing.assert_array_equal(direct, again)
        assert [(f.index, f.page, f.source, str(f.error)) for f in direct_failures] == \
               [(f.index, f.page, f.source, str(f.error)) for f in again_failures]
        assert len(expanded.rows(again_failures)) == len(again) == 5

    def test_skip_keeps_the_good_pages_and_locates_the_bad_documents(self, demo):
        inputs = [truncated_pdf_bytes(), PDF, encrypted_pdf_bytes(), media.png_bytes(seed=1), stm.as_document(PDF, pages=9)]
        out, failures = _encode(demo, inputs, on_error="skip", return_failures=True)
        expected = _encode(demo, [*_pages_as_images(PDF, (1, 2, 3)), media.png_bytes(seed=1)])
        np.testing.assert_allclose(out, expected, atol=1e-5)
        assert [(f.index, f.page, type(f.error)) for f in failures] == [
            (0, None, DecodeError), (2, None, EncryptedDocumentError), (4, None, PageOutOfRangeError)]
        assert all(f.error.index == f.index for f in failures)

    def test_raise_names_the_callers_position(self, demo):
        with pytest.raises(EncryptedDocumentError) as info:
            _encode(demo, ["text", PDF, encrypted_pdf_bytes()])
        assert info.value.index == 2

    def test_a_page_that_fails_to_render(self, demo, monkeypatch):
        real = pdf.render_page

        def flaky(data, page, limits):
            if page == 2:
                raise DecodeError("broken content stream")
            return real(data, page, limits)

        monkeypatch.setattr(pdf, "render_page", flaky)
        fresh = DecodeLimits(pdf_dpi=35)  # settings no other test used: nothing in the decoded-input LRU
        out, failures = demo.encode(["text", PDF, "more"], limits=fresh, on_error="skip", return_failures=True)
        assert out.shape[0] == 4
        assert [(f.index, f.page, f.source, f.error.index) for f in failures] == [(1, 2, f"<bytes of {len(PDF)} bytes>#page=2", 1)]
        with pytest.raises(DecodeError, match=r"input 1 '<bytes of \d+ bytes>#page=2'") as info:
            demo.encode(["text", PDF, "more"], limits=fresh)
        assert info.value.index == 1

    def test_every_document_failing(self, demo):
        out, failures = _encode(demo, [encrypted_pdf_bytes()], on_error="skip", return_failures=True)
        assert len(out) == 0 and [f.index for f in failures] == [0]

    def test_max_pages_per_call(self, demo):
        with pytest.raises(LimitExceededError, match="pdf_max_pages"):
            demo.encode([PDF], limits=SMALL.replace(pdf_max_pages=2))

    def test_inputs_without_documents_never_expand(self, demo, monkeypatch):
        inputs = ["a red circle", media.png_bytes(seed=2)]
        before = _encode(demo, inputs)
        monkeypatch.setattr(inference, "expand_documents", lambda *a, **k: pytest.fail("expanded"))
        np.testing.assert_array_equal(_encode(demo, inputs), before)


class TestCaches:
    def test_one_embedding_cache_entry_per_page_and_setting(self, tmp_path):
        model = stm.demo_model(cache_dir=tmp_path)
        first = _encode(model, [PDF])
        assert len(model.embedding_cache) == 3 and model.embedding_cache.hits == 0
        np.testing.assert_array_equal(_encode(model, [stm.as_document(PDF, pages="1-3")]), first)
        assert model.embedding_cache.hits == 3
        model.encode([PDF], limits=DecodeLimits(pdf_dpi=30), convert_to_numpy=True)
        assert len(model.embedding_cache) == 6  # another DPI is another picture


class TestCrossEncoder:
    LIMITS = DecodeLimits(pdf_dpi=72)
    DOC = pdf_bytes(SHAPES[:2], page_size=(96, 96))

    def test_predict_scores_each_page(self, qwen_reranker):
        scores = qwen_reranker.predict([("a red circle", self.DOC), ("q", "a text")], limits=self.LIMITS)
        pages = _pages_as_images(self.DOC, (1, 2), self.LIMITS)
        expected = qwen_reranker.predict([("a red circle", pages[0]), ("a red circle", pages[1]), ("q", "a text")])
        np.testing.assert_allclose(scores, expected, atol=1e-4)

    def test_rank_gives_pages_and_locates_failures(self, qwen_reranker):
        docs = [self.DOC, "a red circle", encrypted_pdf_bytes()]
        ranked, failures = qwen_reranker.rank("a red circle", docs, on_error="skip", return_failures=True, limits=self.LIMITS)
        keys = sorted((r["corpus_id"], r.get("page")) for r in ranked)
        assert keys == [(0, 1), (0, 2), (1, None)]
        assert [(f.index, type(f.error)) for f in failures] == [(2, EncryptedDocumentError)]
        scores = qwen_reranker.predict([("a red circle", self.DOC)], limits=self.LIMITS)
        by_key = {(r["corpus_id"], r.get("page")): r["score"] for r in ranked}
        np.testing.assert_allclose([by_key[(0, 1)], by_key[(0, 2)]], scores, atol=1e-5)


class TestColumns:
    def test_a_pdf_in_a_column_is_a_row_error(self, demo):
        from st_multimodal.integrations._batch import encode_values

        out, errors = encode_values(demo, ["a red circle", PDF])
        assert out[0] is not None and out[1] is None
        assert errors[0] is None and errors[1].startswith("UnsupportedInputError: a PDF gives one embedding per page")
