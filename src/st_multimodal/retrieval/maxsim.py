"""MaxSim (late-interaction) scoring of ragged token matrices, in bounded memory.

``score(q, d) = sum over q's tokens of the best dot product with any of d's tokens``. Token matrices
are held flat (:class:`TokenVectors`: one ``[T, dim]`` array plus offsets), so a stored collection is
scored in place, a chunk of documents at a time: each chunk's tokens are multiplied with every query
token at once, the similarities gathered into a padded ``[query tokens, docs, longest doc]`` block,
padding masked out, and reduced to scores. Half-precision storage is upcast chunk by chunk.
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
    ``model.similarity`` on the same embeddings (``length_normalize=True``: MeanMaxSim). Documents are scored
    in chunks whose intermediates stay under ``chunk_elements`` floats; a document without tokens scores
    :data:`EMPTY_DOCUMENT_SCORE`. Runs on ``device`` (default: the documents' device, CPU for numpy); the
    scores come back on the documents' device.
    """
    q, d = TokenVectors.from_rows(queries), TokenVectors.from_rows(documents)
    if len(q) and len(d) and q.dim and d.dim and q.dim != d.dim:
        raise ValueError(f"queries have {q.dim}-dimensional tokens, documents {d.dim}-dimensional")
    home = d.data.device if isinstance(d.data, torch.Tensor) else torch.device("cpu")
    where = torch.device(device) if device is not None else home
    scores = torch.full((len(q), len(d)), EMPTY_DOCUMENT_SCORE, dtype=torch.float32, device=where)
    if not len(q) or not len(d):
        return scores.to(home)
    padded, query_mask = _padded(q, where)  # [Q, Lq, dim], [Q, Lq]
    flat_queries = padded.reshape(-1, padded.shape[-1])  # [M, dim]
    budget = chunk_elements or DEFAULT_CHUNK_ELEMENTS
    for start, end in _chunks(d.lengths, len(flat_queries), max(d.dim, 1), budget):
        scores[:, start:end] = _score_chunk(flat_queries, query_mask, d, start, end, where)
    if length_normalize:
        scores /= torch.as_tensor(np.maximum(q.lengths, 1), dtype=torch.float32, device=where)[:, None]
    return scores.to(home)


def _as_float_tensor(data: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(data, np.ndarray):
        if not data.flags.writeable:  # torch warns on read-only arrays; this copies only the chunk
            data = data.astype(np.float32)
        data = torch.from_numpy(np.ascontiguousarray(data))
    return data.to(device=device, dtype=torch.float32)


def _padded(vectors: TokenVectors, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """All rows padded to the longest: ``[n, L, dim]`` float32 and the ``[n, L]`` mask of real tokens."""
    lengths = torch.as_tensor(vectors.lengths, device=device)
    width = int(vectors.lengths.max(initial=0))
    mask = torch.arange(width, device=device)[None, :] < lengths[:, None]
    padded = torch.zeros((len(vectors), width, max(vectors.dim, 1)), dtype=torch.float32, device=device)
    if width:
        padded[mask] = _as_float_tensor(vectors.data, device).reshape(-1, padded.shape[-1])
    return padded, mask


def _chunks(lengths: np.ndarray, query_tokens: int, dim: int, budget: int) -> list[tuple[int, int]]:
    """Consecutive document ranges whose intermediates (similarities, padded block, tokens) fit ``budget``.

    A chunk of ``n`` documents, ``t`` tokens in all and at most ``w`` per document costs
    ``query_tokens * (t + n * w) + t * dim`` elements; one document always makes a chunk.
    """
    ranges, start, total, width = [], 0, 0, 0
    for i, length in enumerate(lengths.tolist()):
        new_total, new_width = total + length, max(width, length)
        if i > start and query_tokens * (new_total + (i - start + 1) * new_width) + new_total * dim > budget:
            ranges.append((start, i))
            start, new_total, new_width = i, length, length
        total, width = new_total, new_width
    ranges.append((start, len(lengths)))
    return ranges


def _score_chunk(flat_queries: torch.Tensor, query_mask: torch.Tensor, docs: TokenVectors, start: int, end: int,
                 device: torch.device) -> torch.Tensor:
    """Scores ``[Q, end - start]`` of documents ``start:end`` against every query."""
    offsets = docs.offsets[start : end + 1] - docs.offsets[start]
    lengths = torch.as_tensor(np.diff(offsets), device=device)
    num_queries, query_width = query_mask.shape
    if int(offsets[-1]) == 0:
        return torch.full((num_queries, end - start), EMPTY_DOCUMENT_SCORE, device=device)
    tokens = _as_float_tensor(docs.data[docs.offsets[start] : docs.offsets[end]], device)
    similarities = flat_queries @ tokens.T  # [M, T]
    width = int(lengths.max())
    positions = torch.arange(width, device=device)
    gather = (torch.as_tensor(offsets[:-1], device=device)[:, None] + positions[None, :]).clamp_(max=tokens.shape[0] - 1)
    block = similarities[:, gather]  # [M, n, width]
    block.masked_fill_(~(positions[None, :] < lengths[:, None]), float("-inf"))
    best = block.amax(dim=-1).view(num_queries, query_width, end - start)
    best.masked_fill_(~query_mask[:, :, None], 0.0)
    scores = best.sum(dim=1)
    return scores.masked_fill_((lengths == 0)[None, :], EMPTY_DOCUMENT_SCORE)
