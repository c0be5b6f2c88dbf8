"""Images: every format decodes, every form of one picture gives the same pixels, bombs are refused early."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from st_multimodal.decoders import image_from_array, normalize_image
from st_multimodal.decoders.image import apply_jpeg_draft, check_pixels, open_image
from st_multimodal.errors import DecodeError, LimitExceededError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.decoding import decode_bytes, image_pixels
from st_multimodal.types import ResolveContext

CTX = ResolveContext()


def decode(data: bytes, ctx: ResolveContext = CTX, **kw):
    """The decoded image as ``encode`` gets it (a PIL image, or a CHW tensor for plain JPEGs)."""
    return decode_bytes(data, ctx, **kw).value


def pixels(img) -> np.ndarray:
    return image_pixels(img)


def size(img) -> tuple[int, int]:
    return img.size if hasattr(img, "getpixel") else (img.shape[2], img.shape[1])


class TestImageDecoder:
    @pytest.mark.parametrize(
        "make, fmt, shows_test_picture",
        [(media.jpeg_bytes, "jpeg", True), (media.png_bytes, "png", True), (media.png_rgba_bytes, "png", False),
         (media.png16_bytes, "png", False), (media.cmyk_jpeg_bytes, "jpeg", True),
         (media.gif_animated_bytes, "gif", False), (media.bmp_bytes, "bmp", True), (media.tiff_bytes, "tiff", True),
         (media.webp_bytes, "webp", True)],
    )
    def test_each_format_decodes_to_rgb(self, make, fmt, shows_test_picture):
        data = make()
        resolved = decode_bytes(data, CTX)
        width, height = Image.open(io.BytesIO(data)).size
        assert resolved.modality == "image"
        assert pixels(resolved.value).shape == (height, width, 3)
        assert resolved.provenance.mime == fmt
        assert resolved.provenance.decoded_size == size(resolved.value) == (width, height)
        if shows_test_picture:  # the picture itself, not just its shape
            assert np.abs(pixels(resolved.value) - pixels(media.image())).mean() < 8

    def test_plain_jpeg_takes_the_tensor_path_with_pillows_pixels(self):
        data = media.jpeg_bytes()
        fast = decode(data)
        assert not hasattr(fast, "getpixel") and tuple(fast.shape) == (3, 48, 64)
        assert np.array_equal(pixels(fast), np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16))

    @pytest.mark.parametrize("make", [media.png_bytes, media.bmp_bytes, media.tiff_bytes, media.webp_bytes])
    def test_lossless_formats_are_exact(self, make):
        assert np.array_equal(pixels(decode(make())), pixels(media.image()))

    def test_cmyk_is_close_to_the_rgb_original(self):
        diff = np.abs(pixels(decode(media.cmyk_jpeg_bytes())) - pixels(media.image()))
        assert diff.mean() < 8

    def test_truncated_jpeg_is_a_decode_error(self):
        with pytest.raises(DecodeError, match="truncated"):
            decode(media.truncated_jpeg_bytes())

    def test_html_served_as_jpeg_is_a_decode_error(self):
        with pytest.raises(DecodeError, match="HTML"):
            decode(media.html_bytes(), mime="image/jpeg", name="photo.jpg")

    def test_garbage_with_image_mime_is_a_decode_error(self):
        with pytest.raises(DecodeError, match="unknown media format"):
            decode(b"\x00\x01garbage" * 10, mime="image/png")


class TestNormalizeImage:
    def test_every_form_of_one_jpeg_gives_the_same_pixels(self):
        data = media.jpeg_bytes()
        reference = pixels(decode(data))
        as_uint8 = reference.astype(np.uint8)
        forms = {
            "pil": normalize_image(Image.open(io.BytesIO(data))),
            "uint8": image_from_array(as_uint8),
            "float01": image_from_array(as_uint8.astype(np.float32) / 255),
            "torch_chw": image_from_array(torch.from_numpy(as_uint8).permute(2, 0, 1).contiguous()),
            "torch_chw_float": image_from_array(torch.from_numpy(as_uint8).permute(2, 0, 1).float() / 255),
        }
        for name, img in forms.items():
            assert np.abs(pixels(img) - reference).max() <= 1, name

    def test_exif_rotated_jpeg_decodes_upright(self):
        data, upright = media.exif_rotated_jpeg_bytes()
        decoded = decode(data)
        assert size(decoded) == (64, 48)
        assert np.array_equal(pixels(decoded), pixels(upright))
        assert np.abs(pixels(decoded) - pixels(media.image())).mean() < 6  # and not rotated the wrong way

    def test_exif_rotation_is_the_same_for_pil_objects(self):
        data, upright = media.exif_rotated_jpeg_bytes()
        assert np.array_equal(pixels(normalize_image(Image.open(io.BytesIO(data)))), pixels(upright))

    def test_rgba_png_and_rgba_pil_composite_identically(self):
        from_png = decode(media.png_rgba_bytes())
        from_pil = normalize_image(media.rgba_image())
        from_array = image_from_array(np.asarray(media.rgba_image()))
        assert np.array_equal(pixels(from_png), pixels(from_pil))
        assert np.array_equal(pixels(from_png), pixels(from_array))
        assert (pixels(from_png)[:, :16] == 255).all()  # transparent band shows the white background

    def test_background_colour_comes_from_the_limits(self):
        img = normalize_image(media.rgba_image(), DecodeLimits(image_background=(0, 0, 0)))
        assert (pixels(img)[:, :16] == 0).all()

    def test_palette_with_transparency_is_composited(self):
        img = Image.new("P", (4, 4), 0)
        img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
        img.info["transparency"] = 0
        assert (pixels(normalize_image(img)) == 255).all()

    def test_16_bit_png_is_scaled_not_clipped(self):
        expected = np.round(media.png16_array().astype(np.float64) / 257).astype(np.int16)
        got = pixels(decode(media.png16_bytes()))
        assert np.array_equal(got[..., 0], expected)
        assert np.array_equal(pixels(image_from_array(media.png16_array(), layout="HW")), got)

    def test_float_mode_image(self):
        img = Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F")
        assert (pixels(normalize_image(img)) == 128).all()

    @pytest.mark.parametrize("mode", ["1", "L", "P", "I", "LA", "CMYK", "YCbCr"])
    def test_other_modes_become_rgb(self, mode):
        assert normalize_image(media.image().convert(mode)).mode == "RGB"

    def test_animated_frame_is_chosen_by_the_limits(self):
        data = media.gif_animated_bytes()
        assert tuple(pixels(decode(data))[0, 0]) == (255, 0, 0)
        second = decode(data, ResolveContext(limits=DecodeLimits(animated_frame=1)))
        assert tuple(pixels(second)[0, 0]) == (0, 255, 0)
        last = decode(data, ResolveContext(limits=DecodeLimits(animated_frame=99)))
        assert tuple(pixels(last)[0, 0]) == (0, 0, 255)

    def test_user_image_is_left_on_its_frame(self):
        img = Image.open(io.BytesIO(media.gif_animated_bytes()))
        img.seek(2)
        normalize_image(img)
        assert img.tell() == 2


class TestPixelBudget:
    def test_check_pixels(self):
        check_pixels((10, 10), DecodeLimits(max_pixels=100))
        with pytest.raises(LimitExceededError) as info:
            check_pixels((10, 11), DecodeLimits(max_pixels=100))
        assert (info.value.limit_name, info.value.limit, info.value.actual) == ("max_pixels", 100, 110)

    @pytest.mark.parametrize("pillow_limit", ["default", None])
    def test_bomb_rejected_before_decoding(self, monkeypatch, pillow_limit):
        psutil = pytest.importorskip("psutil")
        if pillow_limit is None:  # our budget must hold even when someone switches Pillow's check off
            monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
        data = media.png_bomb_bytes(400)
        before = psutil.Process().memory_info().rss
        with pytest.raises(LimitExceededError) as info:
            decode(data)
        assert psutil.Process().memory_info().rss - before < 100 * 2**20
        assert info.value.limit_name == "max_pixels" and info.value.actual == 400_000_000

    def test_small_budget_applies_to_ordinary_images(self):
        with pytest.raises(LimitExceededError):
            decode(media.jpeg_bytes(), ResolveContext(limits=DecodeLimits(max_pixels=100)))
        with pytest.raises(LimitExceededError):
            normalize_image(media.image(), DecodeLimits(max_pixels=100))


class TestJpegDraft:
    def test_draft_reduces_large_jpegs_but_not_below_the_target(self):
        img = open_image(media.jpeg_bytes(w=640, h=480))
        apply_jpeg_draft(img, (100, 100))
        assert img.size == (160, 120)

    def test_draft_is_opt_in_through_the_limits(self):
        data = media.jpeg_bytes(w=640, h=480)
        assert size(decode(data)) == (640, 480)
        ctx = ResolveContext(limits=DecodeLimits(draft_jpeg=True), extras={"image_target_size": (300, 200)})
        assert size(decode(data, ctx)) == (320, 240)

    def test_draft_leaves_other_formats_alone(self):
        img = open_image(media.png_bytes(w=640, h=480))
        assert apply_jpeg_draft(img, (100, 100)).size == (640, 480)
