"""Content decides, the same for every form: long data: URIs, sniffing by content, state independence,
first real frames, shape limits and error messages that describe rather than quote."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from st_multimodal import resolve
from st_multimodal.errors import LimitExceededError, MultimodalInputError
from st_multimodal.policy import FetchPolicy
from st_multimodal.resolvers.strings import is_location
from st_multimodal.testing import media
from st_multimodal.types import ResolveContext

CTX = ResolveContext()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def noisy_png(w: int = 256, h: int = 256) -> bytes:
    """A PNG whose data: URI is far longer than 4,096 characters (noise does not compress)."""
    pixels = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def pixels(value) -> np.ndarray:
    return np.asarray(resolve(value, CTX).value)


class TestLongDataUris:
    def test_a_long_image_data_uri_is_a_location_and_decodes_like_its_bytes(self):
        data = noisy_png()
        uri = data_uri(data, "image/png")
        assert len(uri) > 100_000 and is_location(uri)
        resolved = resolve(uri, CTX)
        assert resolved.modality == "image"
        assert np.array_equal(np.asarray(resolved.value), pixels(data))

    def test_a_long_pdf_data_uri_is_a_location(self):
        assert is_location("data:application/pdf;base64," + "A" * 10_000)

    def test_its_size_is_bounded_by_max_bytes(self):
        uri = data_uri(noisy_png(), "image/png")
        with pytest.raises(LimitExceededError) as info:
            resolve(uri, CTX.replace(fetch_policy=FetchPolicy(max_bytes=10_000)))
        assert info.value.limit_name == "max_bytes"

    def test_long_untyped_strings_stay_text(self):
        assert not is_location("data:," + "A" * 5000)
        assert not is_location("photos/" + "a" * 5000 + ".jpg")
