"""The exact fast path for images: JPEG straight to a tensor, the processor's resize run ahead, one torch thread per worker."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import st_multimodal as stm
from st_multimodal.decoders.jpeg_tensor import decode_jpeg_tensor
from st_multimodal.pipeline.preresize import ImagePreResizer
from st_multimodal.testing import media
from st_multimodal.upstream import upstream_value


def _jpeg(w: int, h: int, seed: int = 0, mode: str = "RGB", **save) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * y) % 256], -1)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy).convert(mode).save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def _pil_path(data: bytes) -> torch.Tensor:
    """What the Pillow decoder hands upstream for these bytes."""
    value = stm.resolve(data, stm.ResolveContext()).value
    return upstream_value("image", value)


class TestDecodeJpegTensor:
    @pytest.mark.parametrize("kind", ["baseline", "progressive", "grey", "subsampled-444", "odd-size"])
    def test_same_pixels_as_the_pillow_path(self, kind):
        data = {
            "baseline": _jpeg(640, 480),
            "progressive": _jpeg(300, 200, seed=1, progressive=True),
            "grey": _jpeg(120, 90, seed=2, mode="L"),
            "subsampled-444": _jpeg(160, 120, seed=3, subsampling=0),
            "odd-size": _jpeg(333, 177, seed=4),
        }[kind]
        tensor, size = decode_jpeg_tensor(data, stm.DecodeLimits())
        expected = _pil_path(data)
        assert tuple(tensor.shape) == tuple(expected.shape) and size == (expected.shape[2], expected.shape[1])
        assert torch.equal(tensor, expected)

    @pytest.mark.parametrize("data", [
        media.exif_rotated_jpeg_bytes()[0],  # needs the EXIF rotation: Pillow path
        media.cmyk_jpeg_bytes(),             # CMYK conversion: Pillow path
        media.truncated_jpeg_bytes(),        # the Pillow path raises the located error
        media.png_bytes(),                   # not a JPEG
    ], ids=["exif-rotated", "cmyk", "truncated", "png"])
    def test_declines_what_only_pillow_handles_exactly(self, data):
        assert decode_jpeg_tensor(data, stm.DecodeLimits()) is None

    def test_declines_over_the_pixel_budget_and_in_draft_mode(self):
        data = _jpeg(64, 48)
        assert decode_jpeg_tensor(data, stm.DecodeLimits(max_pixels=64 * 48 - 1)) is None
        assert decode_jpeg_tensor(data, stm.DecodeLimits(draft_jpeg=True)) is None
        assert decode_jpeg_tensor(data, stm.DecodeLimits()) is not None

    def test_truncated_jpeg_still_fails_with_a_located_error(self, clip_model):
        with pytest.raises(stm.DecodeError) as info:
            clip_model.encode([_jpeg(64, 48), media.truncated_jpeg_bytes()])
        assert info.value.index == 1

    def test_encode_uses_it_and_matches_the_pillow_path(self, clip_model, monkeypatch):
        jpegs = [_jpeg(640, 480, seed=s) for s in range(3)] + [_jpeg(200, 300, seed=9, mode="L")]
        monkeypatch.setattr(clip_model, "decoded_cache", stm.DecodedCache(0))  # decode on every call
        fast = clip_model.encode(jpegs)
        import st_multimodal.decoders.image as image_module

        calls = []
        monkeypatch.setattr(image_module, "decode_jpeg_tensor", lambda data, limits: calls.append(1))
        slow = clip_model.encode(jpegs)
        assert len(calls) == len(jpegs)  # the fast path was on the way and is now declined
        assert np.array_equal(fast, slow)


class TestImagePreResizer:
    @pytest.fixture(params=["clip_model", "siglip_model"])
    def model(self, request):
        return request.getfixturevalue(request.param)

    def test_processor_output_is_bit_identical(self, model):
        resizer = ImagePreResizer.for_processor(model.processor)
        assert resizer is not None
        rng = np.random.default_rng(0)
        for _ in range(12):
            w, h = int(rng.integers(20, 900)), int(rng.integers(20, 900))
            hwc = torch.from_numpy(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            image = hwc.permute(2, 0, 1)  # channels-last in memory, as decoders produce it
            full = model.processor.image_processor([image.contiguous()], return_tensors="pt")["pixel_values"]
            ahead = model.processor.image_processor([resizer(image)], return_tensors="pt")["pixel_values"]
            assert torch.equal(full, ahead), (w, h)

    def test_encode_with_and_without_it_is_identical(self, model, monkeypatch):
        """Bit-identical one by one. In a batch, rows agree to float noise only: the batch is ordered by
        image size (as upstream does), and pre-resized images all have one size, so rows sit at other
        positions of the batched matmul."""
        jpegs = [_jpeg(640, 480, seed=s) for s in range(3)] + [media.png_bytes(), _jpeg(90, 500, seed=5)]
        ahead, ahead_batched = model.encode(jpegs, batch_size=1), model.encode(jpegs)
        monkeypatch.setattr(ImagePreResizer, "for_processor", classmethod(lambda cls, processor: None))
        assert np.array_equal(ahead, model.encode(jpegs, batch_size=1))
        np.testing.assert_allclose(ahead_batched, model.encode(jpegs), rtol=0, atol=1e-5)

    def test_the_decoded_cache_keeps_the_resized_image(self, clip_model, monkeypatch):
        monkeypatch.setattr(clip_model, "decoded_cache", stm.DecodedCache())
        jpeg = _jpeg(640, 480, seed=21)
        first = clip_model.encode([jpeg])
        [(modality, value, length)] = [entry for entry, _ in clip_model.decoded_cache._items.values()]
        crop = clip_model.processor.image_processor.crop_size
        assert modality == "image" and tuple(value.shape) == (3, crop["height"], crop["width"])
        assert length == clip_model._input_length(torch.zeros(3, 480, 640, dtype=torch.uint8))
        assert value.nbytes <= clip_model.decoded_cache.nbytes < value.nbytes + 1024 < 640 * 480 * 3
        hits = clip_model.decoded_cache.hits
        assert np.array_equal(clip_model.encode([jpeg]), first) and clip_model.decoded_cache.hits == hits + 1

    def test_changed_processor_settings_are_not_answered_from_the_cache(self, clip_model, monkeypatch):
        monkeypatch.setattr(clip_model, "decoded_cache", stm.DecodedCache())
        jpeg = _jpeg(640, 480, seed=22)
        bicubic = clip_model.encode([jpeg])
        monkeypatch.setattr(clip_model.processor.image_processor, "resample", 2)  # bilinear
        bilinear = clip_model.encode([jpeg])
        monkeypatch.setattr(clip_model, "decoded_cache", stm.DecodedCache(0))
        assert not np.array_equal(bicubic, bilinear) and np.array_equal(bilinear, clip_model.encode([jpeg]))

    def test_qwen_processors_get_their_smart_resize_ahead(self, qwen_embedder):
        from st_multimodal.pipeline.preresize import QwenPreResizer

        if not QwenPreResizer.applies_to(qwen_embedder.processor.image_processor):
            pytest.skip("this transformers' Qwen-VL processor resizes inside its _preprocess")
        assert isinstance(ImagePreResizer.for_processor(qwen_embedder.processor), QwenPreResizer)

    def test_not_for_processors_with_their_own_resize(self, qwen_embedder):
        import copy

        image_processor = copy.copy(qwen_embedder.processor.image_processor)
        image_processor.__class__ = type("OwnResize", (type(image_processor),), {"resize": lambda self, *a, **k: None})
        assert ImagePreResizer.for_processor(type("P", (), {"image_processor": image_processor})()) is None

    def test_not_when_the_call_passes_processor_options(self, clip_model):
        cpu = torch.device("cpu")
        assert clip_model._image_pre_resizer(cpu, {}) is not None
        assert clip_model._image_pre_resizer(cpu, {"processing_kwargs": {"image": {"size": {"shortest_edge": 64}}}}) is None

    @pytest.mark.parametrize("modality", ["image", "common"])
    def test_not_where_the_model_sets_processor_options(self, clip_model, monkeypatch, modality):
        """Upstream merges the input module's own ``processing_kwargs`` into every call: the resize ahead steps aside."""
        cpu = torch.device("cpu")
        assert clip_model._image_pre_resizer(cpu, {}) is not None
        options = {**clip_model[0].processing_kwargs, modality: {"size": {"shortest_edge": 64}}}
        monkeypatch.setattr(clip_model[0], "processing_kwargs", options)
        assert clip_model._image_pre_resizer(cpu, {}) is None

    def test_leaves_non_images_alone(self, clip_model):
        resizer = ImagePreResizer.for_processor(clip_model.processor)
        float_image = torch.rand(3, 300, 400)
        assert resizer(float_image) is float_image and resizer({"text": "x"}) == {"text": "x"}


def test_video_frames_go_channels_first_with_identical_features(qwen_embedder):
    """The (T, H, W, 3) frames handed over as a (T, 3, H, W) tensor: the Qwen3-VL video processor gives the same features."""
    import numpy as np

    import st_multimodal as stm
    from st_multimodal.testing import media
    from st_multimodal.upstream import upstream_value

    resolved = stm.resolve(media.mp4_bytes(frames=12, fps=6, w=64, h=48), qwen_embedder.resolve_context())
    assert resolved.modality == "video" and isinstance(resolved.value["array"], np.ndarray)
    handed = upstream_value("video", resolved.value)
    assert tuple(handed["array"].shape) == (resolved.value["array"].shape[0], 3, 48, 64) and handed["array"].is_contiguous()
    ours = qwen_embedder.preprocess([handed])
    channels_last = qwen_embedder.preprocess([resolved.value])
    assert ours.keys() == channels_last.keys()
    for key in ours:
        if isinstance(ours[key], torch.Tensor):
            assert torch.equal(ours[key], channels_last[key]), key
