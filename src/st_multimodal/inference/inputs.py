"""Helpers about the inputs of one call: their container, their kind, and per-item outputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modality_types import MULTIMODAL_DICT_KEYS

from ..resolvers import ExpandedInputs
from ..sources.base import scheme_of
from ..types import Failure

__all__ = ["ItemInfo", "at_input_positions", "audio_settings", "image_target_size", "is_remote_input",
           "is_singular_like", "legacy_task", "materialize_inputs", "per_item_outputs"]


class ItemInfo:
    """What travels with each batched item: its source (for located errors) and its embedding-cache key."""

    __slots__ = ("source", "cache_key")

    def __init__(self, source: str, cache_key: str | None):
        self.source = source
        self.cache_key = cache_key


def per_item_outputs(out: dict, n: int) -> list[dict]:
    """One forward pass's outputs split per item: batch-first tensors are indexed, other values shared."""
    return [{k: (v[i] if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == n else v) for k, v in out.items()}
            for i in range(n)]


def at_input_positions(expanded: ExpandedInputs, failures: list[Failure]) -> list[Failure]:
    """Failures of an expanded call moved to the caller's positions (with their page), plus the documents that
    could not be expanded, ordered by position."""
    moved = [f.renumbered(expanded.origins[f.index], expanded.pages[f.index]) for f in failures]
    return sorted([*expanded.failures, *moved], key=lambda f: (f.index, f.page or 0))


def legacy_task(raw: Any, routed: bool) -> str | None:
    """The task of a legacy task-keyed input (``{"query": text}``) for a ``Router`` model (``routed``), else None.

    Upstream's ``Router`` still accepts one-key dicts whose key is a task rather than a modality.
    """
    if not routed or not isinstance(raw, dict) or len(raw) != 1:
        return None
    (key,) = raw
    if not isinstance(key, str) or key in MULTIMODAL_DICT_KEYS or key in ("role", "content", "array"):
        return None
    return key


def is_remote_input(raw: Any, _depth: int = 0) -> bool:
    """Inputs fetched over the network (http(s) and fsspec URLs), also inside pairs, typed wrappers and dicts."""
    if isinstance(raw, str):
        scheme = scheme_of(raw) if "://" in raw[:16] else None
        return scheme is not None and scheme != "file"
    if isinstance(raw, (tuple, list)):  # a pair, or a pair side that is a message list: two levels at most
        return _depth < 2 and any(is_remote_input(part, _depth + 1) for part in raw[:2])
    if isinstance(raw, dict):
        return any(is_remote_input(part) for part in raw.values() if isinstance(part, str))
    inner = getattr(raw, "value", None)
    return isinstance(inner, str) and is_remote_input(inner)


def audio_settings(processor: Any) -> tuple[int | None, float | None]:
    """(sampling rate, window in seconds) of the model's audio feature extractor, if it has one."""
    extractor = getattr(processor, "feature_extractor", None) or processor
    rate = getattr(extractor, "sampling_rate", None)
    if not isinstance(rate, int):
        return None, None
    max_samples = getattr(extractor, "nb_max_samples", None)
    return rate, (max_samples / rate if isinstance(max_samples, int) and max_samples > 0 else None)


def image_target_size(processor: Any) -> tuple[int, int] | None:
    """The smallest (width, height) the model's image processor needs, for draft-mode JPEG decoding."""
    image_processor = getattr(processor, "image_processor", None)
    for name in ("crop_size", "size"):
        size = getattr(image_processor, name, None)
        if size is None:
            continue
        get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
        if get("longest_edge") or get("max_pixels"):
            return None  # resolution-preserving processors (Qwen-VL): no safe downscale
        side = get("shortest_edge") or min(get("height") or 0, get("width") or 0)
        if side:
            return int(side), int(side)
    return None


def materialize_inputs(inputs: Any, is_singular: Callable[[Any], bool]) -> Any:
    """Turn generators and other one-shot iterables into lists, and arrays of strings into (nested) lists as
    upstream does (a 2-D array of text pairs becomes a list of pairs); leave single inputs and lists alone."""
    if isinstance(inputs, np.ndarray) and inputs.ndim >= 1 and inputs.dtype.kind in ("U", "O"):
        return inputs.tolist()
    if isinstance(inputs, (list, tuple, str, bytes, bytearray, dict)) or is_singular_like(inputs):
        return inputs
    if isinstance(inputs, Iterator) or (isinstance(inputs, Iterable) and not is_singular(inputs)):
        return list(inputs)
    return inputs


def is_singular_like(value: Any) -> bool:
    """Values that are one input even though Python can iterate them (arrays, images, paths, file objects)."""
    return (
        hasattr(value, "shape")
        or isinstance(value, os.PathLike)
        or hasattr(value, "read")
        or type(value).__module__.startswith("PIL")
    )
