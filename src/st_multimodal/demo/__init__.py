"""A small demonstration model (coloured shapes) shipped with the package, and the data it was trained on.

>>> from st_multimodal.demo import demo_model, heldout_examples
>>> model = demo_model()                                              # doctest: +SKIP
>>> model.similarity(model.encode(["a red circle"]), model.encode([ex.png() for ex in heldout_examples(1)]))  # doctest: +SKIP

The model only knows 12 captions, ``"a {colour} {shape}"``; it is not a general-purpose model. Its
model card (``bundled_model/README.md``) gives its held-out scores and the command that retrains it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .evaluation import RetrievalScores, evaluate_retrieval
from .shapes import (
    CLASSES,
    COLOURS,
    HELDOUT_SIZES,
    SHAPES,
    TRAIN_SIZES,
    ShapeExample,
    caption,
    heldout_examples,
    render_shape,
    training_examples,
)

if TYPE_CHECKING:
    from ..models import SentenceTransformer

__all__ = [
    "CLASSES",
    "COLOURS",
    "HELDOUT_SIZES",
    "SHAPES",
    "TRAIN_SIZES",
    "RetrievalScores",
    "ShapeExample",
    "caption",
    "demo_model",
    "demo_model_path",
    "evaluate_retrieval",
    "heldout_examples",
    "render_shape",
    "training_examples",
]


def demo_model_path() -> Path:
    """The folder of the shipped demo model (``st_multimodal/demo/bundled_model``)."""
    return Path(__file__).resolve().parent / "bundled_model"


def demo_model(**kwargs: Any) -> SentenceTransformer:
    """Load the shipped demo model as an :class:`st_multimodal.SentenceTransformer` (offline, about 2 MB).

    Keyword arguments go to the constructor (``device``, ``fetch_policy``, ``limits``, ...); the
    device defaults to ``"cpu"``, which is all a model this small needs.
    """
    from ..models import SentenceTransformer

    path = demo_model_path()
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(
            f"the demo model is missing from {path}; rebuild it with `python scripts/train_demo_model.py`"
        )
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("local_files_only", True)
    return SentenceTransformer(str(path), **kwargs)
