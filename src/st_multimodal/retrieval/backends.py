"""Search backends: exact (numpy) by default, approximate (faiss HNSW) when asked for or when the collection is large.

A backend holds the document vectors as the index scores them (already normalised or centred) and
answers ``search(queries, k, allowed)``. The index keeps the raw vectors; backends are rebuilt from
them, never saved. Third-party backends (a class taking ``(vectors, metric)``) plug in with
:func:`register_backend`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import MissingDependencyError
from ..registry import Registry

__all__ = [
    "BACKENDS",
    "AUTO_FAISS_MIN_SIZE",
    "Metric",
    "SearchBackend",
    "ExactBackend",
    "FaissBackend",
    "register_backend",
    "make_backend",
]

Metric = Literal["cosine", "dot", "euclidean", "manhattan"]
AUTO_FAISS_MIN_SIZE = 50_000
"""With ``backend="auto"``, collections of at least this many vectors use faiss (when installed)."""


@runtime_checkable
class SearchBackend(Protocol):
    """``k`` best rows of the document matrix for each query: ``(scores, row indices)``, best first, higher is better.

    Optionally ``add(vectors)`` appends rows; a backend without it is rebuilt when the index grows.
    """

    def __init__(self, vectors: np.ndarray, metric: Metric) -> None: ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def scores_of(queries: np.ndarray, docs: np.ndarray, metric: Metric) -> np.ndarray:
    """Similarity matrix (queries x docs); distances are negated so higher is always better."""
    if metric in ("cosine", "dot"):  # cosine: vectors arrive normalised
        return queries @ docs.T
    if metric == "euclidean":
        sq = (queries**2).sum(1)[:, None] + (docs**2).sum(1)[None, :] - 2 * queries @ docs.T
        return -np.sqrt(np.maximum(sq, 0))
    if metric == "manhattan":
        return -np.abs(queries[:, None, :] - docs[None, :, :]).sum(-1)
    raise ValueError(f"unknown similarity {metric!r}")


def pairwise_scores(queries: np.ndarray, docs: np.ndarray, metric: Metric) -> np.ndarray:
    """Similarity of row i of ``queries`` with row i of ``docs`` (the diagonal of :func:`scores_of`)."""
    if metric in ("cosine", "dot"):
        return (queries * docs).sum(1)
    if metric == "euclidean":
        return -np.linalg.norm(queries - docs, axis=1)
    if metric == "manhattan":
        return -np.abs(queries - docs).sum(1)
    raise ValueError(f"unknown similarity {metric!r}")


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, scores.shape[1])
    if k <= 0:
        empty = np.empty((scores.shape[0], 0))
        return empty.astype(np.float32), empty.astype(np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, 1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part_scores, order, 1), np.take_along_axis(part, order, 1)


class ExactBackend:
    """Brute force over every row (numpy); ``allowed`` masks rows out before ranking."""

    def __init__(self, vectors: np.ndarray, metric: Metric):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.metric = metric

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, dtype=np.float32)])

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        scores = scores_of(np.asarray(queries, dtype=np.float32), self.vectors, self.metric)
        if allowed is not None:
            scores = np.where(allowed[None, :], scores, -np.inf)
            k = min(k, int(allowed.sum()))
        return _top_k(scores, k)


class FaissBackend:
    """Approximate search with a faiss HNSW graph (``pip install 'sentence-transformers-multimodal[ann]'``).

    Inner product for cosine/dot, L2 for euclidean (scores are negated distances like the exact
    backend). A modality filter over-fetches and widens the search until ``k`` allowed rows are found.
    """

    def __init__(self, vectors: np.ndarray, metric: Metric, *, m: int = 32, ef_search: int = 128, ef_construction: int = 200):
        faiss = _import_faiss()
        if metric == "manhattan":
            raise ValueError("the faiss backend supports cosine, dot and euclidean similarity, not manhattan")
        self.metric = metric
        self.ef_search = ef_search
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        space = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, space)
        self.index.hnsw.efConstruction = ef_construction
        self.add(vectors)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = self.index.ntotal
        budget = n if allowed is None else int(allowed.sum())
        k = min(k, budget)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        fetch = k if allowed is None else min(n, max(2 * k, 16))
        while True:
            self.index.hnsw.efSearch = max(self.ef_search, fetch)
            dist, rows = self.index.search(queries, max(fetch, 1))
            scores = -np.sqrt(np.maximum(dist, 0)) if self.metric == "euclidean" else dist
            keep = rows >= 0 if allowed is None else (rows >= 0) & allowed[np.maximum(rows, 0)]
            if fetch >= n or keep.sum(1).min(initial=k) >= k:
                return _compact(scores, rows, keep, k)
            fetch = min(n, fetch * 4)


def _compact(scores: np.ndarray, rows: np.ndarray, keep: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``k`` kept (score, row) per query; short rows are padded with (-inf, -1)."""
    out_s = np.full((len(rows), k), -np.inf, dtype=np.float32)
    out_r = np.full((len(rows), k), -1, dtype=np.int64)
    for q in range(len(rows)):
        s, r = scores[q][keep[q]][:k], rows[q][keep[q]][:k]
        out_s[q, : len(s)], out_r[q, : len(r)] = s, r
    return out_s, out_r


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("the faiss search backend needs faiss", package="faiss-cpu", extra="ann") from exc
    return faiss


def faiss_available() -> bool:
    try:
        _import_faiss()
    except MissingDependencyError:
        return False
    return True


BACKENDS: Registry[type] = Registry("search backend")
BACKENDS.register("exact", ExactBackend)
BACKENDS.register("faiss", FaissBackend, extra="ann")


def register_backend(name: str, backend: type, *, clobber: bool = False) -> None:
    """Add a backend class under ``name``, for ``MultimodalIndex(backend=name)``; import optional packages inside it."""
    if not isinstance(backend, type):
        raise TypeError(f"register_backend() takes a class, got {type(backend).__name__}")
    BACKENDS.register(name, backend, clobber=clobber)


def make_backend(name: str, vectors: np.ndarray, metric: Metric) -> SearchBackend:
    """Build the backend called ``name``; ``"auto"`` is faiss for large collections when installed, else exact."""
    if name == "auto":
        name = "faiss" if len(vectors) >= AUTO_FAISS_MIN_SIZE and faiss_available() else "exact"
    if name not in BACKENDS:
        raise ValueError(f"unknown search backend {name!r}; registered: {', '.join(BACKENDS.names())} (or 'auto')")
    return BACKENDS.view()[name](vectors, metric)
