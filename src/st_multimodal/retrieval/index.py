"""``MultimodalIndex``: add items of any modality, search with a query of any modality, rerank, calibrate."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedInputError, describe_source
from ..inference import is_singular_like
from ..resolvers import expand_documents
from ..resolvers.expansion import document_of
from ..types import Failure, Provenance, Resolved
from .backends import BACKENDS, make_backend, scores_of
from .calibration import Calibrator, fit_from_pairs
from .centering import ModalityCentering, normalize
from ..pipeline.cache import DecodedCache
from .inputs import Embedded, embed_items, resolve_items
from .records import AddResult, DocId, Hit, assign_ids, row_ids
from .rerank import order_by, rerank_scores

__all__ = ["MultimodalIndex"]

logger = logging.getLogger(__name__)


def _row_metadata(metadata: dict | None, position: int, page: int | None) -> dict | None:
    """A page's metadata: the caller's, plus where the page came from (``input_index``, ``page``)."""
    return metadata if page is None else {**(metadata or {}), "input_index": position, "page": page}


class MultimodalIndex:
    """Embeddings of items of any modality, searchable by a query of any modality.

    ``backend``: ``"exact"`` (numpy, default), ``"faiss"`` (HNSW, approximate) or ``"auto"`` (faiss for
    large collections when installed). Decoded media stay in an LRU of ``cache_bytes`` (estimated
    decoded size) so a reranker reuses them; ``keep_inputs`` keeps a reference to each original input
    so one that fell out can be resolved again. Texts are always kept. Not safe for concurrent ``add``.

    With a multi-vector model (``MultiVectorEncoder``) the index is a
    :class:`~st_multimodal.retrieval.multivector.MultiVectorIndex`: token vectors stored flat in float16,
    searched with exact MaxSim.
    """

    layout = "dense"
    """How vectors are stored (``"dense"``: one row per document); saved in the manifest."""

    def __new__(cls, model: Any = None, *args: Any, **kwargs: Any) -> "MultimodalIndex":
        if cls is MultimodalIndex and model is not None:
            from .multivector import MultiVectorIndex, is_multi_vector

            if is_multi_vector(model):
                cls = MultiVectorIndex
        return super().__new__(cls)

    def __init__(self, model: Any, *, backend: str = "exact", keep_inputs: bool = True,
                 cache_bytes: int = 256 * 1024 * 1024, batch_size: int = 32):
        if backend != "auto" and backend not in BACKENDS:
            raise ValueError(f"unknown search backend {backend!r}; registered: {', '.join(BACKENDS.names())} (or 'auto')")
        self.model, self.backend_name = model, backend
        self.metric = model.similarity_fn_name
        self.keep_inputs, self.batch_size = keep_inputs, batch_size
        self.decoded = DecodedCache(max_items=None, max_bytes=cache_bytes)
        self._ctx = model.resolve_context()
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._ids: list[DocId] = []
        self._rows: dict[DocId, int] = {}
        self._modalities: list[str] = []
        self._metadata: list[dict | None] = []
        self._hashes: list[str | None] = []
        self._inputs: list[Any] = []
        self._calibrator: Calibrator | None = None
        self._centering: ModalityCentering | None = None
        self._backend: Any = None
        self._backend_rows = 0
        self._next_auto_id = 0

    # -- contents ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._rows

    @property
    def ids(self) -> list[DocId]:
        return list(self._ids)

    @property
    def modalities(self) -> list[str]:
        """The modality of each document, in insertion order (``"image+text"`` for multimodal inputs)."""
        return list(self._modalities)

    @property
    def vectors(self) -> np.ndarray:
        """The raw embeddings as the model returned them (read-only view)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    def metadata(self, doc_id: DocId) -> dict | None:
        return self._metadata[self._rows[doc_id]]

    # -- adding -----------------------------------------------------------------------------------------

    def add(self, items: Iterable[Any], ids: Sequence[DocId] | None = None, metadata: Sequence[dict | None] | None = None,
            on_error: str = "raise") -> AddResult:
        """Resolve each item once, embed all in one ``encode`` call, and add those that succeed.

        A PDF adds one document per page, with the id ``"<id>#page=N"`` (with automatic ids: its path or
        URL, ``"report.pdf#page=3"``) and ``"input_index"`` and ``"page"`` in its metadata.
        With ``on_error="skip"`` failed items are left out and returned in ``AddResult.failures`` (and logged).
        """
        if isinstance(items, (str, bytes, dict)) or is_singular_like(items):
            raise TypeError("add() takes a list of items; wrap a single item in a list")
        items = list(items)
        auto = ids is None
        ids, next_auto_id = assign_ids(len(items), ids, self._rows, self._next_auto_id)
        metadata = [None] * len(items) if metadata is None else list(metadata)
        if len(metadata) != len(items):
            raise ValueError(f"{len(items)} items but {len(metadata)} metadata entries")
        expanded = expand_documents(items, self._ctx, on_error=on_error)
        documents = {o: found[0] for o in set(expanded.origins) | {f.index for f in expanded.failures}
                     if (found := document_of(items[o], self._ctx)) is not None}
        keyed = row_ids(list(zip(expanded.origins, expanded.pages)), ids, documents, auto, self._rows)
        self._next_auto_id = next_auto_id
        embedded = self._embed_items(expanded, "document", on_error=on_error)
        added = [keyed[(p, page)] for p, page in zip(embedded.positions, embedded.pages)]
        self._append(embedded, added, [_row_metadata(metadata[p], p, page) for p, page in zip(embedded.positions, embedded.pages)])
        failed = [keyed[(f.index, f.page)] for f in embedded.failures]
        if failed:
            logger.warning("MultimodalIndex.add: %d of %d items failed and were not added (see AddResult.failures)", len(failed), len(items))
        return AddResult(added, embedded.failures, failed)

    def _append(self, embedded: Embedded, ids: list, metadata: list) -> None:
        if not embedded.positions:
            return
        self._extend_vectors(embedded.vectors)
        for doc_id, meta, item, resolved, modality in zip(ids, metadata, embedded.inputs, embedded.resolved, embedded.modalities):
            self._rows[doc_id] = len(self._ids)
            self._ids.append(doc_id)
            self._modalities.append(modality)
            self._metadata.append(meta)
            self._hashes.append(resolved.provenance.content_hash)
            if modality == "text":  # the text itself: small, and never mistaken for a location later
                self._inputs.append(resolved.value)
            else:
                self._inputs.append(item if self.keep_inputs else None)
                self.decoded.put(self._cache_key(len(self._ids) - 1), resolved)

    def _embed_items(self, items: list, role: str, on_error: str = "raise") -> Embedded:
        """Embed ``items`` as documents or as queries (``role``; the same for a single-vector model)."""
        return embed_items(self.model, items, on_error=on_error, batch_size=self.batch_size, ctx=self._ctx)

    def _extend_vectors(self, vectors: np.ndarray) -> None:
        if len(self._ids) and vectors.shape[1] != self._vectors.shape[1]:
            raise ValueError(f"embedding size changed: index has {self._vectors.shape[1]}, model gave {vectors.shape[1]}")
        self._vectors = vectors.copy() if not len(self._ids) else np.concatenate([self._vectors, vectors])

    def _cache_key(self, row: int) -> str:
        return self._hashes[row] or f"id:{self._ids[row]!r}"

    # -- searching --------------------------------------------------------------------------------------

    def search(self, query: Any, top_k: int = 10, *, modality: str | Sequence[str] | None = None,
               rerank_with: Any = None, rerank_top_k: int = 50, min_probability: float | None = None,
               rerank_batch_size: int = 32) -> list[Hit]:
        """The ``top_k`` documents most similar to ``query``, best first.

        ``modality`` keeps only documents of that modality (or those modalities). ``rerank_with`` (a
        CrossEncoder) rescores the ``rerank_top_k`` best candidates and reorders them; documents outside
        the candidates are never promoted. ``min_probability`` drops hits below a calibrated probability.
        """
        if min_probability is not None and self._calibrator is None:
            raise ValueError("min_probability needs a calibration: call index.calibrate(...) first")
        if not len(self):
            return []
        embedded = self._embed_items([query], "query")
        if len(embedded.positions) != 1:
            raise UnsupportedInputError(f"the query is a PDF of {len(embedded.positions)} pages; search with one page: "
                                        "as_document(x, pages=[n])", index=0, source=describe_source(query))
        query_resolved, query_modality = embedded.resolved[0], embedded.modalities[0]
        k = max(top_k, rerank_top_k) if rerank_with is not None else top_k
        scores, rows = self._get_backend().search(self._space(embedded.vectors, [query_modality]), k, self._allowed(modality))
        hits = [self._hit(int(r), float(s), query_modality) for s, r in zip(scores[0], rows[0]) if r >= 0]
        if rerank_with is not None:
            hits = self._rerank(rerank_with, query_resolved, hits, rerank_batch_size)
        if min_probability is not None:
            hits = [h for h in hits if h.probability is not None and h.probability >= min_probability]
        return hits[:top_k]

    def _hit(self, row: int, similarity: float, query_modality: str) -> Hit:
        modality = self._modalities[row]
        probability = None
        if self._calibrator is not None and self._calibrator.has(query_modality, modality):
            probability = float(self._calibrator.transform(similarity, query_modality, modality))
        return Hit(self._ids[row], similarity, modality, self._metadata[row], similarity, probability)

    def _rerank(self, cross_encoder: Any, query: Resolved, hits: list[Hit], batch_size: int) -> list[Hit]:
        documents = [self.document(h.id) for h in hits]
        scores, _ = rerank_scores(cross_encoder, query, documents, decoded_under=self._ctx, batch_size=batch_size)
        return [Hit(hits[i].id, float(scores[i]), hits[i].modality, hits[i].metadata, hits[i].similarity,
                    hits[i].probability, float(scores[i])) for i in order_by(scores)]

    def document(self, doc_id: DocId) -> Resolved:
        """The decoded document: from the in-memory cache, else re-resolved from its kept input (and cached)."""
        row = self._rows[doc_id]
        if self._modalities[row] == "text":
            return Resolved("text", self._inputs[row], Provenance(source=describe_source(self._inputs[row]), content_hash=self._hashes[row]))
        cached = self.decoded.get(self._cache_key(row))
        if cached is not None:
            return cached
        if self._inputs[row] is None:
            raise LookupError(f"document {doc_id!r} is not in the decoded cache and its input was not kept "
                              "(build the index with keep_inputs=True or a larger cache_bytes)")
        outcome = resolve_items([self._inputs[row]], self._ctx, self.model)[0]
        if isinstance(outcome, Failure):
            raise outcome.error
        self.decoded.put(self._cache_key(row), outcome)
        return outcome

    def _allowed(self, modality: str | Sequence[str] | None) -> np.ndarray | None:
        if modality is None:
            return None
        wanted = {modality} if isinstance(modality, str) else set(modality)
        return np.fromiter((m in wanted for m in self._modalities), dtype=bool, count=len(self._modalities))

    def _space(self, vectors: np.ndarray, modalities: Sequence[str]) -> np.ndarray:
        """Vectors as they are compared: centred (and so unit length) if centring is on, normalised for cosine."""
        if self._centering is not None:
            return self._centering.transform(vectors, modalities)
        return normalize(vectors) if self.metric == "cosine" else np.asarray(vectors, np.float32)

    def _get_backend(self) -> Any:
        n = len(self._ids)
        if self._backend is not None and self._backend_rows < n and hasattr(self._backend, "add"):
            self._backend.add(self._space(self._vectors[self._backend_rows:], self._modalities[self._backend_rows:]))
            self._backend_rows = n
        if self._backend is None or self._backend_rows != n:
            self._backend = make_backend(self.backend_name, self._space(self._vectors, self._modalities), self.metric)
            self._backend_rows = n
        return self._backend

    # -- similarity, centring, calibration ----------------------------------------------------------------

    def embed(self, items: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
        """Vectors of any inputs as ``search`` compares them (centred / normalised), with their modalities."""
        embedded = embed_items(self.model, list(items), batch_size=self.batch_size, ctx=self._ctx)
        return self._space(embedded.vectors, embedded.modalities), embedded.modalities

    def similarity(self, queries: Sequence[Any], documents: Sequence[Any]) -> np.ndarray:
        """Similarity matrix (queries x documents) of any inputs, scored as ``search`` scores them."""
        return scores_of(self.embed(queries)[0], self.embed(documents)[0], self.metric)

    @property
    def centering(self) -> ModalityCentering | None:
        return self._centering

    @centering.setter
    def centering(self, centering: ModalityCentering | None) -> None:
        """Turn modality centring on (a fitted ``ModalityCentering``) or off (None); drops a calibration fitted in the other space."""
        self._centering, self._backend = centering, None
        if self._calibrator is not None and self._calibrator.meta.get("centered") != (centering is not None):
            warnings.warn("centring changed the similarity space: the calibration no longer applies and was removed", stacklevel=2)
            self._calibrator = None

    def fit_centering(self, extra: Sequence[Any] = ()) -> ModalityCentering:
        """Fit per-modality means on the indexed documents plus ``extra`` samples (e.g. typical queries of a
        modality the index does not hold), and turn centring on."""
        centering = ModalityCentering.fit(self._vectors, self._modalities) if len(self) else ModalityCentering()
        if extra:
            more = embed_items(self.model, list(extra), batch_size=self.batch_size, ctx=self._ctx)
            centering.update(ModalityCentering.fit(more.vectors, more.modalities))
        self.centering = centering
        return centering

    @property
    def calibrator(self) -> Calibrator | None:
        return self._calibrator

    @calibrator.setter
    def calibrator(self, calibrator: Calibrator | None) -> None:
        if calibrator is not None:
            expected = self._space_meta()
            differs = {k: (calibrator.meta.get(k), v) for k, v in expected.items() if k in calibrator.meta and calibrator.meta[k] != v}
            if differs:
                warnings.warn(f"this calibration was fitted in another similarity space ({differs}); its probabilities may be off", stacklevel=2)
        self._calibrator = calibrator

    def _space_meta(self) -> dict:
        return {"metric": self.metric, "centered": self._centering is not None, "model_fingerprint": self.model.fingerprint}

    def calibrate(self, pairs: Sequence[tuple[Any, Any, float]] | None = None, *, in_batch: Sequence[tuple[Any, Any]] | None = None,
                  groups: Sequence[Any] | None = None, method: str = "platt", prior: float | None = 0.5) -> Calibrator:
        """Fit a :class:`Calibrator` in this index's similarity space and use it for every search.

        ``pairs``: labelled ``(query, document, label)`` triples. ``in_batch``: matching ``(query, document)``
        pairs; every other combination is a negative unless ``groups`` says two pairs share a class.
        ``method`` and ``prior``: see :class:`Calibrator`.
        """
        calibrator = fit_from_pairs(self.embed, self.metric, pairs, in_batch, groups, method=method, prior=prior,
                                    meta=self._space_meta())
        self._calibrator = calibrator
        return calibrator

    # -- persistence ------------------------------------------------------------------------------------

    @property
    def dimension(self) -> int | None:
        """The embedding size (None while empty)."""
        return int(self._vectors.shape[1]) if len(self) else None

    def _save_vectors(self, folder: os.PathLike) -> None:
        np.save(os.path.join(folder, "vectors.npy"), self._vectors, allow_pickle=False)

    def _load_vectors(self, folder: os.PathLike) -> int:
        """Read the saved vectors; return how many documents they are for."""
        self._vectors = np.load(os.path.join(folder, "vectors.npy"), allow_pickle=False)
        return len(self._vectors)

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to a folder (see :mod:`st_multimodal.retrieval.storage` for the layout)."""
        from .storage import save_index

        save_index(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, model: Any, *, on_model_mismatch: str = "raise", **kwargs: Any) -> "MultimodalIndex":
        """Read an index saved by :meth:`save`. A different model fingerprint raises ``ModelMismatchError``
        (``on_model_mismatch="warn"`` loads anyway, with a warning)."""
        from .storage import load_index

        return load_index(cls, path, model, on_model_mismatch=on_model_mismatch, **kwargs)

    def __repr__(self) -> str:
        counts = {m: self._modalities.count(m) for m in sorted(set(self._modalities))}
        return f"MultimodalIndex({len(self)} documents {counts}, metric={self.metric!r}, backend={self.backend_name!r})"
