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

__all__ = ["upstream_text", "upstream_value", "upstream_pair", "upstream_pair_batch"]


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


def upstream_pair_batch(pairs: Sequence[Any]) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """A batch of :func:`upstream_pair` forms as upstream's pair path takes them, and the processor kwargs
    (``processing_kwargs`` form) that go with it.

    Upstream turns a pair into query/document messages with each side as it is: unlike a single input,
    a side is not unwrapped from its ``{"array", ...}`` dict, which the processor cannot read (a video
    dict fails in ``make_batched_videos``, an audio dict in ``load_audio``). So a video side goes as its
    frames and its metadata as the batch's ``video_metadata``, one entry per video in the order the
    processor meets them (pair by pair, query before document), completed as upstream's ``parse_inputs``
    completes it for single videos; an audio side goes as its samples, already at the model's rate.
    """
    videos: list[tuple[Any, dict[str, Any] | None]] = []
    batch = [_pair_sides(pair, videos) if isinstance(pair, tuple) else pair for pair in pairs]
    if all(entry is None for _, entry in videos):
        return batch, {}  # the processor infers every video's metadata itself
    metadata = [dict(entry) if entry is not None else _default_metadata(len(frames)) for frames, entry in videos]
    return batch, {"video": {"video_metadata": metadata}}


def _pair_sides(pair: tuple, videos: list[tuple[Any, dict[str, Any] | None]]) -> tuple:
    return tuple(_side(side, videos) for side in pair)


def _side(side: Any, videos: list[tuple[Any, dict[str, Any] | None]]) -> Any:
    if _is_wrapped(side, "video_metadata"):
        return _video_frames(side, videos)
    if _is_wrapped(side, "sampling_rate"):
        return side["array"]
    if isinstance(side, dict) and "array" not in side and ("video" in side or "audio" in side):  # multimodal dict
        return {key: _side(value, videos) if key in ("video", "audio") else value for key, value in side.items()}
    return side


def _is_wrapped(side: Any, key: str) -> bool:
    return isinstance(side, dict) and "array" in side and key in side


def _video_frames(video: dict[str, Any], videos: list[tuple[Any, dict[str, Any] | None]]) -> Any:
    """The frames of a ``{"array", "video_metadata"}`` video, recorded with its metadata in ``videos``."""
    videos.append((video["array"], video.get("video_metadata")))
    return video["array"]


def _default_metadata(count: int) -> dict[str, Any]:
    """The metadata upstream gives in-memory frames without any, in a batch where other videos carry some."""
    return {"total_num_frames": count, "fps": None, "duration": None, "frames_indices": list(range(count))}
