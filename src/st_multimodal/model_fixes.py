"""Preprocessing settings some model families need so that an input embeds the same in any batch.

Upstream pads text to the longest item of each batch. Models trained on fixed-length padding and
pooled at a fixed position (SigLIP pools the last position) then embed a text differently depending
on which other texts share its batch. For them, text is padded to the tokenizer's fixed length.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_model_fixes", "FIXED_LENGTH_TEXT_MODELS"]

FIXED_LENGTH_TEXT_MODELS = frozenset({"siglip", "siglip2"})


def apply_model_fixes(model: Any) -> list[str]:
    """Apply the fixes that fit ``model``'s first module; return the names of those applied."""
    applied = []
    module = model[0] if len(model) else None
    config = getattr(module, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type in FIXED_LENGTH_TEXT_MODELS and _fix_text_padding(module, config):
        applied.append("fixed-length-text-padding")
    return applied


def _fix_text_padding(module: Any, config: Any) -> bool:
    kwargs = getattr(module, "processing_kwargs", None)
    if kwargs is None or "padding" in kwargs.get("text", {}):
        return False  # the user chose; keep it
    text_config = getattr(config, "text_config", config)
    max_length = getattr(text_config, "max_position_embeddings", None)
    if not isinstance(max_length, int):
        return False
    kwargs.setdefault("text", {}).update({"padding": "max_length", "max_length": max_length, "truncation": True})
    return True
