"""PDF pages with pypdfium2: counting, rendering at a DPI within the pixel budget, typed errors, one lock."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

from st_multimodal.decoders import pdf
from st_multimodal.decoders.sniff import choose_decoder, is_pdf
from st_multimodal.errors import (
    DecodeError,
    EncryptedDocumentError,
    MissingDependencyError,
    PageOutOfRangeError,
    UnsupportedInputError,
)
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing.documents import A4, encrypted_pdf_bytes, pdf_bytes, truncated_pdf_bytes
from st_multimodal.types import FetchedBytes

THREE = [("triangle", "blue"), ("circle", "red"), None]


class TestCountPages:
    def test_counts_every_page(self):
        assert pdf.count_pages(pdf_bytes(THREE)) == 3

    def test_encrypted_is_its_own_error(self):
        with pytest.raises(EncryptedDocumentError, match="password") as info:
            pdf.count_pages(encrypted_pdf_bytes())
        assert isinstance(info.value, DecodeError)

    @pytest.mark.parametrize("data", [truncated_pdf_bytes(), b"%PDF-1.7\n" + b"\x00garbage" * 40],
                             ids=["truncated", "garbage-after-header"])
    def test_malformed_is_a_decode_error(self, data):
        with pytest.raises(DecodeError, match="malformed or truncated"):
            pdf.count_pages(data)

    def test_not_a_pdf(self):
        with pytest.raises(DecodeError, match="%PDF-"):
            pdf.count_pages(b"\x89PNG\r\n\x1a\n....")

    def test_missing_pypdfium2_names_the_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "pypdfium2", None)
        with pytest.raises(MissingDependencyError, match=r"\[pdf\] extra") as info:
            pdf.count_pages(pdf_bytes())
        assert info.value.package == "pypdfium2" and info.value.extra == "pdf"


class TestRenderScale:
    def test_dpi_over_72(self):
        assert pdf.render_scale(*A4, DecodeLimits(pdf_dpi=144)) == 2.0

    @pytest.mark.parametrize("size", [(595, 842), (14400, 14400), (3000, 20)])
    def test_never_exceeds_the_page_budget(self, size):
        limits = DecodeLimits(pdf_max_pixels_per_page=100_000)
        scale = pdf.render_scale(*size, limits)
        width, height = np.ceil(size[0] * scale), np.ceil(size[1] * scale)
        assert width * height <= 100_000
        assert width * height > 100_000 * 0.97  # shrunk to fit, not far below

    def test_max_pixels_caps_too(self):
        scale = pdf.render_scale(*A4, DecodeLimits(max_pixels=50_000))
        assert np.ceil(A4[0] * scale) * np.ceil(A4[1] * scale) <= 50_000

    def test_zero_size_page(self):
        with pytest.raises(DecodeError, match="no usable size"):
            pdf.render_scale(0, 842)


class TestRenderPage:
    def test_a4_at_the_default_dpi(self):
        image = pdf.render_page(pdf_bytes(THREE), 1)
        assert image.mode == "RGB"
        assert image.size == (1240, 1755)  # 595 x 842 pt at 150 dpi, rounded up
        assert image.getpixel((620, 877)) == (40, 80, 220)  # the blue triangle's centre
        assert image.getpixel((5, 5)) == (255, 255, 255)

    def test_pages_differ(self):
        data = pdf_bytes(THREE)
        centres = [pdf.render_page(data, page, DecodeLimits(pdf_dpi=36)).getpixel((148, 210)) for page in (1, 2, 3)]
        assert centres == [(40, 80, 220), (220, 40, 40), (255, 255, 255)]

    def test_background_follows_the_limits(self):
        image = pdf.render_page(pdf_bytes([None]), 1, DecodeLimits(pdf_dpi=18, image_background=(0, 0, 0)))
        assert image.getpixel((3, 3)) == (0, 0, 0)

    def test_large_page_is_scaled_down(self):
        image = pdf.render_page(pdf_bytes([("square", "green")], page_size=(5000, 5000)), 1,
                                DecodeLimits(pdf_max_pixels_per_page=250_000))
        assert image.size[0] * image.size[1] <= 250_000 and image.size[0] >= 490

    def test_page_out_of_range(self):
        with pytest.raises(PageOutOfRangeError) as info:
            pdf.render_page(pdf_bytes(THREE), 4)
        assert (info.value.page, info.value.page_count) == (4, 3)

    def test_concurrent_renders_are_serialised_and_correct(self):
        data = pdf_bytes(THREE)
        limits = DecodeLimits(pdf_dpi=36)
        expected = [np.asarray(pdf.render_page(data, p, limits)) for p in (1, 2, 3)]
        results, errors = {}, []

        def work(n):
            try:
                results[n] = np.asarray(pdf.render_page(data, n % 3 + 1, limits))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert all(np.array_equal(results[n], expected[n % 3]) for n in range(24))


    def test_closing_the_pool_stops_its_idle_workers(self):
        pdf.render_page(pdf_bytes(THREE), 1, DecodeLimits(pdf_dpi=18))
        processes = [worker.process for worker in pdf._POOL.idle]
        assert processes and all(process.poll() is None for process in processes)
        pdf._POOL.close()
        assert pdf._POOL.idle == [] and pdf._POOL.started == 0
        assert all(process.returncode is not None for process in processes)
        assert np.asarray(pdf.render_page(pdf_bytes(THREE), 2, DecodeLimits(pdf_dpi=18))).size  # starts afresh


class TestSniffing:
    def test_magic(self):
        assert is_pdf(b"%PDF-1.4\n") and not is_pdf(b"%PS-Adobe") and not is_pdf(b"")

    def test_a_pdf_is_never_chosen_as_media(self):
        with pytest.raises(UnsupportedInputError, match=r"as_document"):
            choose_decoder(FetchedBytes(data=pdf_bytes(), source="x", mime="application/pdf"))
