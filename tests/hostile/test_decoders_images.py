"""Image memory amplification: peak memory per item follows from the limits (bytes per pixel of every buffer).

Each 9000x9000 case below lies inside ``max_pixels`` and once cost 0.4-2.3 GB; each runs in a forked
child with an address-space cap.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from st_multimodal.decoders import normalize_image
from st_multimodal.testing.decoding import decode_bytes as decode_input
from st_multimodal.decoders import image_modes
from st_multimodal.decoders.image import open_image
from st_multimodal.decoders.image_modes import decode_bytes
from st_multimodal.errors import LimitExceededError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import bombs, media
from st_multimodal.testing.isolation import MB, run_isolated
from st_multimodal.types import ResolveContext

HOSTILE = {
    "webp canvas, one 1x1 frame": lambda side: bombs.webp_canvas(side),
    "int32 tiff": lambda side: bombs.tiff_flat(side, 2),
    "16-bit png": lambda side: bombs.png_gray16(side),
    "palette png with transparency": lambda side: bombs.png_palette_transparent(side),
    "float tiff": lambda side: bombs.tiff_flat(side, 3),
    "1-bit png": lambda side: bombs.png_1bit(side),
}


def decoded_size(data: bytes, limits: DecodeLimits) -> tuple[int, int]:
    return decode_input(data, ResolveContext(limits=limits), source="upload").value.size


@pytest.mark.parametrize("name", sorted(HOSTILE))
class TestHostileImages:
    def test_refused_before_decoding_with_the_default_limits(self, name):
        outcome = run_isolated(decoded_size, HOSTILE[name](9000), DecodeLimits(), address_space=1_000 * MB)
        assert outcome.error_type == "LimitExceededError", (outcome.error, outcome.killed)
        assert outcome.error.limit_name == "max_item_bytes"
        assert outcome.rss_growth < 200 * MB and outcome.seconds < 1.0, (outcome.rss_growth_mb, outcome.seconds)

    def test_with_a_larger_budget_the_peak_stays_within_the_estimate(self, name):
        limits = DecodeLimits(max_item_bytes=2**31)
        data = HOSTILE[name](4000)
        estimate = decode_bytes(open_image(data, limits), limits)
        outcome = run_isolated(decoded_size, data, limits, address_space=2_000 * MB)
        assert outcome.value == (4000, 4000), (outcome.error, outcome.killed)
        # The estimate counts pixel buffers; the call also allocates a little of its own (plugin code imported
        # on first use, Python objects): 4 MB of slack, against estimates of 60-200 MB here.
        assert outcome.rss_growth <= estimate + 4 * MB, (outcome.rss_growth_mb, estimate / MB)


class TestLoweredBudget:
    def test_an_image_that_fits_stays_under_it(self):
        limits = DecodeLimits(max_item_bytes=100 * 2**20)
        outcome = run_isolated(decoded_size, bombs.png_gray16(3000), limits, address_space=1_000 * MB)
        assert outcome.value == (3000, 3000), outcome.error
        assert outcome.rss_growth < limits.max_item_bytes

    def test_one_that_does_not_is_refused_naming_the_limit(self):
        with pytest.raises(LimitExceededError) as info:
            decoded_size(bombs.png_gray16(3000), DecodeLimits(max_item_bytes=32 * 2**20))
        assert info.value.limit_name == "max_item_bytes" and info.value.actual > 32 * 2**20


def _save(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


class TestStrips:
    @pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "I", "F", "1", "L", "CMYK"])
    def test_strips_give_the_pixels_of_one_pass(self, mode, monkeypatch):
        rgba = media.rgba_image(3, 700, 300)
        if mode in ("I;16", "I"):
            values = (np.arange(700 * 300).reshape(300, 700) * 3) % 70000
            img = Image.fromarray(values.astype(np.uint16 if mode == "I;16" else np.int32))
        elif mode == "F":
            img = Image.fromarray((np.arange(700 * 300).reshape(300, 700) / (700 * 300)).astype(np.float32))
        elif mode == "P":
            img = rgba.convert("RGB").convert("P", palette=Image.ADAPTIVE)
            img.info["transparency"] = 5
        else:
            img = rgba.convert(mode)
        whole = normalize_image(img.copy())
        monkeypatch.setattr(image_modes, "STRIP_PIXELS", 5_000)
        assert whole.tobytes() == normalize_image(img.copy()).tobytes()

    def test_float_range_is_checked_over_the_whole_image(self, monkeypatch):
        values = np.zeros((300, 700), np.float32)
        values[-1, -1] = 200.0
        monkeypatch.setattr(image_modes, "STRIP_PIXELS", 5_000)
        with pytest.raises(Exception, match=r"\[0, 200\]"):
            normalize_image(Image.fromarray(values))

    def test_deadline_between_strips(self, monkeypatch):
        monkeypatch.setattr(image_modes, "STRIP_PIXELS", 5_000)
        with pytest.raises(LimitExceededError) as info:
            normalize_image(media.rgba_image(1, 700, 300), DecodeLimits(max_decode_seconds=1e-9))
        assert info.value.limit_name == "max_decode_seconds"


class TestSixteenBitTransparency:
    def test_grey16_trns_is_composited_onto_the_background(self):
        img = decode_input(bombs.png_gray16_trns(8, 4), ResolveContext(), source="i_trns.png").value
        pixels = np.asarray(img)
        assert (pixels[:, :4] == 255).all()  # grey 0 is the tRNS key: transparent, so white
        assert (pixels[:, 4:] == 128).all()  # 0x8080 is opaque grey

    def test_same_as_the_8_bit_file(self):
        eight = Image.fromarray(np.array([[0, 0, 128, 128]] * 2, np.uint8), mode="L")
        eight_png = _save(eight, transparency=0)
        as8 = decode_input(eight_png, ResolveContext(), source="8.png").value
        as16 = decode_input(bombs.png_gray16_trns(4, 2), ResolveContext(), source="16.png").value
        assert np.array_equal(np.asarray(as8), np.asarray(as16))
