"""How resolved values are handed to upstream Sentence Transformers."""

from __future__ import annotations

from typing import Any

__all__ = ["upstream_value"]


def upstream_value(modality: str | tuple[str, ...], value: Any) -> Any:
    """The value in the form upstream's ``preprocess`` receives it.

    Text goes as ``{"text": s}`` (which upstream preprocesses exactly like ``s``, prompts included):
    as a bare string, upstream would read a URL- or path-like text as an image, video or audio
    location and fetch or open it itself, outside the fetch policy.
    """
    return {"text": value} if modality == "text" else value
