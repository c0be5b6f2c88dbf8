"""Resolvers: a Python value to a Resolved input. Built-ins are registered here, in the order they are tried."""

from __future__ import annotations

from .base import ENTRY_POINT_GROUP, RESOLVERS, Resolver, load_entry_point_resolvers, materialize_located, register_resolver, resolve
from .builtin import (
    ArrayResolver,
    BytesResolver,
    LocationResolver,
    PathResolver,
    PILResolver,
    ResolvedResolver,
    TextResolver,
    resolve_fetched,
)
from .documents import DocumentPage, DocumentResolver
from .expansion import ExpandedInputs, expand_documents
from .structured import DictResolver, MessageResolver, TorchcodecResolver, TypedResolver
from .typed import TypedInput, as_audio, as_document, as_image, as_text, as_video

__all__ = [
    "ENTRY_POINT_GROUP",
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
    "as_document",
    "DocumentPage",
    "ExpandedInputs",
    "expand_documents",
]

BUILTIN_RESOLVERS = (
    ("resolved", ResolvedResolver()),
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
    ("document", DocumentResolver()),
)

for _name, _resolver in BUILTIN_RESOLVERS:
    RESOLVERS.register(_name, _resolver)
