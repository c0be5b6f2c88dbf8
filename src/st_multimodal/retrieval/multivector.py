"""Multi-vector (late-interaction) collections: token vectors stored flat and compact, searched with exact MaxSim.

``MultimodalIndex(model)`` becomes a :class:`MultiVectorIndex` when ``model`` is a multi-vector model
(``MultiVectorEncoder``). Documents are embedded with ``encode_document`` and queries with
``encode_query``; every document's token vectors go into one growing ``[total tokens, dim]`` array
(float16 by default: half the bytes of float32, scores within about 1e-3) plus an offsets array. Ids,
metadata, the modality filter, reranking, ``document(id)`` and save / load (with the model fingerprint
check) work as for single-vector indexes; centring and calibration are not offered for MaxSim scores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..multivector import is_multi_vector
from .backends import _top_k
from .index import MultimodalIndex
from .inputs import Embedded, embed_items
from .maxsim import TokenVectors, maxsim

__all__ = ["MultiVectorIndex", "TokenStore", "MaxSimBackend", "is_multi_vector"]

_STORAGE_DTYPES = {"float16": np.float16, "float32": np.float32}


class TokenStore:
    """Ragged token matrices in one flat array (``dtype``) plus offsets, grown in place (capacity doubles)."""

    def __init__(self, dtype: str = "float16"):
        if dtype not in _STORAGE_DTYPES:
            raise ValueError(f"storage_dtype must be one of {sorted(_STORAGE_DTYPES)}, got {dtype!r}")
        self.dtype = np.dtype(_STORAGE_DTYPES[dtype])
        self._data = np.zeros((0, 0), self.dtype)
        self._offsets = np.zeros(1, np.int64)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def dim(self) -> int | None:
        return int(self._data.shape[1]) if len(self) else None

    @property
    def num_tokens(self) -> int:
        return int(self._offsets[-1])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored token vectors and offsets (as saved; excludes spare capacity)."""
        return self.num_tokens * (self.dim or 0) * self.dtype.itemsize + self._offsets.nbytes

    def vectors(self, read_only: bool = True) -> TokenVectors:
        """Everything stored, as views (read-only unless asked otherwise)."""
        data, offsets = self._data[: self.num_tokens], self._offsets
        return TokenVectors(_read_only(data), _read_only(offsets)) if read_only else TokenVectors(data, offsets)

    def extend(self, rows: Sequence[np.ndarray]) -> None:
        """Append one ``[n_i, dim]`` matrix per document."""
        dims = {int(row.shape[1]) for row in rows}
        if len(dims) > 1 or (self.dim is not None and dims and dims != {self.dim}):
            raise ValueError(f"embedding size changed: index has {self.dim}, model gave {sorted(dims)}")
        if not rows:
            return
        dim = dims.pop()
        with np.errstate(over="ignore"):  # reported below, with what to do about it
            added = np.concatenate([np.asarray(row, dtype=self.dtype).reshape(-1, dim) for row in rows])
        if not np.isfinite(added).all():
            raise ValueError(f"token vectors do not fit {self.dtype.name} (values beyond its range or not finite); "
                             "build the index with storage_dtype='float32'")
        used = self.num_tokens
        if not len(self) or self._data.shape[1] != dim:
            self._data = np.zeros((max(len(added), 1), dim), self.dtype)
        if used + len(added) > len(self._data):
            grown = np.zeros((max(2 * len(self._data), used + len(added)), dim), self.dtype)
            grown[:used] = self._data[:used]
            self._data = grown
        self._data[used : used + len(added)] = added
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        self._offsets = np.concatenate([self._offsets, used + np.cumsum(lengths)])

    def save(self, folder: os.PathLike) -> None:
        np.save(os.path.join(folder, "tokens.npy"), self._data[: self.num_tokens], allow_pickle=False)
        np.save(os.path.join(folder, "offsets.npy"), self._offsets, allow_pickle=False)

    def load(self, folder: os.PathLike) -> None:
        data = np.load(os.path.join(folder, "tokens.npy"), allow_pickle=False)
        offsets = np.load(os.path.join(folder, "offsets.npy"), allow_pickle=False).astype(np.int64)
        if offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
            raise ValueError(f"{folder}: offsets.npy does not describe the {len(data)} token vectors in tokens.npy")
        self.dtype, self._data, self._offsets = data.dtype, data, offsets


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class MaxSimBackend:
    """Exact MaxSim over a :class:`TokenStore`; ``allowed`` masks documents out before ranking."""

    def __init__(self, store: TokenStore, *, length_normalize: bool = False, chunk_elements: int | None = None):
        self.store, self.length_normalize, self.chunk_elements = store, length_normalize, chunk_elements

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        return maxsim(list(queries), self.store.vectors(read_only=False), length_normalize=self.length_normalize,
                      chunk_elements=self.chunk_elements).numpy()

    def search(self, queries: Sequence[np.ndarray], k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(queries)
        if allowed is not None:
            scores = np.where(allowed[None, :], scores, -np.inf)
            k = min(k, int(allowed.sum()))
        return _top_k(scores, k)


class MultiVectorIndex(MultimodalIndex):
    """A :class:`MultimodalIndex` of a multi-vector model: token vectors stored flat, exact MaxSim search.

    ``storage_dtype``: ``"float16"`` (default) or ``"float32"``. ``backend``: only ``"exact"`` (or ``"auto"``).
    ``chunk_elements``: the memory bound of one scoring step (see :func:`~st_multimodal.maxsim`).
    """

    layout = "tokens"

    def __init__(self, model: Any, *, backend: str = "exact", storage_dtype: str = "float16",
                 chunk_elements: int | None = None, **kwargs: Any):
        if not is_multi_vector(model):
            raise TypeError(f"MultiVectorIndex needs a multi-vector model (MultiVectorEncoder), got {type(model).__name__}")
        if backend not in ("exact", "auto"):
            raise ValueError(f"a multi-vector index searches with exact MaxSim: backend must be 'exact', got {backend!r}")
        super().__init__(model, backend="exact", **kwargs)
        self._store = TokenStore(storage_dtype)
        self._chunk_elements = chunk_elements

    # -- storage ------------------------------------------------------------------------------------------

    @property
    def vectors(self) -> list[np.ndarray]:
        """Each document's token vectors ``[num_tokens, dim]`` as stored (read-only views, ``storage_dtype``)."""
        stored = self._store.vectors()
        return [stored.row(i) for i in range(len(stored))]

    @property
    def tokens(self) -> TokenVectors:
        """All token vectors, flat, with per-document offsets (read-only)."""
        return self._store.vectors()

    @property
    def nbytes(self) -> int:
        """Bytes of the stored token vectors and offsets."""
        return self._store.nbytes

    @property
    def dimension(self) -> int | None:
        return self._store.dim

    def _extend_vectors(self, vectors: list[np.ndarray]) -> None:
        self._store.extend(vectors)

    def _save_vectors(self, folder: os.PathLike) -> None:
        self._store.save(folder)

    def _load_vectors(self, folder: os.PathLike) -> int:
        self._store.load(folder)
        return len(self._store)

    # -- embedding and scoring ----------------------------------------------------------------------------

    def _embed_items(self, items: list, role: str, on_error: str = "raise") -> Embedded:
        encode = self.model.encode_query if role == "query" else self.model.encode_document
        return embed_items(self.model, items, on_error=on_error, batch_size=self.batch_size, ctx=self._ctx, encode=encode)

    def _space(self, vectors: Any, modalities: Sequence[str]) -> Any:
        return vectors  # token vectors are compared as the model gives them

    def _get_backend(self) -> MaxSimBackend:
        if self._backend is None:
            self._backend = MaxSimBackend(self._store, length_normalize=self.metric == "meanmaxsim",
                                          chunk_elements=self._chunk_elements)
        return self._backend

    def embed(self, items: Sequence[Any], role: str = "document") -> tuple[list[np.ndarray], list[str]]:
        """Token vectors of any inputs, embedded as documents or as queries (``role``), with their modalities."""
        embedded = self._embed_items(list(items), role)
        return embedded.vectors, embedded.modalities

    def similarity(self, queries: Sequence[Any], documents: Sequence[Any]) -> np.ndarray:
        """MaxSim matrix (queries x documents) of any inputs, scored as ``search`` scores them."""
        query_vectors, document_vectors = self.embed(queries, "query")[0], self.embed(documents, "document")[0]
        return maxsim(query_vectors, document_vectors, length_normalize=self.metric == "meanmaxsim").numpy()

    # -- what MaxSim scores do not support ------------------------------------------------------------------

    @property
    def centering(self) -> None:
        return None

    @centering.setter
    def centering(self, centering: Any) -> None:
        if centering is not None:
            raise NotImplementedError("modality centring applies to single-vector indexes, not to MaxSim scores")

    def fit_centering(self, extra: Sequence[Any] = ()) -> Any:
        raise NotImplementedError("modality centring applies to single-vector indexes, not to MaxSim scores")

    def calibrate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("calibration is not available for multi-vector (MaxSim) indexes yet")
