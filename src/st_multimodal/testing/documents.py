"""Small PDF documents written in code, for tests: shapes drawn as vector paths, embedded images, and broken files.

The writer is a few lines of plain PDF 1.4 (no library), so the same arguments always give the same
bytes, and broken or encrypted variants are easy to make. Rendering them needs the ``[pdf]`` extra.

>>> data = pdf_bytes([("triangle", "blue"), ("circle", "red")])   # two pages
>>> data[:5]
b'%PDF-'
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Union

from PIL import Image

__all__ = ["PageSpec", "pdf_bytes", "encrypted_pdf_bytes", "truncated_pdf_bytes", "A4"]

A4 = (595, 842)
"""A4 in points (1/72 inch)."""
PageSpec = Union[tuple[str, str], Image.Image, None]
"""A page: ``(shape, colour)`` drawn as a vector path (demo shapes and colours), an image, or None (blank)."""
_KAPPA = 4 * (math.sqrt(2) - 1) / 3  # Bezier control distance for a quarter circle


def _shape_ops(shape: str, colour: str, width: float, height: float, fraction: float) -> bytes:
    from ..demo.shapes import COLOURS

    r, g, b = (c / 255 for c in COLOURS[colour])
    side = min(width, height) * fraction
    cx, cy, h = width / 2, height / 2, side / 2
    if shape == "square":
        path = f"{cx - h:.2f} {cy - h:.2f} {side:.2f} {side:.2f} re"
    elif shape == "triangle":
        path = f"{cx:.2f} {cy + h:.2f} m {cx + h:.2f} {cy - h:.2f} l {cx - h:.2f} {cy - h:.2f} l h"
    elif shape == "circle":
        k = h * _KAPPA
        path = (f"{cx + h:.2f} {cy:.2f} m "
                f"{cx + h:.2f} {cy + k:.2f} {cx + k:.2f} {cy + h:.2f} {cx:.2f} {cy + h:.2f} c "
                f"{cx - k:.2f} {cy + h:.2f} {cx - h:.2f} {cy + k:.2f} {cx - h:.2f} {cy:.2f} c "
                f"{cx - h:.2f} {cy - k:.2f} {cx - k:.2f} {cy - h:.2f} {cx:.2f} {cy - h:.2f} c "
                f"{cx + k:.2f} {cy - h:.2f} {cx + h:.2f} {cy - k:.2f} {cx + h:.2f} {cy:.2f} c h")
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return f"{r:.4f} {g:.4f} {b:.4f} rg {path} f".encode()


def _image_objects(image: Image.Image, width: float, height: float) -> tuple[bytes, bytes]:
    """(content ops, image XObject) drawing ``image`` as wide as the page, centred vertically."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    draw_h = width * h / w
    ops = f"q {width:.2f} 0 0 {draw_h:.2f} 0 {(height - draw_h) / 2:.2f} cm /Im0 Do Q".encode()
    data = zlib.compress(rgb.tobytes())
    xobject = (f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB "
               f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>\nstream\n").encode() + data + b"\nendstream"
    return ops, xobject


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _write(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """Objects 1..n (1 is the catalog), an xref table and a trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _document(pages: Sequence[PageSpec], page_size: tuple[float, float], fraction: float) -> list[bytes]:
    width, height = page_size
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for spec in pages:
        resources = b"<< >>"
        if isinstance(spec, Image.Image):
            ops, xobject = _image_objects(spec, width, height)
            objects.append(xobject)
            resources = b"<< /XObject << /Im0 %d 0 R >> >>" % len(objects)
        else:
            ops = b"" if spec is None else _shape_ops(spec[0], spec[1], width, height, fraction)
        objects.append(_stream(ops))
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Contents {content} 0 R "
                       f"/Resources ".encode() + resources + b" >>")
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(kids)
    return objects


def pdf_bytes(pages: Sequence[PageSpec] = (("triangle", "blue"),), page_size: tuple[float, float] = A4,
              fraction: float = 0.4) -> bytes:
    """A PDF with one page per spec; a shape is centred and ``fraction`` of the page's shorter side across."""
    return _write(_document(pages, page_size, fraction))


@lru_cache(maxsize=4)
def encrypted_pdf_bytes(pages: int = 1) -> bytes:
    """A PDF that asks for a password (standard security handler, revision 2) that nobody knows."""
    objects = _document([("square", "green")] * pages, A4, 0.4)
    objects.append(b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"5a" * 32 + b"> /U <" + b"a5" * 32 + b"> >>")
    file_id = b"<" + b"3c" * 16 + b">"
    return _write(objects, b"/Encrypt %d 0 R /ID [%s %s] " % (len(objects), file_id, file_id))


def truncated_pdf_bytes(pages: Sequence[PageSpec] = (("circle", "red"), ("square", "blue"))) -> bytes:
    """The first half of a valid PDF: a download cut short."""
    data = pdf_bytes(pages)
    return data[: len(data) // 2]
