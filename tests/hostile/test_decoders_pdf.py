"""PDF render bombs render in capped worker processes; PDFium's errors never come from an earlier document."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pypdfium2")

from st_multimodal.decoders import pdf
from st_multimodal.errors import DecodeError, EncryptedDocumentError, LimitExceededError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import bombs
from st_multimodal.testing.documents import encrypted_pdf_bytes, pdf_bytes
from st_multimodal.testing.isolation import MB, run_isolated

NO_PAGES = bombs.pdf_without_pages()


def render_size(data: bytes, limits: DecodeLimits) -> tuple[int, int]:
    return pdf.render_page(data, 1, limits).size


class TestRenderBombs:
    def test_fifteen_million_operators_stop_at_the_memory_cap(self):
        data = bombs.pdf_operators(15_000_000)  # about 380 KB
        outcome = run_isolated(render_size, data, DecodeLimits(), address_space=1_000 * MB, timeout=60)
        assert outcome.error_type == "LimitExceededError", (outcome.error, outcome.killed)
        assert outcome.error.limit_name in ("max_item_bytes", "max_decode_seconds")
        assert outcome.rss_growth < 200 * MB and outcome.seconds < DecodeLimits().max_decode_seconds + 1

    def test_nested_forms_stop_at_the_deadline(self):
        limits = DecodeLimits(max_decode_seconds=1.0, max_item_bytes=2**31)
        started = time.monotonic()
        with pytest.raises(LimitExceededError) as info:
            render_size(bombs.pdf_nested_forms(9, 4), limits)
        assert info.value.limit_name == "max_decode_seconds"
        assert time.monotonic() - started < limits.max_decode_seconds + 1.0

    def test_a_lowered_budget_holds(self):
        with pytest.raises(LimitExceededError) as info:
            render_size(bombs.pdf_operators(1_000_000), DecodeLimits(max_item_bytes=64 * 2**20))
        assert info.value.limit_name == "max_item_bytes" and info.value.limit == 64 * 2**20

    def test_other_pdfs_render_while_a_bomb_renders(self):
        ordinary = pdf_bytes([("circle", "red")])
        render_size(ordinary, DecodeLimits(pdf_dpi=36))  # a worker is up
        errors = []

        def bomb():
            try:
                render_size(bombs.pdf_nested_forms(9, 4), DecodeLimits(max_decode_seconds=4.0, max_item_bytes=2**31))
            except LimitExceededError as exc:
                errors.append(exc)

        thread = threading.Thread(target=bomb)
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert render_size(ordinary, DecodeLimits(pdf_dpi=36)) == (298, 421)
        waited = time.monotonic() - started
        thread.join()
        assert waited < 1.5 and len(errors) == 1

    def test_the_batch_goes_on_after_a_bomb(self):
        with pytest.raises(LimitExceededError):
            render_size(bombs.pdf_nested_forms(9, 4), DecodeLimits(max_decode_seconds=0.5, max_item_bytes=2**31))
        assert render_size(pdf_bytes([("square", "blue")]), DecodeLimits(pdf_dpi=72)) == (595, 842)


class TestNoStaleErrors:
    def test_a_pdf_without_pages_after_an_encrypted_one(self):
        with pytest.raises(EncryptedDocumentError):
            pdf.count_pages(encrypted_pdf_bytes())
        with pytest.raises(DecodeError) as info:
            pdf.count_pages(NO_PAGES)
        assert not isinstance(info.value, EncryptedDocumentError)
        assert "no pages" in str(info.value)

    def test_the_same_in_a_render_worker(self):
        with pytest.raises(EncryptedDocumentError):
            pdf.render_page(encrypted_pdf_bytes(), 1)
        with pytest.raises(DecodeError) as info:
            pdf.render_page(NO_PAGES, 1)
        assert not isinstance(info.value, EncryptedDocumentError)


class TestOrdinaryPages:
    def test_worker_pixels_equal_pypdfium2s_own_rendering_here(self):
        import pypdfium2

        from st_multimodal.testing import media

        data = pdf_bytes([("triangle", "blue"), media.image(2, 600, 400)], page_size=(601, 843))
        document = pypdfium2.PdfDocument(data)
        try:
            for page in (1, 2):
                pdf_page = document[page - 1]
                scale = pdf.render_scale(*pdf_page.get_size())
                here = pdf_page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil().convert("RGB")
                assert here.tobytes() == pdf.render_page(data, page).tobytes()
        finally:
            document.close()

    def test_budget_fields_are_validated(self):
        with pytest.raises(ValueError):
            DecodeLimits(max_item_bytes=0)
        with pytest.raises(ValueError):
            DecodeLimits(max_decode_seconds=0)
