"""Visual document retrieval: PDFs indexed page by page with the demo model, searched by text."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

import st_multimodal as stm
from st_multimodal.demo import CLASSES, caption, heldout_examples
from st_multimodal.errors import DecodeError, EncryptedDocumentError, UnsupportedInputError
from st_multimodal.policy import DecodeLimits, FetchPolicy
from st_multimodal.retrieval import DuplicateIdError, MultimodalIndex
from st_multimodal.testing.documents import encrypted_pdf_bytes, pdf_bytes, truncated_pdf_bytes
from st_multimodal.testing.server import LocalServer

REPORT = [("circle", "red"), ("square", "green"), ("triangle", "blue"), ("circle", "yellow")]
"""One shape per page; the blue triangle is on page 3."""


@pytest.fixture(scope="module")
def demo():
    return stm.demo_model()


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf_bytes(REPORT))
    return str(path)


class TestShapesReport:
    """The issue's acceptance test: a generated PDF, one shape per page, broken documents beside it."""

    def test_a_blue_triangle_finds_its_page(self, demo, report):
        index = MultimodalIndex(demo)
        image = next(ex for ex in heldout_examples(1) if (ex.shape, ex.colour) == ("square", "red")).image()
        result = index.add([report, truncated_pdf_bytes(), "a note about sales", encrypted_pdf_bytes(), image],
                           on_error="skip")
        assert result.ids == [f"{report}#page={n}" for n in (1, 2, 3, 4)] + [2, 4]
        assert [(f.index, type(f.error)) for f in result.failures] == [(1, DecodeError), (3, EncryptedDocumentError)]
        assert result.failed_ids == [1, 3]
        hits = index.search("a blue triangle", top_k=3)
        assert hits[0].id == f"{report}#page=3"
        assert hits[0].metadata == {"input_index": 0, "page": 3}
        assert index.search("a red square", top_k=1, modality="image")[0].id == 4  # the image among the pages

    def test_every_class_finds_its_page(self, tmp_path):
        path = tmp_path / "all.pdf"
        path.write_bytes(pdf_bytes(CLASSES))
        index = MultimodalIndex(stm.demo_model(limits=DecodeLimits(pdf_dpi=36)))
        index.add([str(path)], ids=["all"])
        found = [index.search(caption(shape, colour), top_k=1)[0].id for shape, colour in CLASSES]
        assert found == [f"all#page={n}" for n in range(1, len(CLASSES) + 1)]

    def test_skip_behaves_as_for_images(self, demo, report):
        """A broken PDF is one failure, like a broken image; the pages of the good one are unaffected."""
        alone = MultimodalIndex(demo)
        alone.add([report])
        mixed = MultimodalIndex(demo)
        mixed.add([b"\x89PNG\r\n\x1a\n broken", encrypted_pdf_bytes(), report], on_error="skip")
        np.testing.assert_allclose(mixed.vectors, alone.vectors, atol=1e-6)
        with pytest.raises(EncryptedDocumentError) as info:
            MultimodalIndex(demo).add([report, encrypted_pdf_bytes()])
        assert info.value.index == 1


class TestIds:
    def test_given_ids_name_the_pages(self, demo, report):
        index = MultimodalIndex(demo)
        result = index.add(["a text", stm.as_document(report, pages="2-3")], ids=["t", "q3"], metadata=[None, {"year": 2024}])
        assert result.ids == ["t", "q3#page=2", "q3#page=3"]
        assert index.metadata("q3#page=3") == {"year": 2024, "input_index": 1, "page": 3}
        assert index.metadata("t") is None

    def test_bytes_pages_get_automatic_ids(self, demo):
        index = MultimodalIndex(demo)
        assert index.add(["x", pdf_bytes(REPORT[:2])]).ids == [0, "1#page=1", "1#page=2"]

    def test_adding_the_same_file_twice(self, demo, report):
        index = MultimodalIndex(demo)
        index.add([report])
        with pytest.raises(DuplicateIdError, match="pass ids="):
            index.add([report])
        assert len(index) == 4
        assert index.add([report], ids=["again"]).ids[0] == "again#page=1"

    def test_document_returns_the_rendered_page(self, demo, report):
        index = MultimodalIndex(demo, cache_bytes=0)  # nothing cached: the page is rendered again
        index.add([report])
        page = index.document(f"{report}#page=3")
        assert page.modality == "image" and page.provenance.source == f"{report}#page=3"
        assert page.value.size == (1240, 1755) and page.value.getpixel((620, 877)) == (40, 80, 220)


class TestSearch:
    def test_a_multi_page_query_is_refused(self, demo, report):
        index = MultimodalIndex(demo)
        index.add(["a blue triangle"])
        with pytest.raises(UnsupportedInputError, match=r"pages=\[n\]"):
            index.search(report)
        assert index.search(stm.as_document(report, pages=[3]))[0].id == 0

    def test_pdf_over_http(self, demo):
        with LocalServer() as server:
            url = server.route("/reports/q3.pdf", pdf_bytes(REPORT), headers={"Content-Type": "application/pdf"})
            model = stm.demo_model(fetch_policy=FetchPolicy(allow_loopback=True, retries=0), limits=DecodeLimits(pdf_dpi=36))
            index = MultimodalIndex(model)
            assert index.add([url]).ids == [f"{url}#page={n}" for n in (1, 2, 3, 4)]
            assert index.search("a blue triangle", top_k=1)[0].id == f"{url}#page=3"
            assert server.count("/reports/q3.pdf") == 1
