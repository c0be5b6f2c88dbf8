"""Baseline JPEGs straight to the ``(3, H, W)`` uint8 tensor a processor takes, with torchvision.

Same libjpeg-turbo decode as Pillow (bit-identical pixels, checked in the tests), minus the two
copies of going through a PIL image and a numpy array, and without holding the GIL. Only images
the Pillow path would hand over unchanged qualify: JPEG (not MPO), RGB or greyscale, no EXIF
rotation, no draft mode. Anything else, or any torchvision failure, returns None and the caller
uses the Pillow path, so errors and pixels are exactly those of :class:`ImageDecoder`.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from PIL import Image

from ..policy import DecodeLimits

__all__ = ["decode_jpeg_tensor"]

_ORIENTATION = 0x0112


@lru_cache(maxsize=1)
def _torchvision_decoder() -> Any:
    try:
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        decode_jpeg(torch.frombuffer(bytearray(_TINY_JPEG), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except Exception:  # torchvision without its image extension: the Pillow path is always there
        return None
    op = getattr(getattr(torch.ops, "image", None), "decode_jpeg", None)
    if op is not None:  # the operator behind torchvision's wrapper (which warns and logs on every call)
        try:
            direct = op(torch.frombuffer(bytearray(_TINY_JPEG), dtype=torch.uint8), ImageReadMode.RGB.value, False)
            if tuple(direct.shape) == (3, 8, 8):
                return lambda data: op(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB.value, False)
        except Exception:  # noqa: BLE001 - another torchvision's operator signature: use the wrapper
            pass
    return lambda data: decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


def _tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="JPEG")
    return out.getvalue()


_TINY_JPEG = _tiny_jpeg()


def _within_limits(size: tuple[int, int], limits: DecodeLimits) -> bool:
    from ..errors import LimitExceededError
    from .image import check_pixels

    try:
        check_pixels(size, limits)
    except LimitExceededError:
        return False
    return True


def decode_jpeg_tensor(data: bytes, limits: DecodeLimits) -> tuple[Any, tuple[int, int]] | None:
    """``(tensor, (width, height))`` for a plain JPEG within ``limits``, else None (use Pillow)."""
    if data[:3] != b"\xff\xd8\xff" or limits.draft_jpeg:
        return None
    decode = _torchvision_decoder()
    if decode is None:
        return None
    try:
        header = Image.open(io.BytesIO(data))
        if header.format != "JPEG" or header.mode not in ("RGB", "L"):
            return None
        if not _within_limits(header.size, limits):
            return None  # the Pillow path raises the located limit error
        if header.getexif().get(_ORIENTATION, 1) not in (0, 1):
            return None
        tensor = decode(data)
    except Exception:
        return None
    if tuple(tensor.shape) != (3, header.size[1], header.size[0]):
        return None
    return tensor, header.size
