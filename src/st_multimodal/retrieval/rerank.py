"""Retrieve-then-rerank: score the top candidates of a search with a CrossEncoder, reusing decoded media.

The query and the candidates arrive as :class:`~st_multimodal.types.Resolved` values that the index
already fetched and decoded; they go to ``CrossEncoder.predict`` as they are (or as their decoded
values when the reranker decodes under other settings, e.g. another audio sampling rate), so the
reranker never fetches or decodes them again. Only the given candidates are reordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..types import Resolved, ResolveContext
from .inputs import as_model_input

__all__ = ["rerank_scores", "order_by"]


def rerank_scores(
    cross_encoder: Any,
    query: Resolved,
    documents: Sequence[Resolved],
    *,
    decoded_under: ResolveContext,
    batch_size: int = 32,
    on_error: str = "raise",
) -> tuple[np.ndarray, list]:
    """CrossEncoder scores of ``(query, document)`` for each document, in one batched ``predict`` call.

    Returns ``(scores, failures)``; with ``on_error="skip"`` a failed pair scores ``-inf``.
    """
    if not documents:
        return np.zeros(0, dtype=np.float32), []
    target = cross_encoder.resolve_context()
    q = as_model_input(query, decoded_under, target)
    pairs = [(q, as_model_input(doc, decoded_under, target)) for doc in documents]
    scores, failures = cross_encoder.predict(pairs, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                                             on_error=on_error, return_failures=True)
    out = np.full(len(documents), -np.inf, dtype=np.float32)
    failed = {f.index for f in failures}
    ok = [i for i in range(len(documents)) if i not in failed]
    values = np.asarray(scores, dtype=np.float32).reshape(len(ok), -1)
    if values.shape[1] != 1:
        raise ValueError(f"the reranker returns {values.shape[1]} scores per pair; rerank needs a single-score CrossEncoder")
    out[ok] = values[:, 0]
    return out, failures


def order_by(scores: np.ndarray) -> list[int]:
    """Positions sorted by score, best first; ties keep their earlier (retrieval) order."""
    return [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]
