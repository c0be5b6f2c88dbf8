"""How resolved values are handed to upstream Sentence Transformers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["upstream_value"]


def upstream_value(modality: str | tuple[str, ...], value: Any) -> Any:
    """The value in the form upstream's ``preprocess`` receives it.

    - Text goes as ``{"text": s}`` (which upstream preprocesses exactly like ``s``, prompts included):
      as a bare string, upstream would read a URL- or path-like text as an image, video or audio
      location and fetch or open it itself, outside the fetch policy.
    - An image goes as a ``(3, H, W)`` uint8 tensor of the same RGB pixels: processors give identical
      features for it (checked for CLIP, SigLIP and Qwen3-VL in the tests) and skip their own
      PIL-to-array conversion, which cost about as much as the resize itself.
    """
    if modality == "text":
        return {"text": value}
    if modality == "image" and hasattr(value, "getbands") and value.mode == "RGB":
        return torch.from_numpy(np.array(value)).permute(2, 0, 1)
    return value
