"""The synthetic shapes: deterministic rendering, balanced classes, and splits that share no size or position."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from st_multimodal.demo import shapes


class TestRenderShape:
    @pytest.mark.parametrize("shape, area, centroid", [
        ("circle", np.pi * 10**2, (30, 26)),
        ("square", 20 * 20, (30, 26)),
        ("triangle", 20 * 20 / 2, (30, 16 + 20 * 2 / 3)),  # apex up: the centroid is two thirds down
    ])
    def test_drawn_where_and_as_large_as_asked(self, shape, area, centroid):
        img = shapes.render_shape(shape, "blue", 20, (30, 26), seed=3)
        assert img.mode == "RGB" and img.size == (shapes.CANVAS, shapes.CANVAS)
        red = np.asarray(img)[..., 0].astype(float)  # blue ink: the red channel has the most contrast with white
        fill = red[26, 30]
        coverage = (255 - red) / (255 - fill)  # 1 inside the shape, 0 on white, a fraction on the edge
        assert coverage.sum() == pytest.approx(area, rel=0.03)
        rows, cols = np.mgrid[0 : shapes.CANVAS, 0 : shapes.CANVAS] + 0.5  # pixel centres
        got = ((coverage * cols).sum() / coverage.sum(), (coverage * rows).sum() / coverage.sum())
        assert got == pytest.approx(centroid, abs=0.3)

    def test_seed_jitters_the_colour_within_its_bound(self):
        fills = {tuple(np.asarray(shapes.render_shape("square", "blue", 20, (32, 32), seed=s))[32, 32]) for s in range(8)}
        assert len(fills) > 1
        assert all(abs(int(c) - ref) <= shapes.COLOUR_JITTER for fill in fills for c, ref in zip(fill, shapes.COLOURS["blue"]))

    def test_shape_is_drawn_in_its_colour_on_white(self):
        img = np.asarray(shapes.render_shape("square", "red", 20, (32, 32), seed=0)).astype(int)
        assert (img[0, 0] == 255).all()  # white corner
        r, g, b = img[32, 32]
        assert r > 180 and g < 80 and b < 80

    def test_shapes_differ(self):
        arrays = [np.asarray(shapes.render_shape(s, "green", 30, (32, 32), seed=0)) for s in shapes.SHAPES]
        assert not np.array_equal(arrays[0], arrays[1]) and not np.array_equal(arrays[1], arrays[2])

    @pytest.mark.parametrize("shape, colour", [("hexagon", "red"), ("circle", "crimson")])
    def test_unknown_names_are_refused(self, shape, colour):
        with pytest.raises(ValueError):
            shapes.render_shape(shape, colour, 20, (32, 32))


class TestSplits:
    def test_balanced_and_captioned(self):
        examples = list(shapes.training_examples(3))
        assert Counter(ex.caption for ex in examples) == {shapes.caption(s, c): 3 for s, c in shapes.CLASSES}
        assert examples[0].caption == "a red circle"

    def test_heldout_shares_no_size_or_position_with_training(self):
        train = list(shapes.training_examples(50))
        heldout = list(shapes.heldout_examples(50))
        assert {ex.size for ex in train} <= set(shapes.TRAIN_SIZES)
        assert {ex.size for ex in heldout} <= set(shapes.HELDOUT_SIZES)
        assert not set(shapes.TRAIN_SIZES) & set(shapes.HELDOUT_SIZES)
        assert not {ex.position for ex in train} & {ex.position for ex in heldout}

    def test_shapes_stay_inside_the_canvas(self):
        for ex in list(shapes.training_examples(20)) + list(shapes.heldout_examples(20)):
            half = (ex.size + 1) // 2
            assert all(half <= v <= shapes.CANVAS - half for v in ex.position)

    def test_png_round_trips(self):
        import io

        ex = next(shapes.heldout_examples(1))
        decoded = Image.open(io.BytesIO(ex.png())).convert("RGB")
        assert np.array_equal(np.asarray(decoded), np.asarray(ex.image()))
