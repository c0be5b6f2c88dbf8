"""The demo model on coloured shapes drawn by other code: its own renderer is not used here.

This drawer paints with plain ``ImageDraw`` at other canvas sizes (72-128 px, the model's processor
resizes them), without supersampling, with other colour values, equilateral triangles, other sizes and
offsets, off-white backgrounds, and two layouts of outlines instead of fills. Each layout holds one picture of each of the 12 classes; the 12
captions query them (text->image recall@1 per layout).
"""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image, ImageDraw

from st_multimodal.demo import CLASSES, caption, demo_model

PAINT = {"red": (205, 25, 35), "green": (25, 150, 70), "blue": (30, 60, 200), "yellow": (245, 215, 40)}
# (canvas px, shape size as a share of the canvas, centre offset as a share of the canvas, background,
#  outline width in px: 0 fills the shape)
LAYOUTS = (
    (72, 0.35, (0.2, -0.2), (255, 255, 255), 0),
    (96, 0.5, (0.0, 0.0), (245, 245, 240), 0),
    (96, 0.8, (0.05, -0.05), (255, 255, 255), 0),
    (128, 0.45, (-0.22, 0.18), (250, 244, 228), 0),
    (128, 0.65, (0.12, 0.1), (235, 240, 250), 0),
    (80, 0.6, (-0.1, -0.15), (255, 255, 255), 0),
    (112, 0.3, (0.24, 0.24), (240, 240, 240), 0),
    (100, 0.88, (0.0, 0.02), (250, 250, 250), 0),
    (90, 0.55, (0.15, 0.0), (255, 255, 255), 4),
    (120, 0.7, (-0.08, 0.1), (245, 240, 235), 7),
)


def paint(
    shape: str, colour: str, canvas: int, share: float, offset: tuple[float, float], background, outline: int = 0
) -> Image.Image:
    image = Image.new("RGB", (canvas, canvas), background)
    draw = ImageDraw.Draw(image)
    radius = share * canvas / 2
    cx, cy = canvas / 2 + offset[0] * canvas, canvas / 2 + offset[1] * canvas
    style = {"fill": PAINT[colour]} if not outline else {"outline": PAINT[colour], "width": outline}
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), **style)
    elif shape == "square":
        draw.regular_polygon((cx, cy, radius * math.sqrt(2)), 4, rotation=0, **style)
    else:  # equilateral, pointing up, its circumcircle inside the box
        draw.regular_polygon((cx, cy + radius / 4, radius), 3, rotation=0, **style)
    return image


@pytest.fixture(scope="module")
def recalls() -> list[float]:
    model = demo_model()
    captions = [caption(shape, colour) for shape, colour in CLASSES]
    text = model.encode(captions, convert_to_tensor=True)
    result = []
    for canvas, share, offset, background, outline in LAYOUTS:
        pictures = [paint(shape, colour, canvas, share, offset, background, outline) for shape, colour in CLASSES]
        images = model.encode(pictures, convert_to_tensor=True)
        best = model.similarity(text, images).argmax(dim=1)
        result.append(float((best == torch.arange(len(CLASSES))).float().mean()))
    return result


def test_drawer_draws_what_it_says():
    square = paint("square", "blue", 100, 0.5, (0, 0), (255, 255, 255))
    assert square.getpixel((50, 50)) == PAINT["blue"]
    assert square.getpixel((27, 27)) == PAINT["blue"] and square.getpixel((22, 22)) == (255, 255, 255)  # corners kept
    circle = paint("circle", "red", 100, 0.5, (0, 0), (255, 255, 255))
    assert circle.getpixel((27, 27)) == (255, 255, 255) and circle.getpixel((50, 27)) == PAINT["red"]
    triangle = paint("triangle", "green", 100, 0.5, (0, 0), (255, 255, 255))
    assert triangle.getpixel((50, 40)) == PAINT["green"] and triangle.getpixel((35, 40)) == (255, 255, 255)  # apex up


def test_text_to_image_recall_on_independently_drawn_shapes(recalls):
    mean = sum(recalls) / len(recalls)
    assert mean >= 0.95, f"recall@1 per layout: {[round(r, 3) for r in recalls]}"
    assert min(recalls) >= 0.8, f"recall@1 per layout: {[round(r, 3) for r in recalls]}"
