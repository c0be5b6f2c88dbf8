"""Explicit typing for when guessing is wrong: ``as_text``, ``as_image``, ``as_audio``, ``as_video``, ``as_document``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pages import PageSelection, parse_pages

__all__ = ["TypedInput", "as_text", "as_image", "as_audio", "as_video", "as_document"]


@dataclass(frozen=True)
class TypedInput:
    """A value whose modality the caller has stated; resolvers never second-guess it."""

    modality: str
    value: Any
    options: dict[str, Any] = field(default_factory=dict)


def as_text(value: str) -> TypedInput:
    """Treat ``value`` as text even if it looks like a URL or a path."""
    if not isinstance(value, str):
        raise TypeError(f"as_text() takes a str, got {type(value).__name__}")
    return TypedInput("text", value)


def as_image(value: Any, *, layout: str | None = None) -> TypedInput:
    """Treat ``value`` as an image: a location, bytes, PIL image or array (``layout`` "HWC"/"CHW"/"HW")."""
    return TypedInput("image", value, {"layout": layout})


def as_audio(value: Any, sampling_rate: int | None = None) -> TypedInput:
    """Treat ``value`` as audio; arrays need their ``sampling_rate``."""
    return TypedInput("audio", value, {"sampling_rate": sampling_rate})


def as_video(value: Any, *, fps: float | None = None) -> TypedInput:
    """Treat ``value`` as a video: a location, bytes, a (T, H, W, C) array or a list of frames (at ``fps``)."""
    return TypedInput("video", value, {"fps": fps})


def as_document(value: Any, *, pages: PageSelection = None) -> TypedInput:
    """Treat ``value`` as a PDF document (a path, URL, data URI or bytes) that expands into one input per page.

    ``pages`` selects pages, numbered from 1: ``3``, ``[1, 3]``, ``range(1, 5)`` or ``"1-3,5,8-"``
    (None: every page). Pages come in document order, each once.
    """
    return TypedInput("document", value, {"pages": parse_pages(pages)})
