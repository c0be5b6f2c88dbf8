"""Texts the demo model cannot know: negatives for training and for calibration.

The demo model knows 12 classes, a circle, square or triangle in red, green, blue or yellow. Every text
made here describes something else (an animal, an object, a scene, a shape or a colour it never saw,
or no picture at all), so no demo picture matches it. :func:`unknown_texts` draws them from two
disjoint word pools: ``"train"`` for the training script, ``"calibration"`` for fitting calibrators.
The words in :data:`RESERVED_WORDS` appear in neither pool; tests use them to check texts the model
has never been shown.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["RESERVED_WORDS", "UNKNOWN_POOLS", "unknown_texts"]

_TEMPLATES = (
    "a photo of a {noun}", "a {adjective} {noun}", "the {noun} is {adjective}", "{noun}", "a picture of {noun}s",
    "a {known_colour} {noun}", "a {other_colour} {known_shape}", "a {known_colour} {other_shape}",
    "an image of the {noun} and the {noun2}", "{noun} {noun2} {noun3}", "how do i {verb} the {noun}",
    "the {noun} {verb}s in the {place}", "{letters}", "{number}",
)

UNKNOWN_POOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "noun": ("dog", "house", "car", "tree", "river", "computer", "bicycle", "flower", "chair", "horse",
                 "bottle", "guitar", "train", "apple", "city", "book", "phone", "shoe", "boat", "bird"),
        "adjective": ("old", "happy", "wooden", "fast", "quiet", "tall", "broken", "shiny"),
        "other_colour": ("purple", "pink", "brown", "black", "grey", "turquoise"),
        "other_shape": ("star", "hexagon", "heart", "cross", "arrow"),
        "verb": ("open", "paint", "clean", "drive", "find"),
        "place": ("garden", "street", "kitchen", "forest"),
    },
    "calibration": {
        "noun": ("kettle", "lamp", "bridge", "sandwich", "laptop", "umbrella", "rabbit", "window", "ship", "violin"),
        "adjective": ("new", "sad", "metal", "slow", "ancient", "bright"),
        "other_colour": ("cyan", "magenta", "beige", "navy"),
        "other_shape": ("octagon", "crescent", "spiral", "moon"),
        "verb": ("fix", "move", "wash", "sell"),
        "place": ("park", "office", "harbour"),
    },
}
"""Disjoint word pools (apart from the 12 classes' own colours and shapes, which both use in mixed texts).

No pool holds "white": the pictures are drawn on white, so "a red circle on white" describes them."""

RESERVED_WORDS = frozenset(
    "cat soup bowl bread stock prices fell sharply today snowy mountains sunset orange pentagon reset password "
    "weather tomorrow coffee".split()
)
"""Words in no pool: texts built from them are unseen by the demo model and its calibrator."""

_KNOWN_COLOURS = ("red", "green", "blue", "yellow")
_KNOWN_SHAPES = ("circle", "square", "triangle")


def unknown_texts(n: int, pool: str = "train", seed: int = 0) -> Iterator[str]:
    """``n`` texts that describe none of the 12 classes, drawn reproducibly from one word pool."""
    words = UNKNOWN_POOLS[pool]
    rng = random.Random(f"unknown-{pool}-{seed}")
    for _ in range(n):
        template = rng.choice(_TEMPLATES)
        nouns = rng.sample(words["noun"], 3)
        yield template.format(
            noun=nouns[0], noun2=nouns[1], noun3=nouns[2], adjective=rng.choice(words["adjective"]),
            known_colour=rng.choice(_KNOWN_COLOURS), known_shape=rng.choice(_KNOWN_SHAPES),
            other_colour=rng.choice(words["other_colour"]), other_shape=rng.choice(words["other_shape"]),
            verb=rng.choice(words["verb"]), place=rng.choice(words["place"]),
            letters="".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(3, 14))).strip() or "x",
            number=str(rng.randint(0, 99999)),
        )
