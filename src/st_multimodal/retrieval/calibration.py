"""Calibration: raw similarity -> relevance probability, one mapping per (query modality, document modality).

Raw cosine scores are not comparable across modality pairs: text-to-text matches of a CLIP-style
model sit far higher than text-to-image matches. A :class:`Calibrator` fits, per pair, either

* ``"platt"``: a logistic curve ``p = 1 / (1 + exp(-(a * s + b)))`` (Newton's method, Platt's smoothed
  targets), or
* ``"isotonic"``: a non-decreasing curve (pool-adjacent-violators; flat blocks, linear between them),

so that one probability threshold means the same thing for every pair.

``prior`` says at what share of relevant pairs the probabilities should hold. The default, 0.5,
weighs positives and negatives equally in total, so ``p`` does not depend on how many negatives the
fitting data happened to hold (in-batch data holds n - 1 negatives per positive); ``p >= 0.5`` then
means "more likely a match than not, at even odds". Pass the relevance rate of your traffic (e.g.
``prior=0.01``) to get posteriors at that rate, or ``prior=None`` to keep the fitting data's own rate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "Calibrator",
    "PlattMapping",
    "IsotonicMapping",
    "fit_platt",
    "fit_isotonic",
    "fit_from_pairs",
    "precision_recall",
    "in_batch_labels",
]

Method = Literal["platt", "isotonic"]
PairKey = tuple[str, str]


def _weights(labels: np.ndarray, prior: float | None) -> np.ndarray:
    """Sample weights that make positives ``prior`` of the total weight (None: every sample weighs 1)."""
    n_pos, n_neg = labels.sum(), (1 - labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"calibration needs positives and negatives, got {int(n_pos)} positives and {int(n_neg)} negatives")
    if prior is None:
        return np.ones_like(labels)
    return np.where(labels > 0, prior * len(labels) / n_pos, (1 - prior) * len(labels) / n_neg)


def fit_platt(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, max_iter: int = 100) -> tuple[float, float]:
    """Weighted logistic regression of ``labels`` on ``scores``; returns ``(a, b)``. Targets are smoothed as in
    Platt (1999), so separable data still gives a finite slope."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels, np.float64)
    w = np.ones_like(s) if weights is None else np.asarray(weights, np.float64)
    n_pos, n_neg = (w * y).sum(), (w * (1 - y)).sum()
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    mu, sd = s.mean(), s.std() or 1.0
    x = np.stack([(s - mu) / sd, np.ones_like(s)], 1)
    theta = np.zeros(2)

    def loss(th: np.ndarray) -> float:
        z = x @ th
        return float((w * (np.logaddexp(0, z) - t * z)).sum())

    current = loss(theta)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(x @ theta)))
        grad = x.T @ (w * (p - t))
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step, rate = np.linalg.solve(hess, grad), 1.0
        while rate > 1e-8 and loss(theta - rate * step) > current:
            rate /= 2
        theta, previous = theta - rate * step, current
        current = loss(theta)
        if abs(previous - current) <= 1e-12 * max(1.0, abs(current)):
            break
    a = theta[0] / sd
    return float(a), float(theta[1] - a * mu)


def fit_isotonic(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted non-decreasing least-squares fit (pool adjacent violators); returns knots ``(x, y)``."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels, np.float64)
    w = np.ones_like(s) if weights is None else np.asarray(weights, np.float64)
    xs, inverse = np.unique(s, return_inverse=True)  # ties pooled up front
    wsum = np.bincount(inverse, weights=w)
    ysum = np.bincount(inverse, weights=w * y)
    values, block_w, block_n = [], [], []
    for value, weight in zip(ysum / wsum, wsum):
        values.append(value), block_w.append(weight), block_n.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v2, w2, n2 = values.pop(), block_w.pop(), block_n.pop()
            total = block_w[-1] + w2
            values[-1] = (values[-1] * block_w[-1] + v2 * w2) / total
            block_w[-1], block_n[-1] = total, block_n[-1] + n2
    fitted = np.repeat(values, block_n)
    keep = np.ones(len(xs), bool)  # only the first and last knot of each flat block matter
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return xs[keep], fitted[keep]


@dataclass(frozen=True)
class PlattMapping:
    a: float
    b: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.a * np.asarray(scores, np.float64) + self.b)))

    def inverse(self, probability: float) -> float:
        return float((np.log(probability / (1 - probability)) - self.b) / self.a)

    def to_dict(self) -> dict:
        return {"method": "platt", "a": self.a, "b": self.b}


@dataclass(frozen=True)
class IsotonicMapping:
    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, np.float64), self.x, self.y)

    def inverse(self, probability: float) -> float:
        above = np.nonzero(np.asarray(self.y) >= probability)[0]
        return float(self.x[above[0]]) if len(above) else float("inf")

    def to_dict(self) -> dict:
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}


def _mapping_from_dict(data: dict) -> PlattMapping | IsotonicMapping:
    if data["method"] == "platt":
        return PlattMapping(float(data["a"]), float(data["b"]))
    return IsotonicMapping(tuple(map(float, data["x"])), tuple(map(float, data["y"])))


def in_batch_labels(n: int, groups: Sequence[Any] | None = None) -> np.ndarray:
    """Labels of an n x n in-batch matrix: positives on the diagonal (and wherever two pairs share a group)."""
    if groups is None:
        return np.eye(n)
    g = np.asarray(groups, dtype=object)
    return (g[:, None] == g[None, :]).astype(np.float64)


class Calibrator:
    """Maps raw similarities to calibrated probabilities, per (query modality, document modality)."""

    def __init__(self, method: Method = "platt", *, prior: float | None = 0.5, meta: dict | None = None):
        if method not in ("platt", "isotonic"):
            raise ValueError(f"method must be 'platt' or 'isotonic', got {method!r}")
        if prior is not None and not 0 < prior < 1:
            raise ValueError(f"prior must be between 0 and 1 (exclusive) or None, got {prior!r}")
        self.method, self.prior = method, prior
        self.meta: dict = dict(meta or {})
        self.mappings: dict[PairKey, PlattMapping | IsotonicMapping] = {}
        self.counts: dict[PairKey, tuple[int, int]] = {}

    def fit(self, scores: Sequence[float], labels: Sequence[float], query_modality: str | Sequence[str],
            doc_modality: str | Sequence[str]) -> "Calibrator":
        """Fit one mapping per modality pair present (a modality may be one string for all pairs); returns self."""
        s, y = np.asarray(scores, np.float64).ravel(), (np.asarray(labels, np.float64).ravel() > 0).astype(np.float64)
        if len(s) != len(y):
            raise ValueError(f"{len(s)} scores but {len(y)} labels")
        q = np.full(len(s), query_modality, dtype=object) if isinstance(query_modality, str) else np.asarray(query_modality, object)
        d = np.full(len(s), doc_modality, dtype=object) if isinstance(doc_modality, str) else np.asarray(doc_modality, object)
        for key in sorted({(a, b) for a, b in zip(q, d)}):
            mask = (q == key[0]) & (d == key[1])
            weights = _weights(y[mask], self.prior)
            if self.method == "platt":
                mapping = PlattMapping(*fit_platt(s[mask], y[mask], weights))
            else:
                mapping = IsotonicMapping(*map(tuple, fit_isotonic(s[mask], y[mask], weights)))
            self.mappings[key] = mapping
            self.counts[key] = (int(y[mask].sum()), int((1 - y[mask]).sum()))
        return self

    def fit_in_batch(self, similarities: np.ndarray, query_modality: str, doc_modality: str,
                     groups: Sequence[Any] | None = None) -> "Calibrator":
        """Fit from an in-batch matrix (row i = query i, column j = document j; pair i matches on the diagonal).
        ``groups`` marks off-diagonal pairs that also match (same class), so they are not counted as negatives."""
        sims = np.asarray(similarities, np.float64)
        if sims.ndim != 2 or sims.shape[0] != sims.shape[1]:
            raise ValueError(f"in-batch similarities must be a square matrix, got shape {sims.shape}")
        return self.fit(sims.ravel(), in_batch_labels(len(sims), groups).ravel(), query_modality, doc_modality)

    def has(self, query_modality: str, doc_modality: str) -> bool:
        return (query_modality, doc_modality) in self.mappings

    @property
    def pairs(self) -> list[PairKey]:
        return sorted(self.mappings)

    def transform(self, scores: Any, query_modality: str, doc_modality: str) -> np.ndarray:
        """Calibrated probabilities for raw ``scores`` of one modality pair."""
        return self._mapping(query_modality, doc_modality)(scores)

    def threshold(self, probability: float, query_modality: str, doc_modality: str) -> float:
        """The raw score at which this pair reaches ``probability``."""
        return self._mapping(query_modality, doc_modality).inverse(probability)

    def _mapping(self, query_modality: str, doc_modality: str) -> PlattMapping | IsotonicMapping:
        try:
            return self.mappings[(query_modality, doc_modality)]
        except KeyError:
            fitted = ", ".join(f"{a}->{b}" for a, b in self.pairs) or "none"
            raise KeyError(f"no calibration for {query_modality}->{doc_modality} (fitted: {fitted})") from None

    def to_dict(self) -> dict:
        return {
            "format": "st_multimodal.calibrator", "version": 1, "method": self.method, "prior": self.prior,
            "meta": self.meta,
            "pairs": [{"query": q, "doc": d, "positives": self.counts.get((q, d), (0, 0))[0],
                       "negatives": self.counts.get((q, d), (0, 0))[1], **self.mappings[(q, d)].to_dict()} for q, d in self.pairs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        if data.get("format") != "st_multimodal.calibrator":
            raise ValueError("not a saved st_multimodal Calibrator")
        calibrator = cls(data["method"], prior=data["prior"], meta=data.get("meta"))
        for pair in data["pairs"]:
            key = (pair["query"], pair["doc"])
            calibrator.mappings[key] = _mapping_from_dict(pair)
            calibrator.counts[key] = (pair.get("positives", 0), pair.get("negatives", 0))
        return calibrator

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Calibrator":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        return f"Calibrator({self.method!r}, pairs={[f'{a}->{b}' for a, b in self.pairs]})"


def precision_recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """Precision and recall of ``scores >= threshold`` against binary ``labels`` (precision 1.0 when nothing passes)."""
    predicted, truth = np.asarray(scores) >= threshold, np.asarray(labels) > 0
    tp = float((predicted & truth).sum())
    return (tp / predicted.sum() if predicted.any() else 1.0), (tp / truth.sum() if truth.any() else 1.0)


def fit_from_pairs(
    embed: Callable[[Sequence[Any]], tuple[np.ndarray, list[str]]],
    metric: str,
    pairs: Sequence[tuple[Any, Any, float]] | None = None,
    in_batch: Sequence[tuple[Any, Any]] | None = None,
    groups: Sequence[Any] | None = None,
    **calibrator_kwargs: Any,
) -> Calibrator:
    """Fit a Calibrator from labelled ``(query, document, label)`` triples and/or matching ``(query, document)``
    pairs (in-batch: every other combination is a negative), embedding inputs with ``embed`` (vectors in
    the space they are compared in, and their modalities)."""
    from .backends import pairwise_scores, scores_of

    if pairs is None and in_batch is None:
        raise ValueError("calibration needs labelled pairs or in_batch pairs")
    scores, labels, q_mods, d_mods = [], [], [], []
    if pairs is not None:
        (qv, qm), (dv, dm) = embed([p[0] for p in pairs]), embed([p[1] for p in pairs])
        scores.append(pairwise_scores(qv, dv, metric))
        labels.append(np.array([p[2] for p in pairs], float))
        q_mods, d_mods = q_mods + qm, d_mods + dm
    if in_batch is not None:
        (qv, qm), (dv, dm) = embed([p[0] for p in in_batch]), embed([p[1] for p in in_batch])
        scores.append(scores_of(qv, dv, metric).ravel())
        labels.append(in_batch_labels(len(qv), groups).ravel())
        q_mods += [q for q in qm for _ in dm]  # row-major, like ravel()
        d_mods += [d for _ in qm for d in dm]
    return Calibrator(**calibrator_kwargs).fit(np.concatenate(scores), np.concatenate(labels), q_mods, d_mods)
