"""The CUDA-only choices, checked without a GPU: pinning, non-blocking copies and where images are preprocessed.

CUDA is faked where a choice depends on it (pinned memory, a "cuda" device object); tests/test_gpu.py runs the
same paths on a real GPU.
"""

from __future__ import annotations

import pytest
import torch

from st_multimodal.pipeline.device import features_to_device, pin_features

CUDA = torch.device("cuda")


@pytest.fixture
def fake_pinning(monkeypatch):
    """``pin_memory()`` returns a copy that reports itself pinned; ``to()`` records its non_blocking flag."""
    pinned, copies = set(), []
    real_to = torch.Tensor.to

    def pin_memory(self):
        copy = self.clone()
        pinned.add(id(copy))
        return copy

    def to(self, *args, **kwargs):
        copies.append(kwargs.get("non_blocking", False))
        return real_to(self, "meta")  # a device that needs no memory and no GPU

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    monkeypatch.setattr(torch.Tensor, "is_pinned", lambda self: id(self) in pinned)
    monkeypatch.setattr(torch.Tensor, "to", to)
    return copies


class TestPinAndCopy:
    def test_cpu_tensors_are_pinned_and_other_values_left_alone(self, fake_pinning):
        meta = torch.zeros(2, device="meta")
        features = {"input_ids": torch.ones(2, 3, dtype=torch.long), "texts": ["a", "b"], "already": meta}
        pinned = pin_features(features)
        assert pinned["input_ids"].is_pinned() and torch.equal(pinned["input_ids"], features["input_ids"])
        assert pinned["texts"] is features["texts"] and pinned["already"] is meta  # not on the CPU: untouched
        assert not features["input_ids"].is_pinned()  # the caller's tensor is not changed

    def test_pinned_tensors_are_copied_without_blocking_the_host(self, fake_pinning):
        features = pin_features({"pixel_values": torch.rand(1, 3, 4, 4)})
        features["mask"] = torch.ones(1, 4)  # added after pinning: a plain copy
        features["names"] = ["x"]
        moved = features_to_device(features, CUDA)
        assert fake_pinning == [True, False]
        assert moved["pixel_values"].device.type == "meta" and moved["names"] == ["x"]


class TestWhereImagesArePreprocessed:
    def test_fast_processors_preprocess_on_the_gpu_unless_told_not_to(self, clip_model, monkeypatch):
        image_processor = clip_model.processor.image_processor
        assert any(base.__name__ == "TorchvisionBackend" for base in type(image_processor).__mro__)
        assert clip_model._preprocess_on_device(CUDA)
        assert not clip_model._preprocess_on_device(torch.device("cpu"))
        monkeypatch.setattr(clip_model, "gpu_preprocessing", False)
        assert not clip_model._preprocess_on_device(CUDA)

    def test_slow_processors_stay_on_the_cpu(self, clip_model, monkeypatch):
        class PilImageProcessor:  # a processor without the torchvision backend
            pass

        monkeypatch.setattr(clip_model.processor, "image_processor", PilImageProcessor())
        assert not clip_model._preprocess_on_device(CUDA)

    def test_cuda_batches_ask_for_device_preprocessing_and_are_pinned(self, clip_model, monkeypatch, fake_pinning):
        calls = []
        real_preprocess = clip_model.preprocess

        def preprocess(values, prompt=None, **kwargs):
            calls.append(kwargs)
            return real_preprocess(values, prompt=prompt)  # the real work stays on the CPU here

        monkeypatch.setattr(clip_model, "preprocess", preprocess)
        on_gpu = clip_model._prepare_features(["a red car"], CUDA, None, {})
        on_cpu = clip_model._prepare_features(["a red car"], torch.device("cpu"), None, {})
        assert calls[0]["processing_kwargs"]["image"]["device"] == "cuda" and "processing_kwargs" not in calls[1]
        assert all(v.is_pinned() for v in on_gpu.values() if isinstance(v, torch.Tensor))
        assert not any(v.is_pinned() for v in on_cpu.values() if isinstance(v, torch.Tensor))
