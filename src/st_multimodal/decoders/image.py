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
from .pillow_formats import UnreadableImage, open_as, open_by_content
from .sniff import common_image_format, extension_of

__all__ = ["ImageDecoder", "normalize_image", "open_image", "check_pixels", "check_shape", "VIDEO_MIN_SIDE", "apply_jpeg_draft",
           "uint16_to_uint8", "float_to_uint8", "DEFAULT_DRAFT_SIZE"]

DEFAULT_DRAFT_SIZE = (512, 512)
"""Target size for draft-mode JPEG decoding when ``ctx.extras["image_target_size"]`` is not set."""


VIDEO_MIN_SIDE = 5
"""Video frames smaller than this on a side are refused whatever ``limits.min_side`` says: transformers'
video processors read a ``(T, H, W, 3)`` array whose height is 1, 3 or 4 as channels-first."""


def check_pixels(size: tuple[int, int], limits: DecodeLimits, what: str = "image", min_side: int = 1) -> None:
    """Raise LimitExceededError if ``size`` (width, height) exceeds ``limits.max_pixels`` or breaks the shape limits."""
    pixels = int(size[0]) * int(size[1])
    if pixels > limits.max_pixels:
        raise LimitExceededError(
            f"{what} of {size[0]}x{size[1]} pixels is too large to decode",
            limit_name="max_pixels", limit=limits.max_pixels, actual=pixels,
        )
    check_shape(size, limits, what, min_side)


def check_shape(size: tuple[float, float], limits: DecodeLimits, what: str = "image", min_side: int = 1) -> None:
    """Raise LimitExceededError for a side under ``limits.min_side`` (or ``min_side``) or a ratio of sides over
    ``limits.max_aspect_ratio``: such shapes make processors fail or resize into huge allocations."""
    short, long = sorted((size[0], size[1]))
    floor = max(limits.min_side, min_side)
    if short < floor:
        raise LimitExceededError(f"{what} of {size[0]}x{size[1]} pixels is too small", limit_name="min_side",
                                 limit=floor, actual=short)
    ratio = long / short
    if ratio > limits.max_aspect_ratio:
        raise LimitExceededError(f"{what} of {size[0]}x{size[1]} pixels is too elongated",
                                 limit_name="max_aspect_ratio", limit=limits.max_aspect_ratio, actual=round(ratio, 1))


_QUOTED = re.compile(r"""b?'[^']*'|b?"[^"]*"|<[^>]*>""")


def _reason(exc: Exception) -> str:
    """Pillow's reason, with anything it quotes (bytes, names, object reprs) left out: messages describe, never quote."""
    words = _QUOTED.sub("…", str(exc)).strip()
    words = words if len(words) <= 100 else words[:99] + "…"
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def _bomb_error(exc: Exception, limits: DecodeLimits) -> LimitExceededError:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    actual = int(match.group(1)) if match else f"more than {limits.max_pixels}"
    return LimitExceededError(
        "image header announces a decompression bomb", limit_name="max_pixels", limit=limits.max_pixels, actual=actual
    )


def _heif_formats(data: bytes) -> list[str]:
    """The formats to open HEIC (and AVIF where Pillow lacks it) with: the ``pillow-heif`` plugin, registered on first use."""
    kind = common_image_format(data[:64])
    if kind not in ("heic", "avif"):
        return []
    from PIL import features

    if kind == "avif" and features.check("avif"):
        return ["AVIF"]
    try:
        import pillow_heif
    except ImportError as exc:
        raise MissingDependencyError(f"{kind.upper()} images need an optional plugin", package="pillow-heif") from exc
    pillow_heif.register_heif_opener()
    return [name for name in ("HEIF", "AVIF") if name in Image.OPEN]


def open_image(data: bytes, limits: DecodeLimits = DEFAULT_DECODE_LIMITS, extension: str | None = None) -> Image.Image:
    """Open lazily (header only) as the format the content is, and check the pixel budget and shape before
    any pixel is decoded. ``extension`` only breaks ties between formats the content allows."""
    found = "image"
    try:
        formats, common = _heif_formats(data), (common_image_format(data[:64]) or "").upper()
        if formats:
            found, img = formats[0], Image.open(io.BytesIO(data), formats=formats)
        elif (opened := open_by_content(data, extension, likely=common)) is not None:
            found, img = opened
        elif common:  # a known signature Pillow cannot read: say why
            found, img = common, open_as(data, common)
        else:
            raise DecodeError(f"not an image Pillow reads ({len(data)} bytes of an unrecognised format)")
    except UnreadableImage as exc:
        found, cause = exc.fmt, exc.__cause__
        if isinstance(cause, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            raise _bomb_error(cause, limits) from cause
        raise DecodeError(f"not a readable {found} image: {_reason(cause)}") from cause
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, limits) from exc
    except MultimodalInputError:
        raise
    except Exception as exc:
        raise DecodeError(f"not a readable {found} image: {_reason(exc)}") from exc
    check_pixels(img.size, limits)
    return img


def apply_jpeg_draft(img: Image.Image, target_size: tuple[int, int] = DEFAULT_DRAFT_SIZE) -> Image.Image:
    """Let Pillow decode a not-yet-loaded JPEG at 1/2, 1/4 or 1/8 scale, never below ``target_size``."""
    if img.format == "JPEG" and getattr(img, "tile", None):  # tile is emptied once the pixels are loaded
        img.draft("RGB", (int(target_size[0]), int(target_size[1])))
    return img


def _frame_index(img: Image.Image, wanted: int) -> int:
    """The frame number of the ``wanted``-th frame (negative: from the end). Most formats number frames
    from 0; PSD numbers its layers from 1 and shows the merged picture as the first frame."""
    first = int(getattr(img, "_min_frame", 0) or 0)
    if wanted == 0:
        return first  # without counting frames (a PSD parses every layer header to count them)
    count = max(int(getattr(img, "n_frames", 1) or 1), 1)
    return first + (min(wanted, count - 1) if wanted >= 0 else max(count + wanted, 0))


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
        raise DecodeError(f"image data is corrupt or truncated: {_reason(exc)}") from exc


class ImageDecoder:
    """Any image Pillow reads (HEIC with ``pillow-heif``)."""

    modality = "image"
    mime_prefixes = ("image/",)
    extensions = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ico",
                  ".heic", ".heif", ".avif", ".ppm", ".pgm", ".pbm", ".tga", ".jp2")

    def accept(self, prefix: bytes) -> bool:
        """The common formats only: the other Pillow formats are tried after the audio and video signatures."""
        return common_image_format(prefix) is not None

    def decode(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str]:
        img = open_image(fetched.data, ctx.limits, extension_of(fetched))
        draft = None
        if ctx.limits.draft_jpeg:
            draft = tuple(ctx.extras.get("image_target_size") or DEFAULT_DRAFT_SIZE)
        out = normalize_image(img, ctx.limits, draft_size=draft)
        return out, out.size, (img.format or "image").lower()

    def decode_tensor(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str] | None:
        """The same pixels as ``decode``, as a ``(3, H, W)`` uint8 tensor, for plain JPEGs; else None."""
        out = decode_jpeg_tensor(fetched.data, ctx.limits)
        return None if out is None else (out[0], out[1], "jpeg")
