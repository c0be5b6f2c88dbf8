"""MaxSim (late-interaction) scoring of ragged token matrices, in bounded memory.

``score(q, d) = sum over q's tokens of the best dot product with any of d's tokens``. Token matrices
are held flat (:class:`TokenVectors`: one ``[T, dim]`` array plus offsets), so a stored collection is
scored in place, a chunk at a time: one matrix product of a chunk's document tokens with the chunk's
query tokens, a max over each document's segment of rows (``torch.segment_reduce``: no padding to the
longest document), and a sum over each query's tokens. Half-precision storage is upcast chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["TokenVectors", "maxsim", "DEFAULT_CHUNK_ELEMENTS", "EMPTY_DOCUMENT_SCORE"]

DEFAULT_CHUNK_ELEMENTS = 32 * 1024 * 1024
"""Elements (float32) of the per-chunk intermediates: about 128 MB."""

EMPTY_DOCUMENT_SCORE = -1e9
"""The score of a document without tokens (upstream's value): below every real document."""


@dataclass(frozen=True)
class TokenVectors:
    """Ragged ``[n_i, dim]`` matrices stored flat: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""

    data: np.ndarray | torch.Tensor
    offsets: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Any], dtype: Any = None) -> "TokenVectors":
        """Pack a sequence of 2D tensors or arrays (numpy rows stay numpy; tensors stay on their device).

        ``dtype``: a numpy or torch dtype to store them in (default: as given)."""
        if isinstance(rows, TokenVectors):
            return rows
        if (isinstance(rows, (np.ndarray, torch.Tensor)) and rows.ndim == 2):
            rows = [rows]
        rows = list(rows)
        for i, row in enumerate(rows):
            if getattr(row, "ndim", None) != 2:
                raise ValueError(f"row {i}: expected a [num_tokens, dim] matrix, got shape {getattr(row, 'shape', type(row).__name__)}")
        dims = {int(row.shape[1]) for row in rows if row.shape[0]}
        if len(dims) > 1:
            raise ValueError(f"rows have different widths: {sorted(dims)}")
        lengths = np.array([row.shape[0] for row in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        dim = dims.pop() if dims else (int(rows[0].shape[1]) if rows else 0)
        if rows and all(isinstance(row, torch.Tensor) for row in rows):
            data = torch.cat([row.reshape(-1, dim) for row in rows]) if dim else rows[0].new_zeros((0, 0))
            return cls(data if dtype is None else data.to(_torch_dtype(dtype)), offsets)
        arrays = [np.asarray(row.detach().cpu() if isinstance(row, torch.Tensor) else row).reshape(-1, dim) for row in rows]
        data = np.concatenate(arrays) if arrays else np.zeros((0, dim), np.float32)
        return cls(data if dtype is None else data.astype(_numpy_dtype(dtype), copy=False), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def dim(self) -> int:
        return int(self.data.shape[1]) if self.data.ndim == 2 else 0

    def row(self, i: int) -> np.ndarray | torch.Tensor:
        return self.data[self.offsets[i] : self.offsets[i + 1]]


def _torch_dtype(dtype: Any) -> torch.dtype:
    return dtype if isinstance(dtype, torch.dtype) else torch.from_numpy(np.zeros(0, dtype)).dtype


def _numpy_dtype(dtype: Any) -> np.dtype:
    return torch.zeros(0, dtype=dtype).numpy().dtype if isinstance(dtype, torch.dtype) else np.dtype(dtype)


def maxsim(queries: Any, documents: Any, *, length_normalize: bool = False, chunk_elements: int | None = None,
           device: str | torch.device | None = None) -> torch.Tensor:
    """MaxSim scores ``[num_queries, num_documents]`` (float32) of ragged token matrices.

    ``queries`` / ``documents``: a list of ``[n_i, dim]`` tensors or arrays (as ``MultiVectorEncoder.encode``
    returns them), a single 2D matrix (one item), or :class:`TokenVectors`. Equal to upstream's
    ``model.similarity`` on the same embeddings (``length_normalize=True``: MeanMaxSim). Scoring goes a chunk
    of queries and of documents at a time, each chunk's intermediates under ``chunk_elements`` floats (one
    document and one query always make a chunk); a document without tokens scores :data:`EMPTY_DOCUMENT_SCORE`.
    Runs on ``device`` (default: the documents' device, CPU for numpy); scores come back on the documents' device.
    """
    q, d = TokenVectors.from_rows(queries), TokenVectors.from_rows(documents)
    if len(q) and len(d) and q.dim and d.dim and q.dim != d.dim:
        raise ValueError(f"queries have {q.dim}-dimensional tokens, documents {d.dim}-dimensional")
    home = d.data.device if isinstance(d.data, torch.Tensor) else torch.device("cpu")
    where = torch.device(device) if device is not None else home
    scores = torch.full((len(q), len(d)), EMPTY_DOCUMENT_SCORE, dtype=torch.float32, device=where)
    if not len(q) or not len(d):
        return scores.to(home)
    budget = chunk_elements or DEFAULT_CHUNK_ELEMENTS
    dim = max(d.dim, q.dim, 1)
    longest = int(d.lengths.max(initial=0))
    for q_start, q_end in _chunks(q.offsets, (longest + dim + 1) * 2, 0, budget):
        query_tokens = _as_float_tensor(q.data[q.offsets[q_start] : q.offsets[q_end]], where).reshape(-1, dim)
        owner = torch.repeat_interleave(torch.arange(q_end - q_start, device=where),
                                        torch.as_tensor(q.lengths[q_start:q_end], device=where))
        for d_start, d_end in _chunks(d.offsets, len(query_tokens) + dim, len(query_tokens), budget):
            scores[q_start:q_end, d_start:d_end] = _score_chunk(query_tokens, owner, q_end - q_start, d, d_start, d_end, where)
    if length_normalize:
        scores /= torch.as_tensor(np.maximum(q.lengths, 1), dtype=torch.float32, device=where)[:, None]
    return scores.to(home)


def _as_float_tensor(data: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(data, np.ndarray):
        if not data.flags.writeable:  # torch warns on read-only arrays; this copies only the chunk
            data = data.astype(np.float32)
        data = torch.from_numpy(np.ascontiguousarray(data))
    return data.to(device=device, dtype=torch.float32)


def _chunks(offsets: np.ndarray, per_token: int, per_item: int, budget: int) -> list[tuple[int, int]]:
    """Consecutive item ranges costing at most ``budget`` elements (``per_token`` per token plus ``per_item``
    per item); an item that alone costs more makes a chunk of its own."""
    cost = offsets * per_token + np.arange(len(offsets)) * per_item  # cumulative cost at each boundary
    ranges, start, count = [], 0, len(offsets) - 1
    while start < count:
        end = int(np.searchsorted(cost, cost[start] + budget, side="right")) - 1
        end = min(max(end, start + 1), count)
        ranges.append((start, end))
        start = end
    return ranges


def _score_chunk(query_tokens: torch.Tensor, owner: torch.Tensor, num_queries: int, docs: TokenVectors,
                 start: int, end: int, device: torch.device) -> torch.Tensor:
    """Scores ``[num_queries, end - start]``: every query token's best match in each document (a max over
    each document's token segment), summed per query."""
    counts = np.diff(docs.offsets[start : end + 1])
    tokens = _as_float_tensor(docs.data[docs.offsets[start] : docs.offsets[end]], device).reshape(-1, query_tokens.shape[1])
    similarities = tokens @ query_tokens.T  # [doc tokens, query tokens]
    best = torch.segment_reduce(similarities, "max", lengths=torch.as_tensor(counts, device=device), axis=0)  # -inf if empty
    empty = torch.as_tensor(counts == 0, device=device) if not counts.all() else None
    if empty is not None:
        best.masked_fill_(empty[:, None], 0.0)
    if num_queries == 1:
        scores = best.sum(dim=1)[None, :]
    else:
        scores = torch.zeros((num_queries, end - start), dtype=torch.float32, device=device).index_add_(0, owner, best.T)
    return scores if empty is None else scores.masked_fill_(empty[None, :], EMPTY_DOCUMENT_SCORE)
