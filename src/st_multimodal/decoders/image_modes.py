"""Pixel modes to RGB within the item's memory budget: estimated before decoding, converted in strips.

Pillow holds most modes at 4 bytes a pixel (RGB included), 16-bit at 2 and 1-bit, L and P at 1; a
conversion through RGBA or a wide numpy dtype would add several full-size temporaries. Here
``decode_bytes`` adds up what decoding and converting one image will hold at once (bytes per pixel of
every buffer, not pixels alone), ``check_image_budget`` refuses an image past
``limits.max_item_bytes`` before its pixels are decoded, and ``to_rgb`` converts a large image one
strip of rows at a time into the output, so no temporary is larger than a strip. Every conversion is
pointwise, so strips give the same pixels as one pass.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import DecodeError
from ..policy import DecodeLimits
from .budget import Deadline, check_item_bytes

__all__ = ["to_rgb", "decode_bytes", "check_image_budget", "uint16_to_uint8", "float_to_uint8", "STRIP_PIXELS"]

STRIP_PIXELS = 1 << 20
"""Pixels converted at once (1 M): images up to this size convert in one pass."""
_CHUNK = 1 << 20
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_DECODER_EXTRA = {"WEBP": 12}
"""Bytes a pixel a format's decoder holds besides Pillow's image (libwebp: two RGBA canvases and a copy)."""
_STRIP_TEMPORARIES = 24
"""Bytes a pixel of one strip's temporaries (int64 values, RGBA, background, RGB)."""
_DECODER_SLACK = 16 * 2**20
"""Bytes a decoder holds besides the pixels (libpng/libtiff row and strip buffers, zlib windows)."""
_ORIENTATION = 0x0112


def uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale 0..65535 to 0..255 with rounding (``round(v / 257)``); values outside are clipped first."""
    out = np.empty(values.shape, np.uint8)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _CHUNK):
        wide = np.clip(flat_in[start:start + _CHUNK].astype(np.int64), 0, 65535)
        flat_out[start:start + _CHUNK] = (wide * 255 + 32767) // 65535
    return out


def _float_range(values: np.ndarray) -> tuple[float, float]:
    flat, low, high = values.reshape(-1), np.inf, -np.inf
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start:start + _CHUNK]
        if not np.isfinite(chunk).all():
            raise DecodeError("image data contains NaN or infinite values")
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    return (low, high) if flat.size else (0.0, 0.0)


def check_float_range(low: float, high: float) -> None:
    """Floats must lie in [0, 1]; anything else is refused rather than guessed."""
    if low < -1e-6 or high > 1 + 1e-6:
        if low >= 0 and high <= 255:
            raise DecodeError(
                f"float image values lie in [{low:g}, {high:g}], which looks like a 0..255 range; "
                "float images must lie in [0, 1]: pass arr.astype(numpy.uint8) for 0..255 data"
            )
        raise DecodeError(f"float image values must lie in [0, 1], got [{low:g}, {high:g}]")


def float_to_uint8(values: np.ndarray, *, checked: bool = False) -> np.ndarray:
    """Floats in [0, 1] to 0..255 (``checked``: the caller already checked the range)."""
    if not checked:
        check_float_range(*_float_range(values))
    out = np.empty(values.shape, np.uint8)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _CHUNK):
        chunk = flat_in[start:start + _CHUNK].astype(np.float32, copy=False)
        flat_out[start:start + _CHUNK] = np.rint(np.clip(chunk, 0.0, 1.0) * 255.0)
    return out


def _bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, 4)


def _transparent(img: Image.Image) -> bool:
    return img.mode in ALPHA_MODES or "transparency" in img.info


def _rotated(img: Image.Image) -> bool:
    if img.format == "PNG" and getattr(img, "tile", None) and "exif" not in img.info:
        return False  # a late eXIf chunk: Pillow would decode the whole PNG to find it
    return img.getexif().get(_ORIENTATION, 1) not in (0, 1)


def _not_decoded(img: Image.Image) -> bool:
    return bool(getattr(img, "tile", None)) or getattr(img, "_im", True) is None


def decode_bytes(img: Image.Image, limits: DecodeLimits) -> int:
    """What decoding and normalising ``img`` will allocate at once, in bytes (already-loaded pixels not counted)."""
    pixels = img.size[0] * img.size[1]
    source = pixels * _bytes_per_pixel(img.mode)
    total = _DECODER_SLACK
    if _not_decoded(img):
        total += source + pixels * _DECODER_EXTRA.get(img.format or "", 0)
    if int(getattr(img, "n_frames", 1) or 1) > 1 and limits.animated_frame != img.tell():
        total += 2 * pixels * 4  # the frame's copy and the decoder's previous frame
    if _rotated(img):
        total += source  # the upright copy
    if img.mode != "RGB" or _transparent(img):
        total += pixels * 4 + min(pixels, STRIP_PIXELS) * _STRIP_TEMPORARIES
    return total


def check_image_budget(img: Image.Image, limits: DecodeLimits) -> None:
    """Refuse ``img`` before decoding if its decode would pass ``limits.max_item_bytes``."""
    check_item_bytes(decode_bytes(img, limits), limits, f"a {img.size[0]}x{img.size[1]} {img.mode} image")


def _sixteen_bit(strip: Image.Image) -> Image.Image:
    values = np.asarray(strip)
    grey = uint16_to_uint8(values)
    key = strip.info.get("transparency")
    if isinstance(key, int) and not isinstance(key, bool):  # a 16-bit grey tRNS: that value is transparent
        alpha = np.where(values == key, 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([grey, alpha]), mode="LA")
    return Image.fromarray(grey, mode="L")


def _strip_to_rgb(strip: Image.Image, background: tuple[int, int, int], float_checked: bool) -> Image.Image:
    if strip.mode in SIXTEEN_BIT:
        strip = _sixteen_bit(strip)
    elif strip.mode == "F":
        strip = Image.fromarray(float_to_uint8(np.asarray(strip), checked=float_checked), mode="L")
    if _transparent(strip):
        rgba = strip.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return strip if strip.mode == "RGB" else strip.convert("RGB")


def to_rgb(img: Image.Image, limits: DecodeLimits, deadline: Deadline | None = None) -> Image.Image:
    """``img`` as RGB, transparency composited onto ``limits.image_background`` (RGB without it: as it is)."""
    if img.mode == "RGB" and not _transparent(img):
        return img
    width, height = img.size
    rows = max(1, STRIP_PIXELS // max(width, 1))
    if rows >= height:
        return _strip_to_rgb(img, limits.image_background, False)
    deadline = deadline or Deadline(limits)
    boxes = [(0, top, width, min(height, top + rows)) for top in range(0, height, rows)]
    if img.mode == "F":  # the range is checked over the whole image first, as one pass would
        ranges = [_float_range(np.asarray(img.crop(box))) for box in boxes]
        check_float_range(min(r[0] for r in ranges), max(r[1] for r in ranges))
    out = Image.new("RGB", img.size)
    for box in boxes:
        deadline.check("the image")
        out.paste(_strip_to_rgb(img.crop(box), limits.image_background, img.mode == "F"), box)
    return out
