"""Retrieval scores of a text-image model on shape examples: captions and images embedded in one call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .shapes import CLASSES, ShapeExample, caption

__all__ = ["RetrievalScores", "evaluate_retrieval"]


@dataclass(frozen=True)
class RetrievalScores:
    """Text->image and image->text scores over the 12 class captions and a set of images."""

    text_to_image_recall_at_1: float
    """Share of the captions whose best-scoring image shows that caption's class."""
    text_to_image_r_precision: float
    """Mean over captions of the share of its class's images among its top-n images (n = that class's count)."""
    image_to_text_accuracy: float
    """Share of the images whose best-scoring caption (of the 12) is their own."""
    num_images: int

    def as_dict(self) -> dict[str, float]:
        return {
            "text_to_image_recall_at_1": self.text_to_image_recall_at_1,
            "text_to_image_r_precision": self.text_to_image_r_precision,
            "image_to_text_accuracy": self.image_to_text_accuracy,
            "num_images": self.num_images,
        }


def evaluate_retrieval(model, examples: Iterable[ShapeExample], *, batch_size: int = 64) -> RetrievalScores:
    """Embed the 12 captions and every example's image (as PNG bytes) in ONE ``encode`` call and score them.

    ``model`` is an :class:`st_multimodal.SentenceTransformer` (it takes bytes and text in one list).
    Only classes present among ``examples`` are used as text queries.
    """
    examples = list(examples)
    labels = torch.tensor([ex.label for ex in examples])
    present = sorted(set(labels.tolist()))
    captions = [caption(*CLASSES[i]) for i in present]
    embeddings = model.encode(
        captions + [ex.png() for ex in examples], batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True
    )
    texts, images = embeddings[: len(captions)], embeddings[len(captions) :]
    scores = texts @ images.T  # (captions, images)
    query_labels = torch.tensor(present)
    top1 = labels[scores.argmax(dim=1)]
    r_precision = []
    for row, label in enumerate(present):
        n = int((labels == label).sum())
        top = scores[row].topk(n).indices
        r_precision.append(float((labels[top] == label).float().mean()))
    image_to_text = query_labels[scores.argmax(dim=0)]
    return RetrievalScores(
        text_to_image_recall_at_1=float((top1 == query_labels).float().mean()),
        text_to_image_r_precision=sum(r_precision) / len(r_precision),
        image_to_text_accuracy=float((image_to_text == labels).float().mean()),
        num_images=len(examples),
    )
