"""Encoding one column's batch with per-row results: what the datasets and Ray adapters share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["encode_values", "error_text", "plain_value", "embedding_dimension", "MODALITIES"]

MODALITIES = ("text", "image", "audio", "video")
MISSING = "UnsupportedInputError: the value is missing (None)"


def plain_value(value: Any) -> Any:
    """NumPy scalars (``np.str_``, ``np.bytes_``) as Python ``str`` / ``bytes``; everything else unchanged."""
    if isinstance(value, np.generic) and isinstance(value.item(), (str, bytes)):
        return value.item()
    return value


def embedding_dimension(model: Any) -> int | None:
    """The model's embedding size (upstream renamed the method in 6.x; both names are tried)."""
    method = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension")
    return method()


def _typed(value: Any, modality: str | None) -> Any:
    if modality is None or value is None:
        return value
    from ..resolvers import as_audio, as_image, as_text, as_video

    if modality == "text":
        return as_text(value) if isinstance(value, str) else value
    return {"image": as_image, "audio": as_audio, "video": as_video}[modality](value)


def error_text(error: BaseException) -> str:
    """``"DecodeError: <reason> (source: '<source>')"``: the error without its position in the batch."""
    reason = getattr(error, "reason", None) or str(error)
    source = getattr(error, "source", None)
    return f"{type(error).__name__}: {reason}" + (f" (source: {source!r})" if source else "")


def encode_values(
    model: Any,
    values: Sequence[Any],
    *,
    on_error: str = "skip",
    batch_size: int = 32,
    modality: str | None = None,
    **encode_kwargs: Any,
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """One embedding (float32) or None per value, and one error string or None per value, aligned.

    ``modality`` states what every value is (``as_image`` etc.), for values the string rules would
    misread. With ``on_error="raise"`` the first failure raises and no error is ever returned.
    """
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES} or None, got {modality!r}")
    values = [plain_value(v) for v in values]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing and on_error == "raise":
        from ..errors import UnsupportedInputError

        raise UnsupportedInputError("the value is missing (None)", index=missing[0])
    errors: list[str | None] = [MISSING if v is None else None for v in values]
    for i in _documents(model, values, modality):
        if on_error == "raise":
            raise _document_error(i, values[i])
        errors[i] = error_text(_document_error(i, values[i]))
    present = [i for i, v in enumerate(values) if v is not None and errors[i] is None]
    out: list[np.ndarray | None] = [None] * len(values)
    if not present:
        return out, errors
    embeddings, failures = model.encode(
        [_typed(values[i], modality) for i in present], on_error=on_error, return_failures=True,
        convert_to_numpy=True, batch_size=batch_size, show_progress_bar=False, **encode_kwargs,
    )
    failed = {f.index: f for f in failures}
    rows = iter(np.asarray(embeddings, dtype=np.float32))
    for position, index in enumerate(present):
        if position in failed:
            errors[index] = error_text(failed[position].error)
        else:
            out[index] = next(rows)
    return out, errors


def _documents(model: Any, values: Sequence[Any], modality: str | None) -> list[int]:
    """Positions of PDF inputs: each would give one row per page, which a column of one embedding per row cannot hold."""
    if modality is not None or not hasattr(model, "resolve_context"):
        return []
    from ..resolvers.expansion import document_of

    ctx = model.resolve_context()
    return [i for i, v in enumerate(values) if v is not None and document_of(v, ctx) is not None]


def _document_error(index: int, value: Any) -> Exception:
    from ..errors import UnsupportedInputError, describe_source

    return UnsupportedInputError("a PDF gives one embedding per page, and this column holds one per row: expand it "
                                 "first (st_multimodal.expand_documents) and map over the pages", index=index,
                                 source=describe_source(value))
