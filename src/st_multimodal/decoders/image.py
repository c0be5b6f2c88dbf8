"""Images with Pillow: the pixel budget checked from the header, then one normalisation for every form.

``normalize_image`` is the single path from any PIL image to the RGB picture a model sees, used for
decoded bytes and for PIL objects given directly, so the same content gives the same pixels however
it arrives: EXIF orientation applied, transparency composited onto ``limits.image_background``,
16-bit and float data scaled (not clipped), animated images reduced to ``limits.animated_frame``.

Pillow's global ``Image.MAX_IMAGE_PIXELS`` is never changed or relied upon: ``limits.max_pixels`` is
checked on the lazily opened header, and Pillow's own bomb error is translated when it fires first.
"""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image, ImageOps

from ..errors import DecodeError, LimitExceededError, MissingDependencyError, MultimodalInputError
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from ..types import FetchedBytes, ResolveContext
from .budget import Deadline
from .image_modes import check_image_budget, float_to_uint8, to_rgb, uint16_to_uint8
from .jpeg_tensor import decode_jpeg_tensor
from .sniff import sniff_format

__all__ = ["ImageDecoder", "normalize_image", "open_image", "check_pixels", "apply_jpeg_draft",
           "uint16_to_uint8", "float_to_uint8", "DEFAULT_DRAFT_SIZE"]

DEFAULT_DRAFT_SIZE = (512, 512)
"""Target size for draft-mode JPEG decoding when ``ctx.extras["image_target_size"]`` is not set."""


def check_pixels(size: tuple[int, int], limits: DecodeLimits) -> None:
    """Raise LimitExceededError if ``width * height`` exceeds ``limits.max_pixels``."""
    pixels = int(size[0]) * int(size[1])
    if pixels > limits.max_pixels:
        raise LimitExceededError(
            f"image of {size[0]}x{size[1]} pixels is too large to decode",
            limit_name="max_pixels", limit=limits.max_pixels, actual=pixels,
        )


def _bomb_error(exc: Exception, limits: DecodeLimits) -> LimitExceededError:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    actual = int(match.group(1)) if match else f"more than {limits.max_pixels}"
    return LimitExceededError(
        "image header announces a decompression bomb", limit_name="max_pixels", limit=limits.max_pixels, actual=actual
    )


def _heif_support(data: bytes) -> None:
    """HEIC (and AVIF where Pillow lacks it) needs the ``pillow-heif`` plugin, registered on first use."""
    kind = sniff_format(data[:64], "image")
    if kind not in ("heic", "avif"):
        return
    from PIL import features

    if kind == "avif" and features.check("avif"):
        return
    try:
        import pillow_heif
    except ImportError as exc:
        raise MissingDependencyError(f"{kind.upper()} images need an optional plugin", package="pillow-heif") from exc
    pillow_heif.register_heif_opener()


def open_image(data: bytes, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> Image.Image:
    """Open lazily (header only) and check the pixel budget before any pixel is decoded."""
    _heif_support(data)
    try:
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, limits) from exc
    except Exception as exc:
        raise DecodeError(f"not a readable image: {type(exc).__name__}: {exc}") from exc
    check_pixels(img.size, limits)
    return img


def apply_jpeg_draft(img: Image.Image, target_size: tuple[int, int] = DEFAULT_DRAFT_SIZE) -> Image.Image:
    """Let Pillow decode a not-yet-loaded JPEG at 1/2, 1/4 or 1/8 scale, never below ``target_size``."""
    if img.format == "JPEG" and getattr(img, "tile", None):  # tile is emptied once the pixels are loaded
        img.draft("RGB", (int(target_size[0]), int(target_size[1])))
    return img


def _frame_index(img: Image.Image, wanted: int) -> int:
    count = int(getattr(img, "n_frames", 1) or 1)
    return min(wanted, count - 1) if wanted >= 0 else max(count + wanted, 0)


def _load_frame(img: Image.Image, limits: DecodeLimits) -> Image.Image:
    """The wanted frame, loaded: ``img`` itself when it is already on that frame (no copy), else a copy.

    The caller's image is left on the frame it was on.
    """
    current = img.tell()
    target = _frame_index(img, limits.animated_frame)
    if target == current:
        img.load()
        return img
    try:
        img.seek(target)
        frame = img.copy()
    finally:
        img.seek(current)
    if frame.size != img.size:
        check_pixels(frame.size, limits)
    return frame


_ORIENTATION = 0x0112


def _upright(frame: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, if any (a new image); an upright image is returned as it is."""
    if frame.getexif().get(_ORIENTATION, 1) in (0, 1):
        return frame
    return ImageOps.exif_transpose(frame) or frame


def normalize_image(
    img: Image.Image, limits: DecodeLimits = DEFAULT_DECODE_LIMITS, *, draft_size: tuple[int, int] | None = None
) -> Image.Image:
    """The RGB picture for any PIL image (see the module docstring); never modifies ``img``.

    An image that is already RGB, upright and on the wanted frame is returned as it is (no copy).
    """
    check_pixels(img.size, limits)
    if draft_size is not None:
        apply_jpeg_draft(img, draft_size)
    deadline = Deadline(limits)
    try:
        check_image_budget(img, limits)
        frame = _upright(_load_frame(img, limits))
        return to_rgb(frame, limits, deadline)
    except MultimodalInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, limits) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise DecodeError(f"image data is corrupt or truncated: {type(exc).__name__}: {exc}") from exc


class ImageDecoder:
    """Any image Pillow reads (HEIC with ``pillow-heif``)."""

    modality = "image"
    mime_prefixes = ("image/",)
    extensions = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ico",
                  ".heic", ".heif", ".avif", ".ppm", ".pgm", ".pbm", ".tga", ".jp2")

    def accept(self, prefix: bytes) -> bool:
        return sniff_format(prefix, "image") is not None

    def decode(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str]:
        img = open_image(fetched.data, ctx.limits)
        draft = None
        if ctx.limits.draft_jpeg:
            draft = tuple(ctx.extras.get("image_target_size") or DEFAULT_DRAFT_SIZE)
        out = normalize_image(img, ctx.limits, draft_size=draft)
        return out, out.size, (img.format or "image").lower()

    def decode_tensor(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str] | None:
        """The same pixels as ``decode``, as a ``(3, H, W)`` uint8 tensor, for plain JPEGs; else None."""
        out = decode_jpeg_tensor(fetched.data, ctx.limits)
        return None if out is None else (out[0], out[1], "jpeg")
