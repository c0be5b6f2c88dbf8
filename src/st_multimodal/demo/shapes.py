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
    "AUGMENTED_SIZES",
    "ShapeExample",
    "augmented_examples",
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
WHITE = (255, 255, 255)
AUGMENTED_SIZES: tuple[int, ...] = tuple(v for v in range(19, 59) if not 23 <= v <= 29)
"""Augmented training sizes: 0.3 to 0.9 of the canvas, minus the held-out band (23-29)."""
AUGMENTED_JITTER = 30
_MAX_OFFSET = CANVAS // 4
_MARGIN = 2
_SUPERSAMPLE = 4


def caption(shape: str, colour: str) -> str:
    """The training wording: ``"a {colour} {shape}"``."""
    return f"a {colour} {shape}"


def render_shape(
    shape: str,
    colour: str,
    size: int,
    position: tuple[float, float],
    seed: int = 0,
    *,
    background: tuple[int, int, int] = WHITE,
    line_width: int = 0,
    jitter: int = COLOUR_JITTER,
) -> Image.Image:
    """Draw one ``shape`` in ``colour``, ``size`` px across, centred at ``position`` (x, y) on a plain canvas.

    ``seed`` jitters the colour by up to ``jitter`` per channel. ``background`` is the canvas colour;
    ``line_width`` > 0 draws only the outline, that many px wide (0 fills the shape). The result is a
    fresh 64 x 64 RGB image; the same arguments give the same pixels.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; expected one of {tuple(COLOURS)}")
    rng = random.Random(seed)
    fill = tuple(min(255, max(0, c + rng.randint(-jitter, jitter))) for c in COLOURS[colour])
    k = _SUPERSAMPLE
    big = Image.new("RGB", (CANVAS * k, CANVAS * k), tuple(background))
    draw = ImageDraw.Draw(big)
    cx, cy = position[0] * k, position[1] * k
    half = size * k / 2
    box = (cx - half, cy - half, cx + half, cy + half)
    style = {"fill": fill} if line_width <= 0 else {"outline": fill, "width": line_width * k}
    if shape == "circle":
        draw.ellipse(box, **style)
    elif shape == "square":
        draw.rectangle(box, **style)
    else:
        corners = [(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
        if line_width <= 0:
            draw.polygon(corners, fill=fill)
        else:
            draw.line([*corners, corners[0], corners[1]], fill=fill, width=line_width * k, joint="curve")
    return big.resize((CANVAS, CANVAS), Image.Resampling.BOX)


@dataclass(frozen=True)
class ShapeExample:
    """One (caption, image) pair, rendered on demand."""

    shape: str
    colour: str
    size: int
    position: tuple[int, int]
    seed: int
    background: tuple[int, int, int] = WHITE
    line_width: int = 0
    jitter: int = COLOUR_JITTER

    @property
    def caption(self) -> str:
        return caption(self.shape, self.colour)

    @property
    def label(self) -> int:
        """Index of the class in :data:`CLASSES`."""
        return CLASSES.index((self.shape, self.colour))

    def image(self) -> Image.Image:
        return render_shape(
            self.shape, self.colour, self.size, self.position, self.seed,
            background=self.background, line_width=self.line_width, jitter=self.jitter,
        )

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


def _offset_centre(rng: random.Random, size: int) -> tuple[int, int]:
    """An even centre at most a quarter of the canvas from the middle that keeps the shape inside the margin."""
    low = max(CANVAS // 2 - _MAX_OFFSET, _MARGIN + (size + 1) // 2)
    high = min(CANVAS // 2 + _MAX_OFFSET, CANVAS - _MARGIN - (size + 1) // 2)
    choices = [v for v in range(low, high + 1) if v % 2 == 0]
    return rng.choice(choices), rng.choice(choices)


def _tint(rng: random.Random) -> tuple[int, int, int]:
    """White half the time, otherwise a light tint (every channel 185-255)."""
    if rng.random() < 0.5:
        return WHITE
    return tuple(rng.randint(185, 255) for _ in range(3))


def augmented_examples(per_class: int, seed: int = 0) -> Iterator[ShapeExample]:
    """Training split with augmentation: sizes from :data:`AUGMENTED_SIZES` (0.3-0.9 of the canvas, never
    the held-out band), even centres up to a quarter of the canvas from the middle, light background tints
    on half the images, outlines 2-6 px wide instead of a fill on a third of them, colour jitter up to
    :data:`AUGMENTED_JITTER`. Interleaved class by class, like the other splits."""
    rng = random.Random(f"augmented-{seed}")
    for _ in range(per_class):
        for shape, colour in CLASSES:
            size = rng.choice(AUGMENTED_SIZES)
            centre = _offset_centre(rng, size)
            background = _tint(rng)
            line_width = rng.randint(2, 6) if rng.random() < 1 / 3 else 0
            yield ShapeExample(shape, colour, size, centre, rng.randrange(2**31), background, line_width, AUGMENTED_JITTER)


def heldout_examples(per_class: int, seed: int = 1) -> Iterator[ShapeExample]:
    """Held-out split: sizes from :data:`HELDOUT_SIZES`, centres with odd coordinates: never seen in training."""
    return _examples(per_class, seed, HELDOUT_SIZES, parity=1)
