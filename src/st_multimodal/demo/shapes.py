"""Synthetic coloured shapes on white backgrounds, generated in code, for the demo model.

Every image is a 64 x 64 RGB picture of one shape (circle, square or upward triangle) in one colour
(red, green, blue or yellow) on white, captioned ``"a {colour} {shape}"``: 12 classes.

The two splits never share a size or a position:

==============  ==========================================  =========================================
                training (:func:`training_examples`)        held-out (:func:`heldout_examples`)
==============  ==========================================  =========================================
size (px)       12-22 and 30-40, even values only           23-29, every value (a band never trained)
centre (x, y)   both coordinates even                       both coordinates odd
==============  ==========================================  =========================================

Sizes are the side of the shape's bounding box; a centre keeps the whole shape inside the canvas
with a 2 px margin. Each example's ``seed`` jitters its colour by up to ``COLOUR_JITTER`` per channel.
Shapes are drawn at 4x and downsampled, so their edges are anti-aliased.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product

from PIL import Image, ImageDraw

__all__ = [
    "CANVAS",
    "CLASSES",
    "COLOURS",
    "HELDOUT_SIZES",
    "SHAPES",
    "TRAIN_SIZES",
    "ShapeExample",
    "caption",
    "heldout_examples",
    "render_shape",
    "training_examples",
]

CANVAS = 64
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
}
CLASSES: tuple[tuple[str, str], ...] = tuple((shape, colour) for colour, shape in product(COLOURS, SHAPES))
"""The 12 (shape, colour) classes, in a fixed order."""
TRAIN_SIZES: tuple[int, ...] = (12, 14, 16, 18, 20, 22, 30, 32, 34, 36, 38, 40)
HELDOUT_SIZES: tuple[int, ...] = (23, 24, 25, 26, 27, 28, 29)
COLOUR_JITTER = 15
_MARGIN = 2
_SUPERSAMPLE = 4


def caption(shape: str, colour: str) -> str:
    """The training wording: ``"a {colour} {shape}"``."""
    return f"a {colour} {shape}"


def render_shape(
    shape: str, colour: str, size: int, position: tuple[float, float], seed: int = 0
) -> Image.Image:
    """Draw one ``shape`` in ``colour``, ``size`` px across, centred at ``position`` (x, y) on a white canvas.

    ``seed`` jitters the colour by up to ``COLOUR_JITTER`` per channel. The result is a fresh 64 x 64
    RGB image; the same arguments give the same pixels.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; expected one of {tuple(COLOURS)}")
    rng = random.Random(seed)
    fill = tuple(min(255, max(0, c + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for c in COLOURS[colour])
    k = _SUPERSAMPLE
    big = Image.new("RGB", (CANVAS * k, CANVAS * k), (255, 255, 255))
    draw = ImageDraw.Draw(big)
    cx, cy = position[0] * k, position[1] * k
    half = size * k / 2
    box = (cx - half, cy - half, cx + half, cy + half)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)], fill=fill)
    return big.resize((CANVAS, CANVAS), Image.Resampling.BOX)


@dataclass(frozen=True)
class ShapeExample:
    """One (caption, image) pair, rendered on demand."""

    shape: str
    colour: str
    size: int
    position: tuple[int, int]
    seed: int

    @property
    def caption(self) -> str:
        return caption(self.shape, self.colour)

    @property
    def label(self) -> int:
        """Index of the class in :data:`CLASSES`."""
        return CLASSES.index((self.shape, self.colour))

    def image(self) -> Image.Image:
        return render_shape(self.shape, self.colour, self.size, self.position, self.seed)

    def png(self) -> bytes:
        """The image as PNG bytes."""
        buffer = io.BytesIO()
        self.image().save(buffer, format="PNG")
        return buffer.getvalue()


def _centre(rng: random.Random, size: int, parity: int) -> tuple[int, int]:
    """A centre with both coordinates of ``parity`` (0 even, 1 odd) that keeps the shape inside the margin."""
    low = _MARGIN + (size + 1) // 2
    high = CANVAS - _MARGIN - (size + 1) // 2
    choices = [v for v in range(low, high + 1) if v % 2 == parity]
    return rng.choice(choices), rng.choice(choices)


def _examples(per_class: int, seed: int, sizes: tuple[int, ...], parity: int) -> Iterator[ShapeExample]:
    """``per_class`` examples of each class, interleaved class by class (balanced in every prefix of 12)."""
    rng = random.Random(seed)
    for _ in range(per_class):
        for shape, colour in CLASSES:
            size = rng.choice(sizes)
            yield ShapeExample(shape, colour, size, _centre(rng, size, parity), rng.randrange(2**31))


def training_examples(per_class: int, seed: int = 0) -> Iterator[ShapeExample]:
    """Training split: sizes from :data:`TRAIN_SIZES`, centres with even coordinates (see module docstring)."""
    return _examples(per_class, seed, TRAIN_SIZES, parity=0)


def heldout_examples(per_class: int, seed: int = 1) -> Iterator[ShapeExample]:
    """Held-out split: sizes from :data:`HELDOUT_SIZES`, centres with odd coordinates: never seen in training."""
    return _examples(per_class, seed, HELDOUT_SIZES, parity=1)
