"""What the index hands back: hits, the outcome of ``add``; and how document ids are checked and assigned."""

from __future__ import annotations

import os
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Any

from ..types import Failure

__all__ = ["DocId", "Hit", "AddResult", "DuplicateIdError", "assign_ids", "row_ids"]

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


def _location(value: Any) -> str | None:
    """The path or URL a document input names (None for bytes and data URIs)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str) and not value.startswith("data:"):
        return value
    return None


def row_ids(keys: Sequence[tuple[int, int | None]], ids: Sequence[DocId], documents: dict[int, Any], auto: bool,
            taken: Container[DocId]) -> dict[tuple[int, int | None], DocId]:
    """The id of each ``(input position, page)`` key; a document's own key ``(position, None)`` too.

    A page is ``"<base>#page=N"``; its base is the caller's id, or with automatic ids the document's path
    or URL (``"report.pdf#page=3"``) and else its automatic integer. Page ids already in the index, or
    twice in this call, raise DuplicateIdError.
    """
    def base(position: int) -> DocId:
        return (_location(documents[position]) if auto else None) or ids[position]

    out: dict[tuple[int, int | None], DocId] = {(p, None): base(p) for p in documents}
    seen: set[DocId] = set(ids)
    for position, page in keys:
        if page is None:
            out[(position, None)] = ids[position]
            continue
        doc_id = f"{base(position)}#page={page}"
        if doc_id in taken or doc_id in seen:
            where = "is already in the index" if doc_id in taken else "appears twice in this call"
            raise DuplicateIdError(f"page id {doc_id!r} {where}; pass ids= to name the documents")
        seen.add(doc_id)
        out[(position, page)] = doc_id
    return out
