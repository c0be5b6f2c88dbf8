"""The exact fast image paths with the published processor settings of full-size models (no weights needed).

For each full-size configuration, the ``pixel_values`` the processor makes from what our pipeline hands it
(JPEG decoded straight to a tensor, then the processor's resize run ahead where that is exact) must equal,
bit for bit, those it makes from the PIL image upstream hands it. Where a path does not apply, the test
pins down that it is not taken, and why.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import st_multimodal as stm
from st_multimodal.decoders.jpeg_tensor import decode_jpeg_tensor
from st_multimodal.pipeline.preresize import ImagePreResizer, QwenPreResizer
from st_multimodal.testing import full_size

IMAGE_KINDS = ["clip-vit-l-14-336", "siglip-so400m-384", "qwen3vl-2b-embedding", "qwen3vl-2b-reranker"]
SIZES = [(640, 480), (500, 375), (333, 777), (1280, 720), (97, 61)]
"""Landscape, portrait, odd, larger than every crop, smaller than every crop."""


def _jpeg(w: int, h: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * y) % 256], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module", params=IMAGE_KINDS)
def kind_and_processor(request):
    return request.param, full_size.image_processor(request.param)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_fast_paths_give_bit_identical_pixel_values(kind_and_processor, size):
    kind, processor = kind_and_processor
    data = _jpeg(*size, seed=size[0])
    with Image.open(io.BytesIO(data)) as img:
        upstream = processor(images=[img.convert("RGB")], return_tensors="pt")["pixel_values"]
    decoded = decode_jpeg_tensor(data, stm.DecodeLimits())
    assert decoded is not None, "JPEG straight to tensor applies to every one of these processors"
    tensor = decoded[0]
    resizer = ImagePreResizer.for_processor(type("P", (), {"image_processor": processor})())
    ours = processor(images=[resizer(tensor) if resizer else tensor], return_tensors="pt")["pixel_values"]
    assert ours.dtype == upstream.dtype and ours.shape == upstream.shape
    assert torch.equal(ours, upstream)


@pytest.mark.parametrize("kind, resize_ahead", [
    ("clip-vit-l-14-336", True),      # shortest_edge 336, then a centre crop: resize ahead is exact
    ("siglip-so400m-384", True),      # fixed 384 x 384
    ("qwen3vl-2b-embedding", True),   # Qwen's smart resize (pixel budget, multiples of 32), ahead
    ("qwen3vl-2b-reranker", True),
])
def test_which_fast_paths_apply(kind, resize_ahead):
    processor = full_size.image_processor(kind)
    if kind.startswith("qwen") and not QwenPreResizer.applies_to(processor):
        pytest.skip("this transformers' Qwen-VL processor resizes inside its _preprocess (no separate resize to run ahead)")
    resizer = ImagePreResizer.for_processor(type("P", (), {"image_processor": processor})())
    assert (resizer is not None) is resize_ahead


def test_clap_takes_audio_so_no_image_path_applies():
    """CLAP's processor has no image processor: its inputs are decoded audio, resampled to 48 kHz mono."""
    processor = full_size.processor("clap-htsat-unfused")
    assert getattr(processor, "image_processor", None) is None
    assert processor.feature_extractor.sampling_rate == 48_000
    assert ImagePreResizer.for_processor(processor) is None


def test_published_values_are_the_ones_built():
    """The processors carry the typed-in settings (a typo in a size or mean would silently test nothing)."""
    clip = full_size.image_processor("clip-vit-l-14-336")
    assert clip.size.shortest_edge == 336 and (clip.crop_size.height, clip.crop_size.width) == (336, 336)
    siglip = full_size.image_processor("siglip-so400m-384")
    assert (siglip.size.height, siglip.size.width) == (384, 384) and list(siglip.image_mean) == [0.5, 0.5, 0.5]
    qwen = full_size.image_processor("qwen3vl-2b-embedding")
    assert (qwen.patch_size, qwen.merge_size, qwen.size.shortest_edge) == (16, 2, 65_536)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_centre_crop_is_taken_ahead_too(size):
    """CLIP ViT-L/14-336: the decode worker hands over the 336 x 336 crop, so the processor copies no more."""
    processor = full_size.image_processor("clip-vit-l-14-336")
    resizer = ImagePreResizer.for_processor(type("P", (), {"image_processor": processor})())
    tensor = decode_jpeg_tensor(_jpeg(*size, seed=size[1]), stm.DecodeLimits())[0]
    ahead = resizer(tensor)
    assert tuple(ahead.shape) == (3, 336, 336) and ahead.is_contiguous()


@pytest.mark.parametrize("size", [(640, 480), (500, 375), (1280, 720), (97, 61)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_qwen_images_arrive_at_the_size_smart_resize_keeps(size):
    """The Qwen3-VL processor then finds nothing to resize; image_grid_thw is the one upstream computes."""
    processor = full_size.image_processor("qwen3vl-2b-embedding")
    if not QwenPreResizer.applies_to(processor):
        pytest.skip("this transformers' Qwen-VL processor resizes inside its _preprocess (no separate resize to run ahead)")
    resizer = ImagePreResizer.for_processor(type("P", (), {"image_processor": processor})())
    data = _jpeg(*size, seed=7)
    ahead = resizer(decode_jpeg_tensor(data, stm.DecodeLimits())[0])
    height, width = ahead.shape[-2:]
    assert height % 32 == 0 and width % 32 == 0 and ahead.is_contiguous()
    with Image.open(io.BytesIO(data)) as img:
        upstream = processor(images=[img.convert("RGB")], return_tensors="pt")
    ours = processor(images=[ahead], return_tensors="pt")
    assert torch.equal(ours["image_grid_thw"], upstream["image_grid_thw"])
    assert int(upstream["image_grid_thw"][0, 1]) * 16 == height and int(upstream["image_grid_thw"][0, 2]) * 16 == width
