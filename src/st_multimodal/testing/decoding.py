"""Bytes through the production decode path, for tests: what ``encode`` does with fetched bytes.

``resolve_fetched`` sniffs the bytes and defers the decode; ``materialize_located(prefer_tensor=True)``
runs it the way the inference loop does (plain JPEGs straight to a ``(3, H, W)`` uint8 tensor, everything
else through Pillow/PyAV), turning any failure into a typed, located error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..resolvers import materialize_located
from ..resolvers.base import _located
from ..resolvers.builtin import resolve_fetched
from ..types import FetchedBytes, Resolved, ResolveContext

__all__ = ["decode_bytes", "image_pixels"]


def decode_bytes(data: bytes, ctx: ResolveContext | None = None, *, source: str = "test", mime: str | None = None,
                 name: str | None = None, index: int | None = None) -> Resolved:
    """Decode ``data`` exactly as an input fetched from ``source`` is decoded during ``encode``."""
    ctx = ctx or ResolveContext()
    fetched = FetchedBytes(data, source, mime=mime, name=name)
    resolved = _located(lambda: resolve_fetched(fetched, ctx), index, source, "resolver 'bytes'")  # as in resolve()
    return materialize_located(resolved, index, source, prefer_tensor=True)


def image_pixels(value: Any) -> np.ndarray:
    """An ``(H, W, 3)`` int16 array of a decoded image, whichever form the decode took (PIL or CHW tensor)."""
    if hasattr(value, "getpixel"):
        return np.asarray(value, dtype=np.int16)
    return np.asarray(value.permute(1, 2, 0).numpy(), dtype=np.int16)
