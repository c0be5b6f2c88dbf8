"""Which Pillow format some bytes are: decided by content, the same way whatever user code loaded before.

Pillow registers its plugins lazily and tries them in registration order, so what ``Image.open``
returns can depend on what ran earlier in the process (after ``Image.open("x.tga")`` the TGA plugin,
which has no magic number, is tried before ICO and claims ICO files). Here every Pillow plugin is
imported once, when this module loads, and the formats are tried in one fixed order:

1. formats whose plugin recognises the first 16 bytes (its ``accept``), in alphabetical order, each
   confirmed by parsing its header;
2. formats without a magic number (TGA, IM, IPTC, ...), accepted when their header parses.

A file extension only breaks ties: a format it names is tried first within each step. Images are then
opened with ``Image.open(..., formats=[found])``, so Pillow's own plugin order never matters.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable

from PIL import Image

__all__ = ["pillow_format", "open_by_content", "open_as", "UnreadableImage", "PILLOW_FORMATS"]

_PREFIX_BYTES = 16
"""What ``Image.open`` shows a plugin's ``accept``."""
_NOT_THIS_FORMAT = (SyntaxError, IndexError, TypeError, struct.error)
"""What a plugin raises for a header that is not its format (``Image.open`` then tries the next one)."""


def _pillow_plugins() -> tuple[tuple[tuple[str, Callable[[bytes], object]], ...], tuple[str, ...]]:
    Image.init()  # every plugin Pillow ships, imported now rather than on first use
    own = {name: accept for name, (factory, accept) in Image.OPEN.items() if factory.__module__.startswith("PIL.")}
    accepting = tuple((name, own[name]) for name in sorted(own) if own[name] is not None)
    parse_only = tuple(name for name in sorted(own) if own[name] is None)
    return accepting, parse_only


_ACCEPTING, _PARSE_ONLY = _pillow_plugins()
PILLOW_FORMATS: tuple[str, ...] = tuple(sorted([name for name, _ in _ACCEPTING] + list(_PARSE_ONLY)))
"""Every format Pillow's own plugins open, in the order they are tried."""
_ACCEPT_OF = dict(_ACCEPTING)
_EXTENSIONS = {ext: fmt for ext, fmt in Image.registered_extensions().items() if fmt in PILLOW_FORMATS}


def _accepts(accept: Callable[[bytes], object], prefix: bytes) -> bool:
    try:
        return accept(prefix) is True  # a string is Pillow's "looks like it, but unsupported"
    except Exception:  # noqa: BLE001 - a plugin's accept on odd bytes
        return False


def _printable(prefix: bytes) -> bool:
    return all(32 <= b < 127 or b in (9, 10, 13) for b in prefix)


def open_as(data: bytes, fmt: str) -> Image.Image:
    """``Image.open`` restricted to one format (the header only; no pixel is decoded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(data), formats=[fmt])


class UnreadableImage(Exception):
    """The content is recognised as ``fmt`` (by its magic number) but its header does not parse; the
    plugin's own error is the ``__cause__``."""

    def __init__(self, fmt: str):
        super().__init__(fmt)
        self.fmt = fmt


def _open_if(data: bytes, fmt: str, recognised: bool) -> Image.Image | None:
    """The image, if ``fmt``'s plugin reads this header, else None. As in ``Image.open``, a plugin that
    recognised the magic number keeps a file whose header fails otherwise than by ``_NOT_THIS_FORMAT``
    (raised as UnreadableImage); a format without a magic number must parse cleanly."""
    try:
        return open_as(data, fmt)
    except (Image.UnidentifiedImageError, *_NOT_THIS_FORMAT):
        return None
    except Exception as exc:  # noqa: BLE001 - a plugin failing in its own way (a bomb error included)
        if recognised:
            raise UnreadableImage(fmt) from exc
        return None


def open_by_content(data: bytes, extension: str | None = None, likely: str | None = None) -> tuple[str, Image.Image] | None:
    """``(format, image opened on its header)`` for the Pillow format these bytes are, or None.

    ``extension`` (``".tga"``) only orders candidates that the content allows; ``likely`` (a common
    format the caller recognised by its signature, which no other plugin shares) is tried first.
    Raises UnreadableImage for content a plugin recognises by its magic number but cannot read.
    """
    prefix = bytes(data[:_PREFIX_BYTES])
    binary = not _printable(prefix)  # a text header (plain PPM, XPM, FITS, ...) must parse cleanly
    if likely in _ACCEPT_OF and _accepts(_ACCEPT_OF[likely], prefix):
        if (image := _open_if(data, likely, recognised=binary)) is not None:
            return likely, image
    preferred = _EXTENSIONS.get((extension or "").lower())
    accepted = [name for name, accept in _ACCEPTING if _accepts(accept, prefix)]
    for name in sorted(accepted, key=lambda n: n != preferred):
        if (image := _open_if(data, name, recognised=binary)) is not None:
            return name, image
    for name in sorted(_PARSE_ONLY, key=lambda n: n != preferred):
        if (image := _open_if(data, name, recognised=False)) is not None:
            return name, image
    return None


def pillow_format(data: bytes, extension: str | None = None) -> str | None:
    """The Pillow format these bytes are (``"PNG"``, ``"DDS"``, ``"TGA"``, ...), or None (see ``open_by_content``)."""
    try:
        found = open_by_content(data, extension)
    except UnreadableImage as exc:
        return exc.fmt
    if found is None:
        return None
    found[1].close()
    return found[0]
