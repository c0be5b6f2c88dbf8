"""Held-out pairs the demo calibrates its text->image scores on.

Positives and negatives come from held-out pictures (sizes and positions never trained on, a seed the
demo's own collection does not use): every caption against every picture, a match when the classes are
equal. Texts the model cannot know (:func:`~st_multimodal.demo.unknown.unknown_texts`, calibration pool)
add negatives against one picture of each class, so an unknown query maps to a low probability.
"""

from __future__ import annotations

from dataclasses import dataclass

from .shapes import heldout_examples
from .unknown import unknown_texts

__all__ = ["CalibrationSet", "calibration_set"]


@dataclass(frozen=True)
class CalibrationSet:
    """Arguments for :meth:`st_multimodal.MultimodalIndex.calibrate`."""

    in_batch: list[tuple[str, bytes]]
    """(caption, PNG bytes) pairs; every other combination is a negative unless the classes are equal."""
    groups: list[str]
    """Each in-batch pair's class caption."""
    pairs: list[tuple[str, bytes, float]]
    """(unknown text, PNG bytes, 0.0): negatives for texts that describe none of the classes."""

    @property
    def num_pairs(self) -> int:
        """How many (query, picture) pairs the calibrator is fitted on."""
        return len(self.in_batch) ** 2 + len(self.pairs)

    def kwargs(self) -> dict:
        return {"in_batch": self.in_batch, "groups": self.groups, "pairs": self.pairs}


def calibration_set(per_class: int = 3, unknown: int = 24, seed: int = 2) -> CalibrationSet:
    """``per_class`` held-out pictures per class, and ``unknown`` unknown texts each against one picture per class."""
    examples = list(heldout_examples(per_class, seed=seed))
    in_batch = [(ex.caption, ex.png()) for ex in examples]
    one_per_class = in_batch[:12]  # examples come interleaved class by class
    pairs = [(text, png, 0.0) for text in unknown_texts(unknown, pool="calibration", seed=seed) for _, png in one_per_class]
    return CalibrationSet(in_batch=in_batch, groups=[ex.caption for ex in examples], pairs=pairs)
