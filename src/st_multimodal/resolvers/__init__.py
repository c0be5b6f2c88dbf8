"""Resolvers: a Python value to a Resolved input. Built-ins are registered here, in the order they are tried."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from .base import ENTRY_POINT_GROUP, RESOLVERS, Resolver, materialize_located, register_resolver, resolve
from .builtin import (
    ArrayResolver,
    BytesResolver,
    LocationResolver,
    PathResolver,
    PILResolver,
    TextResolver,
    resolve_fetched,
)
from .structured import DictResolver, MessageResolver, TorchcodecResolver, TypedResolver
from .typed import TypedInput, as_audio, as_image, as_text, as_video

__all__ = [
    "RESOLVERS",
    "Resolver",
    "register_resolver",
    "resolve",
    "materialize_located",
    "resolve_fetched",
    "load_entry_point_resolvers",
    "TypedInput",
    "as_text",
    "as_image",
    "as_audio",
    "as_video",
]

logger = logging.getLogger(__name__)

BUILTIN_RESOLVERS = (
    ("typed", TypedResolver()),
    ("text", TextResolver()),
    ("pil", PILResolver()),
    ("array", ArrayResolver()),
    ("bytes", BytesResolver()),
    ("path", PathResolver()),
    ("location", LocationResolver()),
    ("dict", DictResolver()),
    ("message", MessageResolver()),
    ("torchcodec", TorchcodecResolver()),
)

for _name, _resolver in BUILTIN_RESOLVERS:
    RESOLVERS.register(_name, _resolver)

_loaded_entry_points = False


def load_entry_point_resolvers() -> list[str]:
    """Register third-party resolvers from the ``st_multimodal.resolvers`` entry-point group (once).

    Each entry point's name is the resolver name; it goes before the built-ins. A clash with a
    registered name is logged and skipped, never overwritten.
    """
    global _loaded_entry_points
    if _loaded_entry_points:
        return []
    _loaded_entry_points = True
    added = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in RESOLVERS:
            logger.warning("resolver entry point %r clashes with a registered resolver; skipped", ep.name)
            continue
        register_resolver(ep.name, ep.value)
        added.append(ep.name)
    return added
