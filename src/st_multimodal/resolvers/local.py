"""Which inputs the built-in resolvers would read as a local file, decided without reading anything."""

from __future__ import annotations

import os
from typing import Any

from ..sources.base import SOURCES, scheme_of
from ..sources.file import FileSignature, FileSource
from ..types import ResolveContext
from .base import RESOLVERS
from .strings import is_location

__all__ = ["local_file_signature"]

_AHEAD_OF_FILES = ("resolved", "typed", "text", "pil", "array", "bytes", "path", "location")
"""The built-in resolvers that see a string or path before it is read as a file, in their order."""


def local_file_signature(value: Any, ctx: ResolveContext) -> FileSignature | None:
    """The signature of the local file ``value`` names, if the registered resolvers and sources are the
    built-in ones that would read it as that file; None for anything else (or when unsure)."""
    if isinstance(value, os.PathLike):
        location: str | os.PathLike = value
    elif isinstance(value, str) and not value.startswith("data:") and scheme_of(value) in (None, "file"):
        if not is_location(value, strict=ctx.strict):
            return None
        location = value
    else:
        return None
    if tuple(RESOLVERS.names()[: len(_AHEAD_OF_FILES)]) != _AHEAD_OF_FILES or "file" not in SOURCES:
        return None  # a plugin resolver or file source could read it differently
    source = SOURCES.get("file")
    return source.signature(location, ctx) if type(source) is FileSource else None
