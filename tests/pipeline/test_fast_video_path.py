"""The exact fast path for videos: the Qwen3-VL video processor's resize run ahead on the decode workers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import st_multimodal as stm
from st_multimodal.errors import LimitExceededError
from st_multimodal.pipeline.video_preresize import VideoPreResizer
from st_multimodal.upstream import upstream_value


@pytest.fixture
def resizer(qwen_embedder):
    if not VideoPreResizer.applies_to(qwen_embedder.processor.video_processor):
        pytest.skip("this transformers' Qwen3-VL video processor resizes inside its _preprocess")
    return VideoPreResizer.for_processor(qwen_embedder.processor)


def _clip(frames: int, height: int, width: int, seed: int = 0, fps: float = 2.0) -> dict:
    """A decoded clip as our decoders give it: random (T, H, W, 3) frames and metadata describing the array."""
    rng = np.random.default_rng([frames, height, width, seed])
    array = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    return stm.resolve(stm.as_video(array, fps=fps), stm.ResolveContext()).value


def _assert_same_features(model, plain: list, ahead: list) -> None:
    full = model.preprocess([upstream_value("video", v) for v in plain])
    fast = model.preprocess([upstream_value("video", v) for v in ahead])
    assert full.keys() == fast.keys()
    for key in full:
        if isinstance(full[key], torch.Tensor):
            assert full[key].dtype == fast[key].dtype and torch.equal(full[key], fast[key]), key
        else:
            assert full[key] == fast[key], key


def test_processor_output_is_bit_identical(qwen_embedder, resizer):
    shapes = [(8, 720, 1280), (4, 48, 64), (5, 90, 500), (6, 333, 77), (2, 200, 200), (3, 31, 40)]
    clips = [_clip(*shape, seed=i) for i, shape in enumerate(shapes)]
    for clip in clips:
        ahead = resizer(clip)
        assert ahead is not clip and ahead["video_metadata"] == clip["video_metadata"]
        assert ahead["array"].dtype == torch.uint8 and ahead["array"].is_contiguous()
        assert ahead["array"].shape[:2] == (clip["array"].shape[0], 3)
        _assert_same_features(qwen_embedder, [clip], [ahead])
    _assert_same_features(qwen_embedder, clips, [resizer(clip) for clip in clips])  # one batch, several shapes
    _assert_same_features(qwen_embedder, clips, [resizer(clip) if i % 2 else clip for i, clip in enumerate(clips)])


def test_encode_with_and_without_it_is_identical(qwen_embedder, resizer, monkeypatch):
    videos = [stm.as_video(_clip(t, h, w, seed=t)["array"], fps=2) for t, h, w in [(4, 120, 160), (6, 90, 300), (4, 120, 160)]]
    calls = []
    real_call = VideoPreResizer.__call__
    monkeypatch.setattr(VideoPreResizer, "__call__", lambda self, value, *a: calls.append(1) or real_call(self, value, *a))
    ahead, ahead_batched = qwen_embedder.encode(videos, batch_size=1), qwen_embedder.encode(videos)
    assert len(calls) == 2 * len(videos)
    monkeypatch.setattr(VideoPreResizer, "for_processor", classmethod(lambda cls, processor: None))
    assert np.array_equal(ahead, qwen_embedder.encode(videos, batch_size=1))
    assert np.array_equal(ahead_batched, qwen_embedder.encode(videos))


def test_not_where_the_processor_samples_fewer_frames(resizer):
    clip = _clip(8, 48, 64, fps=24.0)  # the processor samples 2 fps from it: 4 of the 8 frames
    assert resizer(clip) is clip
    without_fps = {**clip, "video_metadata": {**clip["video_metadata"], "fps": None}}
    assert resizer(without_fps) is without_fps
    without_metadata = {"array": clip["array"]}
    assert resizer(without_metadata) is without_metadata


def test_leaves_other_values_alone(resizer):
    one_frame = _clip(1, 48, 64)  # fewer frames than Qwen's temporal patch: the processor raises, per item
    assert resizer(one_frame) is one_frame
    float_frames = {**_clip(4, 48, 64), "array": np.zeros((4, 48, 64, 3), dtype=np.float32)}
    assert resizer(float_frames) is float_frames
    assert resizer({"text": "x"}) == {"text": "x"}


def test_limits_hold(resizer):
    clip = _clip(4, 48, 64)
    size = tuple(resizer(clip)["array"].shape[-2:])
    with pytest.raises(LimitExceededError) as error:
        resizer(clip, stm.DecodeLimits(max_pixels=size[0] * size[1] - 1))
    assert error.value.limit_name == "max_pixels"
    with pytest.raises(LimitExceededError) as error:
        resizer(clip, stm.DecodeLimits(max_array_elements=4 * 3 * size[0] * size[1] - 1))
    assert error.value.limit_name == "max_array_elements"


def test_limit_error_names_the_input(qwen_embedder, resizer):
    videos = [stm.as_video(_clip(4, 48, 64)["array"], fps=2)]
    size = tuple(resizer(stm.resolve(videos[0], stm.ResolveContext()).value)["array"].shape[-2:])
    limits = stm.DecodeLimits(max_array_elements=4 * 3 * size[0] * size[1] - 1)
    with pytest.raises(LimitExceededError) as error:
        qwen_embedder.encode(videos, limits=limits)
    assert error.value.index == 0


def test_not_for_processors_with_their_own_sampling_or_resize(qwen_embedder, resizer):
    for name in ("resize", "sample_frames", "_preprocess"):
        video_processor = copy.copy(qwen_embedder.processor.video_processor)
        video_processor.__class__ = type("Own", (type(video_processor),), {name: lambda self, *a, **k: None})
        assert VideoPreResizer.for_processor(type("P", (), {"video_processor": video_processor})()) is None, name


def test_not_when_the_call_passes_processor_options(qwen_embedder, resizer):
    assert qwen_embedder._video_pre_resizer({}) is not None
    assert qwen_embedder._video_pre_resizer({"processing_kwargs": {"video": {"fps": 1}}}) is None


def test_only_where_the_stock_processor_has_its_own_resize(qwen_embedder):
    """On a transformers whose Qwen3-VL video processor resizes inside ``_preprocess`` (5.4), nothing runs ahead."""
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    resizer = VideoPreResizer.for_processor(qwen_embedder.processor)
    assert (resizer is not None) == ("resize" in vars(Qwen3VLVideoProcessor))
    assert VideoPreResizer.for_processor(qwen_embedder.processor.tokenizer) is None


@pytest.mark.parametrize("modality", ["video", "common"])
def test_not_where_the_model_sets_processor_options(qwen_embedder, resizer, monkeypatch, modality):
    """Upstream merges the input module's own ``processing_kwargs`` into every call: the resize ahead steps aside."""
    monkeypatch.setattr(qwen_embedder[0], "processing_kwargs", {**qwen_embedder[0].processing_kwargs, modality: {"fps": 1}})
    assert qwen_embedder._video_pre_resizer({}) is None
