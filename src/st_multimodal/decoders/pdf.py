"""PDF pages with pypdfium2 (the optional ``[pdf]`` extra): count the pages, render one page to an RGB image.

PDFium is not thread-safe, so every call into it holds one process-wide lock: pages render one at a
time while the pipeline's other workers fetch, decode images and preprocess. A document is opened
for each call rather than kept open (opening costs about 20 µs, 0.2 ms for 200 pages; nothing is
rendered until a page is asked for).

A page is rendered at ``limits.pdf_dpi``; a page that would exceed ``limits.pdf_max_pixels_per_page``
(or ``limits.max_pixels``) is rendered at the largest scale that fits instead, so a huge page is
made smaller, not refused; a page outside the shape limits (``max_aspect_ratio``, ``min_side``) is refused
before it is rendered.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import DecodeError, EncryptedDocumentError, MissingDependencyError, PageOutOfRangeError
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from .image import check_shape
from .sniff import PDF_MAGIC, is_pdf

__all__ = ["PDF_MAGIC", "PDF_MIME", "is_pdf", "count_pages", "render_page", "render_scale"]

PDF_MIME = "application/pdf"
_PDFIUM_LOCK = threading.RLock()
"""Held around every PDFium call (opening, counting, rendering, closing)."""
_ERR_PASSWORD, _ERR_SECURITY = 4, 5  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY


def _pdfium() -> Any:
    try:
        import pypdfium2
    except ImportError as exc:
        raise MissingDependencyError("PDF inputs need pypdfium2", package="pypdfium2", extra="pdf") from exc
    return pypdfium2


def _open_error(exc: Exception) -> DecodeError:
    code = getattr(exc, "err_code", None)
    if code in (_ERR_PASSWORD, _ERR_SECURITY):
        return EncryptedDocumentError("the PDF is encrypted with a password; decrypt it first (e.g. qpdf --decrypt)")
    return DecodeError(f"not a readable PDF, it is malformed or truncated ({exc})")


@contextmanager
def _opened(data: bytes) -> Iterator[Any]:
    """The open document, under the PDFium lock; closed on exit."""
    pdfium = _pdfium()
    if not is_pdf(data[:len(PDF_MAGIC)]):
        raise DecodeError("not a PDF: the content does not start with %PDF-")
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise _open_error(exc) from exc
        try:
            yield document
        finally:
            document.close()


def count_pages(data: bytes) -> int:
    """How many pages the PDF has (opens it; renders nothing). A PDF without pages is a DecodeError."""
    with _opened(data) as document:
        count = len(document)
    if count < 1:
        raise DecodeError("the PDF has no pages")
    return count


def render_scale(width: float, height: float, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> float:
    """Pixels per point for a page of ``width`` x ``height`` points: ``pdf_dpi / 72``, lowered to fit the pixel budget."""
    if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
        raise DecodeError(f"the page has no usable size ({width} x {height} points)")
    budget = min(limits.pdf_max_pixels_per_page, limits.max_pixels)
    scale = limits.pdf_dpi / 72.0
    pixels = math.ceil(width * scale) * math.ceil(height * scale)
    if pixels > budget:
        scale *= math.sqrt(budget / pixels)
        while scale > 0 and math.ceil(width * scale) * math.ceil(height * scale) > budget:
            scale *= 0.995  # ceil() rounding: shave until it fits
    check_shape((math.ceil(width * scale), math.ceil(height * scale)), limits, "rendered page")
    return scale


def render_page(data: bytes, page: int, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> Any:
    """Render page ``page`` (1-based) as an RGB ``PIL.Image``, on ``limits.image_background``."""
    pdfium = _pdfium()
    with _opened(data) as document:
        if not 1 <= page <= len(document):
            raise PageOutOfRangeError(f"page {page} is not in the PDF, which has {len(document)} pages",
                                      page=page, page_count=len(document))
        pdf_page = document[page - 1]
        try:
            scale = render_scale(*pdf_page.get_size(), limits)
            bitmap = pdf_page.render(scale=scale, fill_color=(*limits.image_background, 255))
            image = bitmap.to_pil()
            image = image.convert("RGB") if image.mode != "RGB" else image.copy()  # own the pixels
            bitmap.close()
        except pdfium.PdfiumError as exc:
            raise DecodeError(f"page {page} could not be rendered ({exc})") from exc
        finally:
            pdf_page.close()
    return image
