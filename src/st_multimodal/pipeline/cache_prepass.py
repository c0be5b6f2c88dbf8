"""Answering from the embedding cache before the pipeline starts, without reading unchanged local files.

A local file whose signature (device, inode, size, mtime, ctime) is the one remembered when it was last
read has the content hash remembered with it, so its cache key is known without opening it. Everything
else (new or changed files, URLs, bytes, text) goes through the pipeline, which reads and hashes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..resolvers.local import local_file_signature
from ..sources.file import FileSignature
from ..types import ResolveContext
from .cache import EmbeddingCache

__all__ = ["CachePrepass", "answer_from_cache"]


@dataclass
class CachePrepass:
    hits: dict[int, np.ndarray] = field(default_factory=dict)
    """Vectors found for these input positions."""
    rest: list[tuple[int, Any]] = field(default_factory=list)
    """``(position, input)`` for everything the pipeline still has to compute."""
    signatures: dict[int, FileSignature] = field(default_factory=dict)
    """Local files among ``rest``: remember their content hash once read (``EmbeddingCache.remember_files``)."""


def answer_from_cache(inputs: Sequence[Any], ctx: ResolveContext, cache: EmbeddingCache,
                      key_of: Callable[[str, str], str]) -> CachePrepass:
    """Split ``inputs`` into cache hits (found by file signature) and the rest; ``key_of(content_hash, modality)``."""
    signatures: dict[int, FileSignature] = {}
    for index, raw in enumerate(inputs):
        signature = local_file_signature(raw, ctx)
        if signature is not None:
            signatures[index] = signature
    contents = cache.file_contents(list(signatures.values())) if signatures else {}
    keys = {index: key_of(*contents[sig.path]) for index, sig in signatures.items() if sig.path in contents}
    vectors = cache.get_many(list(set(keys.values()))) if keys else {}
    hits = {index: vectors[key] for index, key in keys.items() if key in vectors}
    return CachePrepass(
        hits=hits,
        rest=[(index, raw) for index, raw in enumerate(inputs) if index not in hits],
        signatures={index: sig for index, sig in signatures.items() if index not in hits},
    )
