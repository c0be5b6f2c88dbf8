"""Deciding whether an untyped string is text or a location (path, URL, data URI).

The rules, in order (documented in docs/input-forms.md):

1. In strict mode every string is text.
2. ``data:<type>/<subtype>[;...],`` URIs are locations, whatever their length (their size is bounded by
   ``FetchPolicy.max_bytes`` when they are decoded).
3. Multi-line strings and strings over 4096 characters are text.
4. ``http(s)://``, ``file://`` and other registered ``scheme://`` strings without whitespace are locations;
   so are short ``data:,...`` URIs without a type.
5. Windows drive paths (``C:\\...``) and strings starting with ``/``, ``./``, ``../``, ``~/`` are locations
   when they exist, have no whitespace, or end in a media extension.
6. Strings ending in a media extension (or ``.pdf``) are locations when they exist, contain a path separator or no whitespace.
7. Existing files named with a separator or an extension are locations.
8. Everything else is text. A location that does not exist is an error, never silently text.
"""

from __future__ import annotations

import os
import re

from ..sources.base import SOURCES, scheme_of

__all__ = ["is_location", "MEDIA_EXTENSIONS", "DOCUMENT_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico", ".ppm", ".pgm", ".avif", ".heic")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpeg", ".mpg", ".wmv", ".flv", ".3gp")
DOCUMENT_EXTENSIONS = (".pdf",)
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + AUDIO_EXTENSIONS + VIDEO_EXTENSIONS
_LOCATION_EXTENSIONS = MEDIA_EXTENSIONS + DOCUMENT_EXTENSIONS

_MAX_LOCATION_CHARS = 4096
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w.+-]+(=[\w.+-]+)?)*,", re.IGNORECASE)
_DRIVE_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_PATH_PREFIXES = ("/", "./", "../", "~/", "~\\", ".\\", "..\\", "\\\\")


def _has_whitespace(text: str) -> bool:
    return any(c.isspace() for c in text)


def _exists(text: str) -> bool:
    try:
        return os.path.exists(os.path.expanduser(text))
    except (OSError, ValueError):
        return False


def _has_media_extension(text: str) -> bool:
    return text.lower().rstrip().endswith(_LOCATION_EXTENSIONS)


def is_location(text: str, *, strict: bool = False) -> bool:
    """True if the untyped string ``text`` names a location rather than being text (see module docstring)."""
    if strict:
        return False
    if text.startswith("data:"):
        typed = _DATA_URI.match(text)
        if typed and typed.group(1):
            return True  # a typed data: URI, however long
    if "\n" in text or len(text) > _MAX_LOCATION_CHARS or not text.strip():
        return False
    if text.startswith("data:"):
        return bool(_DATA_URI.match(text))
    scheme = scheme_of(text)
    if scheme is not None and "://" in text:
        return not _has_whitespace(text) and (scheme in ("http", "https", "file") or scheme in SOURCES)
    has_separator = "/" in text or "\\" in text
    if _DRIVE_PATH.match(text) or text.startswith(_PATH_PREFIXES):
        return _exists(text) or not _has_whitespace(text) or _has_media_extension(text)
    if _has_media_extension(text):
        return _exists(text) or has_separator or not _has_whitespace(text)
    _, ext = os.path.splitext(text)
    return (has_separator or bool(ext)) and _exists(text) and os.path.isfile(os.path.expanduser(text))
