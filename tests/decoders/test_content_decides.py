"""Content decides, the same for every form: long data: URIs, sniffing by content, state independence,
first real frames, shape limits and error messages that describe rather than quote."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from st_multimodal import resolve
from st_multimodal.decoders.base import SNIFF_BYTES
from st_multimodal.decoders.sniff import choose_decoder, sniff_format
from st_multimodal.errors import DecodeError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.resolvers.strings import is_location
from st_multimodal.testing import media
from st_multimodal.types import FetchedBytes, ResolveContext

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


CORPUS = __import__("pathlib").Path(__file__).parents[1] / "corpus" / "files"
PILLOW = CORPUS / "pillow"


def saved(fmt: str, **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 10)).save(out, format=fmt, **options)
    return out.getvalue()


def every_byte_form(data: bytes) -> dict:
    return {"bytes": data, "BytesIO": io.BytesIO(data), "data URI": data_uri(data, "application/octet-stream")}


class TestSniffingByContent:
    """Every format Pillow reads is recognised from its bytes, the same for every form."""

    @pytest.mark.parametrize("fmt, options", [("DDS", {}), ("SGI", {}), ("JPEG2000", {}), ("QOI", {}), ("PCX", {}),
                                              ("ICNS", {}), ("TGA", {}), ("DIB", {}), ("PPM", {}),
                                              ("TIFF", {"big_tiff": True})])
    def test_pillow_formats_decode_from_bytes_alone(self, fmt, options):
        data = saved(fmt, **options)
        expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        for form, value in every_byte_form(data).items():
            resolved = resolve(value, CTX)
            assert resolved.modality == "image", form
            assert np.array_equal(np.asarray(resolved.value), expected), form

    @pytest.mark.parametrize("name", ["hopper.psd", "blp/blp1_jpeg.blp", "hopper.fits", "deerstalker.cur",
                                      "hopper.pnm", "hopper_8bit_plain.pgm", "hopper_1bit_plain.pbm", "hopper.qoi"])
    def test_files_pillow_reads_decode_in_every_form_like_the_path(self, name):
        path = PILLOW / name
        reference = pixels(path)
        assert np.array_equal(pixels(str(path)), reference)
        for form, value in every_byte_form(path.read_bytes()).items():
            assert np.array_equal(pixels(value), reference), form

    def test_plain_ascii_ppm_is_an_image_not_text(self):
        data = b"P1\n# a 3x2 bitmap\n3 2\n0 1 0\n1 0 1\n"
        resolved = resolve(data, CTX)
        assert resolved.modality == "image" and resolved.value.size == (3, 2)

    def test_text_that_starts_like_a_ppm_is_still_refused_as_text(self):
        with pytest.raises(DecodeError, match="text"):
            resolve(b"P1 is the first item on the agenda", CTX)

    def test_an_extension_alone_never_decides(self, tmp_path):
        unknown = b"\x00\x9f\x92\x96" * 16
        target = tmp_path / "song.mp3"
        target.write_bytes(unknown)
        for value in (target, unknown, io.BytesIO(unknown), data_uri(unknown, "audio/mpeg")):
            with pytest.raises(DecodeError, match="unknown media format"):
                resolve(value, CTX)

    def test_bytesio_errors_cite_no_made_up_extension(self):
        with pytest.raises(DecodeError) as info:
            resolve(io.BytesIO(b"\x00\x9f\x92\x96" * 16), CTX)
        assert "'.bytesio" not in str(info.value).lower() and "extension" not in str(info.value)

    @pytest.mark.parametrize("name", ["hopper.gd", "fli_overflow.fli", "crash-5762152299364352.fli",
                                      "timeout-9139147ce93e20eb14088fe238e541443ffd64b3.fli",
                                      "fli_oob/06r/06r00.fli", "fli_oob/patch0/000000"])
    def test_fli_and_gd_files_are_not_sniffed_as_mp3(self, name):
        data = (PILLOW / name).read_bytes()
        assert sniff_format(data[:SNIFF_BYTES]) != "mp3"
        try:
            assert choose_decoder(FetchedBytes(data, "test")).modality == "image"  # FLI is a Pillow format
        except DecodeError as exc:
            assert "unknown media format" in str(exc)  # GD: Pillow reads it only through GdImageFile.open

    def test_real_mp3_without_id3_is_still_sniffed(self):
        data = media.mp3_bytes()
        assert data[:3] == b"ID3"
        start = 10 + sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))  # past the ID3 tag
        assert sniff_format(data[start:start + SNIFF_BYTES]) == "mp3"


class TestStateIndependence:
    def test_an_ico_decodes_after_user_code_loaded_the_tga_plugin_first(self, monkeypatch):
        """``Image.open("x.tga")`` in a fresh process registers TGA (no magic number) before ICO."""
        data = (PILLOW / "pillow.ico").read_bytes()  # its header also parses as a 32 x 19140 TGA
        expected = pixels(data)
        assert expected.shape[:2] == Image.open(PILLOW / "pillow.ico", formats=["ICO"]).size[::-1]
        monkeypatch.setattr(Image, "ID", ["TGA"] + [name for name in Image.ID if name != "TGA"])
        assert np.array_equal(pixels(data), expected)
        assert np.array_equal(pixels(PILLOW / "pillow.ico"), expected)

    def test_opening_other_formats_first_changes_nothing(self):
        names = ["python.ico", "hopper.pnm", "deerstalker.cur", "la.tga", "hopper.psd"]
        fresh = {name: pixels((PILLOW / name).read_bytes()) for name in names}
        for name in ["la.tga", "hopper.fits", "hopper.dds", "hopper.sgi"]:
            Image.open(PILLOW / name).load()
        for name in names:
            assert np.array_equal(pixels((PILLOW / name).read_bytes()), fresh[name]), name


class TestFirstRealFrame:
    def test_a_layered_psd_given_as_a_pil_image_decodes_like_its_bytes(self):
        path = PILLOW / "hopper.psd"
        image = Image.open(path)
        assert image.n_frames > 1
        assert np.array_equal(pixels(image), pixels(path.read_bytes()))

    def test_the_psd_frame_is_the_merged_picture(self):
        expected = np.asarray(Image.open(PILLOW / "hopper.psd").convert("RGB"))
        assert np.array_equal(pixels(PILLOW / "hopper.psd"), expected)


def tall_png(height: int = 1_000_000) -> bytes:
    out = io.BytesIO()
    Image.new("L", (1, height), 128).save(out, format="PNG", optimize=True)
    return out.getvalue()


class TestShapeLimits:
    def test_a_small_png_of_one_by_a_million_pixels_fails_typed(self):
        data = tall_png()
        assert len(data) < 4096
        for value in (data, io.BytesIO(data), data_uri(data, "image/png"), Image.open(io.BytesIO(data))):
            with pytest.raises(LimitExceededError) as info:
                resolve(value, CTX)
            assert info.value.limit_name == "max_aspect_ratio" and info.value.actual == 1_000_000

    def test_the_defaults_fit_qwen_vl_resize(self):
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        limits = CTX.limits
        smart_resize(limits.min_side, int(limits.min_side * limits.max_aspect_ratio))  # does not raise
        with pytest.raises(ValueError):
            smart_resize(1, int(limits.max_aspect_ratio) + 1)

    def test_min_side_is_checked_before_decoding(self):
        data = saved("PNG")
        with pytest.raises(LimitExceededError) as info:
            resolve(data, CTX.replace(limits=CTX.limits.replace(min_side=64)))
        assert (info.value.limit_name, info.value.limit, info.value.actual) == ("min_side", 64, 24)

    @pytest.mark.parametrize("name", ["bitmap.mp4", "test_video.mp4"])
    def test_a_one_pixel_video_fails_typed(self, name):
        with pytest.raises(LimitExceededError) as info:
            resolve(CORPUS / "moviepy" / "media" / name, CTX)
        assert info.value.limit_name == "min_side" and info.value.actual == 1

    def test_a_pdf_page_of_595_by_2_to_the_31_points_is_refused_before_render(self):
        pytest.importorskip("pypdfium2")
        from st_multimodal.decoders.pdf import render_page

        with pytest.raises(LimitExceededError) as info:
            render_page((CORPUS / "pdfjs" / "poppler-85140-0.pdf").read_bytes(), 1)
        assert info.value.limit_name == "max_aspect_ratio"

    def test_the_pre_resize_refuses_typed_what_it_cannot_allocate(self):
        import torch
        from transformers import CLIPImageProcessorFast

        from st_multimodal.pipeline.preresize import ImagePreResizer

        resizer = ImagePreResizer(CLIPImageProcessorFast(size={"shortest_edge": 224}), max_pixels=1_000_000)
        with pytest.raises(LimitExceededError) as info:
            resizer(torch.zeros((3, 1, 100), dtype=torch.uint8))
        assert info.value.limit_name == "max_pixels" and info.value.actual == 224 * 22400


class TestShapeLimitsInABatch:
    def test_one_extreme_image_fails_alone_with_on_error_skip(self, clip_model):
        good = media.png_bytes()
        items = [good, tall_png(), media.jpeg_bytes()]
        embeddings, failures = clip_model.encode(items, on_error="skip", return_failures=True)
        assert [f.index for f in failures] == [1] and isinstance(failures[0].error, LimitExceededError)
        assert np.allclose(embeddings[0], clip_model.encode([good])[0], atol=1e-5)

    def test_the_resize_is_refused_typed_when_the_shape_limit_is_lifted(self, clip_model):
        limits = CTX.limits.replace(max_aspect_ratio=1e7)
        items = [media.png_bytes(), tall_png(500_000), media.jpeg_bytes()]
        _, failures = clip_model.encode(items, on_error="skip", return_failures=True, limits=limits)
        assert [f.index for f in failures] == [1]
        assert isinstance(failures[0].error, LimitExceededError) and failures[0].error.limit_name == "max_pixels"


class TestErrorsDescribeNeverQuote:
    SECRET = b"API_KEY=sk-live-0123456789abcdef\nDB_PASSWORD=hunter2\n"

    def test_a_text_file_is_described_not_quoted(self, tmp_path):
        target = tmp_path / "settings.png"
        target.write_bytes(self.SECRET)
        for value in (target, self.SECRET, io.BytesIO(self.SECRET), data_uri(self.SECRET, "image/png")):
            with pytest.raises(DecodeError) as info:
                resolve(value, CTX)
            message = str(info.value)
            assert "sk-live" not in message and "API_KEY" not in message and "hunter2" not in message
            assert "text" in message and f"{len(self.SECRET)} bytes" in message

    def test_binary_content_is_described_not_dumped(self):
        data = bytes(range(7, 71)) * 4
        with pytest.raises(DecodeError) as info:
            resolve(data, CTX)
        assert data[:6].hex() not in str(info.value) and "256 bytes" in str(info.value)

    def test_pillow_reasons_lose_what_they_quote(self):
        from st_multimodal.decoders.image import _reason

        assert "secret" not in _reason(OSError("broken PNG file (chunk b'secret')"))
        assert "cannot identify image file" in _reason(OSError("cannot identify image file <_io.BytesIO object at 0x1>"))


def float_tiff(values: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(values.astype(np.float32), mode="F").save(out, format="TIFF")
    return out.getvalue()


class TestFloatImages:
    """Mode F images state no range: [0, 1] is scaled like a float array, anything else refused typed."""

    def test_values_in_zero_one_decode_like_the_same_float_array(self):
        values = np.linspace(0, 1, 32 * 24, dtype=np.float32).reshape(24, 32)
        decoded = pixels(float_tiff(values))
        expected = np.rint(values * 255).astype(np.uint8)
        assert np.array_equal(decoded, np.stack([expected] * 3, axis=-1))

    @pytest.mark.parametrize("low, high", [(0, 255), (-3.1, 3.1)])
    def test_other_ranges_are_refused_typed_in_every_form(self, low, high):
        data = float_tiff(np.linspace(low, high, 32 * 24).reshape(24, 32))
        for value in (data, io.BytesIO(data), Image.open(io.BytesIO(data))):
            with pytest.raises(DecodeError, match=r"float image values"):
                resolve(value, CTX)


class TestDocumentedArrayRecipe:
    """docs/input-forms.md: arrays made with normalize_image equal the path; convert("RGB") does not."""

    @pytest.fixture(params=["transparent", "exif-rotated", "16-bit"])
    def image_file(self, request, tmp_path):
        data = {"transparent": media.png_rgba_bytes, "exif-rotated": lambda: media.exif_rotated_jpeg_bytes()[0],
                "16-bit": media.png16_bytes}[request.param]()
        target = tmp_path / "picture.img"
        target.write_bytes(data)
        return target

    def test_every_documented_form_equals_the_path(self, image_file):
        import torch

        from st_multimodal.decoders import normalize_image

        reference = pixels(image_file)
        array = np.asarray(normalize_image(Image.open(image_file)))
        data = image_file.read_bytes()
        for form in (str(image_file), image_file.resolve().as_uri(), data, io.BytesIO(data), Image.open(image_file),
                     array, array.astype(np.float32) / 255, torch.from_numpy(array.copy()).permute(2, 0, 1)):
            assert np.array_equal(pixels(form), reference)

    def test_the_old_recipe_is_not_the_same_picture(self, image_file):
        assert not np.array_equal(pixels(np.asarray(Image.open(image_file).convert("RGB"))), pixels(image_file))


class TestFolderScanning:
    def test_the_cli_sees_the_same_formats(self, tmp_path):
        from st_multimodal.cli.inputs import is_media_file

        mp3 = media.mp3_bytes()
        untagged = mp3[10 + sum(b << (7 * (3 - i)) for i, b in enumerate(mp3[6:10])):]
        for name, data in {"a": untagged, "b": saved("DDS"), "c": saved("TGA"), "d": b"P1\n2 1\n0 1\n"}.items():
            (tmp_path / name).write_bytes(data)
            assert is_media_file(tmp_path / name)[0], name
        (tmp_path / "e").write_bytes(b"just a note, not media")
        assert is_media_file(tmp_path / "e") == (False, "it looks like plain text, not media")


class TestShapeLimitFields:
    @pytest.mark.parametrize("changes", [{"max_aspect_ratio": 0.5}, {"min_side": 0}])
    def test_invalid_values_are_refused(self, changes):
        with pytest.raises(ValueError):
            CTX.limits.replace(**changes)


class TestPreResizeNeverBreaksABatch:
    def test_a_failing_resize_hands_the_image_on_unchanged(self):
        import torch
        from transformers import CLIPImageProcessorFast

        from st_multimodal.pipeline.preresize import ImagePreResizer

        processor = CLIPImageProcessorFast(size={"shortest_edge": 224})
        resizer = ImagePreResizer(processor)

        def broken(**kwargs):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

        processor.resize = broken
        image = torch.zeros((3, 32, 48), dtype=torch.uint8)
        assert resizer(image) is image


class TestVideoStreamSignatures:
    def test_mpeg_transport_and_elementary_streams_are_video(self):
        packet = b"\x47" + bytes(187)
        assert sniff_format(packet * 3) == "mpegts"
        assert sniff_format(b"\x00\x00\x01\xb3" + bytes(60)) == "mpegvideo"
        assert sniff_format(b"\x47" + bytes(400)) is None  # one sync byte is not a stream
