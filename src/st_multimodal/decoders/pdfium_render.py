"""PDFium calls shared by the library and its render worker; run as a script, this file is the worker.

This module imports nothing from st_multimodal, so the worker starts as a bare Python process
(``python pdfium_render.py FD``: no torch, no transformers) in a fraction of a second.

- ``open_document`` reads PDFium's error code only when PDFium itself failed to load the bytes, so
  the code never comes from an earlier document (a document that loads with no pages is "no pages",
  not the last document's "password required").
- ``render_bitmap`` renders one page in RGB byte order at the scale the caller's limits allow.
- ``serve`` answers render requests on a connection: one request at a time, under an address-space
  cap set per request; the last document stays open so the pages of one PDF are parsed once, and
  the pixels travel through a buffer shared with the caller.
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["open_document", "render_bitmap", "render_rgb", "bitmap_image", "render_scale", "RenderFailed", "serve"]

_ERR_PASSWORD, _ERR_SECURITY = 4, 5  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY


class RenderFailed(Exception):
    """A failure to report to the caller: ``kind`` is "encrypted", "unreadable", "no_pages", "range", "page" or "size"."""

    def __init__(self, kind: str, detail: Any = None):
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


def open_document(data: bytes) -> Any:
    """A ``pypdfium2.PdfDocument`` over ``data`` (the caller keeps ``data`` alive until it is closed)."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()  # set by this failed load
        raise RenderFailed("encrypted" if code in (_ERR_PASSWORD, _ERR_SECURITY) else "unreadable", code)
    document = pypdfium2.PdfDocument(raw)
    if len(document) < 1:
        document.close()
        raise RenderFailed("no_pages")
    return document


def render_scale(width: float, height: float, dpi: float, budget: int) -> float:
    """Pixels per point for a page of ``width`` x ``height`` points: ``dpi / 72``, lowered to fit ``budget`` pixels."""
    if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
        raise RenderFailed("size", (width, height))
    scale = dpi / 72.0
    pixels = math.ceil(width * scale) * math.ceil(height * scale)
    if pixels > budget:
        scale *= math.sqrt(budget / pixels)
        while scale > 0 and math.ceil(width * scale) * math.ceil(height * scale) > budget:
            scale *= 0.995  # ceil() rounding: shave until it fits
    return scale


def render_bitmap(document: Any, page: int, dpi: float, budget: int, background: tuple[int, int, int],
                  shape: tuple[float, int] = (float("inf"), 1)) -> Any:
    """Page ``page`` (1-based) as a PDFium bitmap in RGB byte order (the caller closes it).

    ``shape`` is (largest ratio of sides, smallest side in pixels): a page outside it is refused before rendering."""
    import pypdfium2

    count = len(document)
    if not 1 <= page <= count:
        raise RenderFailed("range", count)
    pdf_page = document[page - 1]
    try:
        width, height = pdf_page.get_size()
        scale = render_scale(width, height, dpi, budget)
        pixels = sorted((math.ceil(width * scale), math.ceil(height * scale)))
        if pixels[0] < shape[1] or pixels[1] / pixels[0] > shape[0]:
            raise RenderFailed("shape", (math.ceil(width * scale), math.ceil(height * scale)))
        return pdf_page.render(scale=scale, fill_color=(*background, 255), rev_byteorder=True)
    except pypdfium2.PdfiumError as exc:
        raise RenderFailed("page", str(exc)) from exc
    finally:
        pdf_page.close()


def bitmap_image(width: int, height: int, stride: int, pixels: Any) -> Any:
    """A PIL RGB image (its own copy: Pillow unpacks RGB rows into its own storage) from rows of ``stride`` bytes."""
    from PIL import Image

    return Image.frombuffer("RGB", (width, height), pixels, "raw", "RGB", stride, 1)


def render_rgb(document: Any, page: int, dpi: float, budget: int, background: tuple[int, int, int]) -> Any:
    """Page ``page`` (1-based) as a PIL RGB image, rendered in this process."""
    bitmap = render_bitmap(document, page, dpi, budget, background)
    try:
        return bitmap_image(bitmap.width, bitmap.height, bitmap.stride, bitmap.buffer)
    finally:
        bitmap.close()


def _reply_pixels(bitmap: Any, shared: Any) -> tuple:
    """The bitmap's rows, through the shared buffer when they fit, else in the reply."""
    size = bitmap.height * bitmap.stride
    rows = memoryview(bitmap.buffer).cast("B")
    if size <= len(shared):
        shared[:size] = rows
        return ("shared", bitmap.width, bitmap.height, bitmap.stride)
    return ("ok", bitmap.width, bitmap.height, bitmap.stride, bytes(rows))


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def serve(fd: int, shared_fd: int, shared_size: int) -> None:
    """Answer ``(pdf_hash, data | None, page, dpi, pixel_budget, background, memory)`` requests until EOF.

    Replies: ``("shared", width, height, stride)`` (the rows are in the shared buffer),
    ``("ok", width, height, stride, rows)``, ``("failed", kind, detail)``, ``("memory",)``, or
    ``("resend",)`` when ``data`` is None and the worker holds another document.
    """
    import mmap
    import resource
    from multiprocessing.connection import Connection

    import pypdfium2  # noqa: F401 - loaded before the cap is measured

    conn = Connection(fd)
    shared = mmap.mmap(shared_fd, shared_size)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)  # a cap inherited from the caller stays in force
    held: tuple[str | None, Any, bytes | None] = (None, None, None)
    while True:
        try:
            pdf_hash, data, page, dpi, budget, background, memory, shape = conn.recv()
        except EOFError:
            return
        cap = _vm_size() + memory
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
        try:
            if held[0] != pdf_hash:
                if data is None:
                    conn.send(("resend",))
                    continue
                if held[1] is not None:
                    held[1].close()
                held = (None, None, None)
                held = (pdf_hash, open_document(data), data)
            bitmap = render_bitmap(held[1], page, dpi, budget, tuple(background), tuple(shape))
            try:
                reply = _reply_pixels(bitmap, shared)
            finally:
                bitmap.close()
        except RenderFailed as exc:
            reply = ("failed", exc.kind, exc.detail)
        except MemoryError:
            reply = ("memory",)
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        conn.send(reply)


if __name__ == "__main__":
    import os

    sys.path[:0] = [p for p in os.environ.get("ST_MULTIMODAL_WORKER_PATH", "").split(os.pathsep) if p]
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
