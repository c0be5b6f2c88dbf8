"""What the index hands back: hits, the outcome of ``add``; and how document ids are checked and assigned."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from ..types import Failure

__all__ = ["DocId", "Hit", "AddResult", "DuplicateIdError", "assign_ids"]

DocId = str | int


class DuplicateIdError(ValueError):
    """An id is already in the index, or appears twice in one ``add``."""


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` ranks the hits: the rerank score when reranked, else ``similarity``."""

    id: DocId
    score: float
    modality: str
    metadata: dict | None
    similarity: float
    """Raw similarity to the query (the model's similarity function, after centring if that is on)."""
    probability: float | None = None
    """Calibrated probability of relevance of ``similarity`` (None without a calibration for this modality pair)."""
    rerank_score: float | None = None


@dataclass(frozen=True)
class AddResult:
    """What ``add`` did: the ids added, and every item that failed (``Failure.index`` is its position in the call)."""

    ids: list[DocId]
    failures: list[Failure]
    failed_ids: list[DocId]

    def __len__(self) -> int:
        return len(self.ids)


def assign_ids(n: int, ids: Sequence[DocId] | None, taken: Container[DocId], next_auto: int) -> tuple[list[DocId], int]:
    """Check ``ids`` (str or int, unique, not ``taken``) or assign integers from ``next_auto`` on, skipping taken
    ones. Returns the ids and the next automatic id."""
    if ids is None:
        out: list[DocId] = []
        while len(out) < n:
            if next_auto not in taken:
                out.append(next_auto)
            next_auto += 1
        return out, next_auto
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"{n} items but {len(ids)} ids")
    for doc_id in ids:
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            raise TypeError(f"ids must be str or int, got {type(doc_id).__name__}: {doc_id!r}")
    seen: set[DocId] = set()
    for doc_id in ids:
        if doc_id in taken or doc_id in seen:
            where = "is already in the index" if doc_id in taken else "appears twice in this call"
            raise DuplicateIdError(f"id {doc_id!r} {where}")
        seen.add(doc_id)
    return ids, next_auto
