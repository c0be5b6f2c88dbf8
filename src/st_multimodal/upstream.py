"""How resolved values are handed to upstream Sentence Transformers.

Text reaches upstream as the ``str`` it was, as upstream itself would pass it, except where upstream
would read that string as a location and fetch or open it on its own: a URL- or path-like text given
to a model that supports the modality the string seems to name (upstream's ``infer_modality``).
Only then does the text go as ``{"text": s}``, which upstream preprocesses exactly like ``s``
(prompts included) but never fetches. Text-only modules (``StaticEmbedding``, routes of a ``Router``
built on them) therefore always receive plain strings.
"""

from __future__ import annotations


from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modality import infer_modality

__all__ = ["upstream_text", "upstream_value", "upstream_pair"]


def upstream_text(text: str, supported: Sequence[Any] | None = None) -> str | dict[str, str]:
    """``text`` as upstream must receive it to read it as text: the bare string unless upstream would take it
    for a location of a modality in ``supported`` (None: any modality, upstream's own default)."""
    try:
        as_text = infer_modality(text, supported_modalities=list(supported) if supported is not None else None) == "text"
    except (ValueError, TypeError):
        as_text = False
    return text if as_text else {"text": text}


def upstream_value(modality: str | tuple[str, ...], value: Any, supported: Sequence[Any] | None = None) -> Any:
    """The value in the form upstream's ``preprocess`` receives it.

    - Text: see :func:`upstream_text` (``supported`` is the model's ``modalities``).
    - An image goes as a ``(3, H, W)`` uint8 tensor of the same RGB pixels: processors give identical
      features for it (checked for CLIP, SigLIP and Qwen3-VL in the tests) and skip their own
      PIL-to-array conversion, which cost about as much as the resize itself.
    - A video's ``(T, H, W, 3)`` frames go as a contiguous ``(T, 3, H, W)`` uint8 tensor (the layout
      torchcodec gives upstream): the copy to channels-first is made here, on a decode worker, instead of
      in the video processor (identical features, checked in the tests).
    """
    if modality == "text":
        return upstream_text(value, supported)
    if modality == "image" and hasattr(value, "getbands") and value.mode == "RGB":
        return torch.from_numpy(np.array(value)).permute(2, 0, 1)
    if modality == "video" and isinstance(value, dict) and isinstance(value.get("array"), np.ndarray):
        frames = value["array"]
        if frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8:
            return {**value, "array": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()}
    return value


def upstream_pair(raw: Any, modalities: tuple[Any, Any], values: tuple[Any, Any], supported: Sequence[Any] | None) -> Any:
    """A (query, document) pair as upstream receives it.

    Two texts go as the pair of strings, in the caller's container (tuple or list), as upstream receives
    them: a text-only model's tokenizer reads them as a text pair. A model that takes chat messages turns
    each side into a message and reads a side that looks like a location as media (upstream's
    ``pair_to_messages`` asks ``infer_modality`` without the model's modalities), so there such a side
    goes as ``{"text": s}``. Other pairs go as a tuple of :func:`upstream_value` forms, under the same rule.
    """
    if modalities == ("text", "text"):
        if supported is not None and "message" not in supported:
            return type(raw)(values) if isinstance(raw, (tuple, list)) else tuple(values)
        sides = tuple(upstream_text(v) for v in values)
        if all(isinstance(side, str) for side in sides):
            return type(raw)(sides) if isinstance(raw, (tuple, list)) else sides
        return sides
    return tuple(upstream_value(m, v) for m, v in zip(modalities, values))
