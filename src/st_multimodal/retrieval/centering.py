"""Modality-gap centring: subtract each modality's mean embedding, then renormalise.

Contrastive image-text models embed each modality in its own narrow cone ("the modality gap",
Liang et al. 2022): every text is closer to every other text than to any image. Removing the
per-modality mean moves both cones onto the origin, so cross-modal cosines spread over the same
range as within-modality ones. What it does to a given model is measured in ``docs/calibration.md``;
it is off by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["ModalityCentering", "normalize"]


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


class ModalityCentering:
    """Per-modality means of unit-normalised embeddings; ``transform`` subtracts them and renormalises.

    A modality without a fitted mean is left as it is (only normalised), so fit on samples of every
    modality that queries or documents will have.
    """

    def __init__(self, means: dict[str, np.ndarray] | None = None):
        self.means: dict[str, np.ndarray] = {k: np.asarray(v, np.float32) for k, v in (means or {}).items()}

    @classmethod
    def fit(cls, vectors: np.ndarray, modalities: Sequence[str], min_count: int = 2) -> "ModalityCentering":
        """Means per modality of the normalised ``vectors``; modalities with fewer than ``min_count`` rows are skipped."""
        unit = normalize(vectors)
        labels = np.asarray(modalities, dtype=object)
        means = {}
        for modality in sorted(set(labels)):
            rows = unit[labels == modality]
            if len(rows) >= min_count:
                means[modality] = rows.mean(0)
        return cls(means)

    def update(self, other: "ModalityCentering") -> "ModalityCentering":
        """Take ``other``'s means, keeping ours for modalities it lacks; returns self."""
        self.means.update(other.means)
        return self

    def transform(self, vectors: np.ndarray, modalities: Sequence[str] | str) -> np.ndarray:
        """Normalise, subtract the mean of each row's modality, renormalise."""
        unit = normalize(vectors)
        if isinstance(modalities, str):
            modalities = [modalities] * len(unit)
        out = unit.copy()
        labels = np.asarray(modalities, dtype=object)
        for modality, mean in self.means.items():
            mask = labels == modality
            if mask.any():
                out[mask] = unit[mask] - mean
        return normalize(out)

    def gap(self, a: str, b: str) -> float:
        """Distance between the two modalities' mean (unit) embeddings: the size of the modality gap."""
        return float(np.linalg.norm(self.means[a] - self.means[b]))

    def save(self, path: str | os.PathLike) -> None:
        keys = sorted(self.means)
        np.savez(path, modalities=np.array(keys, dtype=str), means=np.stack([self.means[k] for k in keys]) if keys else np.zeros((0, 0)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModalityCentering":
        with np.load(path, allow_pickle=False) as data:
            return cls({str(k): v for k, v in zip(data["modalities"], data["means"])})

    def __repr__(self) -> str:
        return f"ModalityCentering({sorted(self.means)})"
