"""The Qwen-VL video processor's own resize, run ahead on the decode workers, so the processor's becomes a no-op.

A decoded clip is ``T`` frames, ``(T, H, W, 3)`` uint8. Handed over as it is, the video processor (on the one
preprocessing thread) works on the full frames: a channels-first copy, a copy of the frames it samples, a
stacked copy of the batch's clips, and only then its resize, typically to a small fraction of the pixels.
Here a decode worker calls the processor's ``resize`` itself (same function, same arguments) on the
channels-last view of the decoded frames: the same kernel as on a channels-first copy (bit-identical output,
checked in the tests), in less time and without the copy. The processor then copies only the small frames,
and its resize finds them at their target size and returns them untouched.

Only done where the result is provably the same: the stock video processor of Qwen3-VL, whose ``resize``
takes ``factor`` and ``temporal_factor`` (transformers versions that resize inside ``_preprocess`` are left
alone); a clip the processor keeps every frame of when it samples frames again from the clip's metadata
(its own ``sample_frames``, asked ahead); and a size its resize keeps. Otherwise the clip goes on as it came.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..errors import LimitExceededError
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from .preresize import settings_token, size_dict

__all__ = ["VideoPreResizer"]

_NOT_SAMPLING_KWARGS = ("input_data_format", "do_convert_rgb", "do_sample_frames", "device", "video_metadata")
"""What the processor's ``preprocess`` pops from its options before it samples frames with the rest."""


class VideoPreResizer:
    """Calls ``video_processor.resize`` on a decoded clip's frames where that provably changes nothing downstream."""

    def __init__(self, video_processor: Any):
        self.video_processor = video_processor
        self._resize_kwargs = dict(size=size_dict(video_processor.size), resample=video_processor.resample,
                                   factor=int(video_processor.patch_size) * int(video_processor.merge_size),
                                   temporal_factor=int(video_processor.temporal_patch_size))
        if "cap_pixels_per_frame" in inspect.signature(type(video_processor).resize).parameters:
            # the processor reads None as False (after a warning); resize only asks whether it is truthy
            self._resize_kwargs["cap_pixels_per_frame"] = getattr(video_processor, "cap_pixels_per_frame", None)
        self._sampling_kwargs = {name: getattr(video_processor, name, None)
                                 for name in getattr(video_processor.valid_kwargs, "__annotations__", {})
                                 if name not in _NOT_SAMPLING_KWARGS}
        self.cache_token = settings_token(video_processor)
        """What decides this resizer's output besides the clip and the call's limits: a key for the decoded-input cache."""
        self._targets: dict[tuple[int, int, int], tuple[int, int] | None] = {}
        """(frames, height, width) in -> (height, width) the processor resizes to; a resizer lives for one call."""

    @classmethod
    def for_processor(cls, processor: Any) -> VideoPreResizer | None:
        """A resizer for this model's processor, or None where running the resize ahead is not provably exact."""
        video_processor = getattr(processor, "video_processor", None)
        if video_processor is None or not cls.applies_to(video_processor):
            return None
        return cls(video_processor)

    @staticmethod
    def applies_to(video_processor: Any) -> bool:
        """The stock Qwen3-VL video processor, with its own ``resize(videos, size, resample, factor, temporal_factor)``."""
        try:
            from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
        except ImportError:  # pragma: no cover - a transformers without Qwen3-VL
            return False
        stock = Qwen3VLVideoProcessor
        if not isinstance(video_processor, stock) or "resize" not in vars(stock):
            return False  # an older transformers, whose processor resizes inside its _preprocess
        if not {"videos", "size", "resample", "factor", "temporal_factor"} <= set(inspect.signature(stock.resize).parameters):
            return False
        kind = type(video_processor)
        for name in ("preprocess", "_decode_and_sample_videos", "_prepare_input_videos", "sample_frames", "_preprocess",
                     "resize"):
            if getattr(kind, name, None) is not getattr(stock, name, None):
                return False  # a subclass with its own sampling or resize logic
        size = video_processor.size
        get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
        return bool(getattr(video_processor, "do_resize", False) and get("shortest_edge") and get("longest_edge")
                    and video_processor.patch_size and video_processor.merge_size and video_processor.temporal_patch_size)

    def __call__(self, value: Any, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> Any:
        """``value`` (a decoded ``{"array": (T, H, W, 3) uint8, "video_metadata": ...}``) with its frames resized
        ahead as a contiguous ``(T, 3, h, w)`` tensor, or ``value`` itself where that would not be exact.

        A clip the resize would make larger than ``limits.max_pixels`` a frame or ``limits.max_array_elements``
        in all is a LimitExceededError, raised before anything is allocated."""
        import torch

        frames = value.get("array") if isinstance(value, dict) else None
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            return value
        count, height, width = frames.shape[:3]
        if not self._keeps_every_frame(value.get("video_metadata"), count):
            return value
        target = self._target_of((count, height, width))
        if target is None:
            return value
        pixels = target[0] * target[1]
        if pixels > limits.max_pixels:
            raise LimitExceededError(f"the model's resize would turn video frames of {width}x{height} pixels into "
                                     f"{target[1]}x{target[0]}", limit_name="max_pixels", limit=limits.max_pixels,
                                     actual=pixels)
        if count * pixels * 3 > limits.max_array_elements:
            raise LimitExceededError(f"the model's resize would turn {count} video frames of {width}x{height} pixels "
                                     f"into {target[1]}x{target[0]}", limit_name="max_array_elements",
                                     limit=limits.max_array_elements, actual=count * pixels * 3)
        if self._target_of((count, *target)) != target:
            return value  # the processor would resize the resized frames again
        channels_last = torch.from_numpy(frames).permute(0, 3, 1, 2)
        try:
            resized = self.video_processor.resize(videos=channels_last[None], **self._resize_kwargs)[0]
        except Exception:  # noqa: BLE001 - only a shortcut: the processor resizes it itself, its errors isolated per item
            return value
        if tuple(resized.shape) != (count, 3, *target) or resized.dtype != torch.uint8:
            return value
        return {**value, "array": resized.contiguous()}

    def _target_of(self, shape: tuple[int, int, int]) -> tuple[int, int] | None:
        if shape not in self._targets:
            self._targets[shape] = self._target_rule(shape)
        return self._targets[shape]

    def _target_rule(self, shape: tuple[int, int, int]) -> tuple[int, int] | None:
        """The processor's resize asked for the size alone: on a clip with no channels, which torchvision
        answers with an empty tensor of the output's shape (nothing is computed or allocated)."""
        import torch

        probe = torch.empty((1, shape[0], 0, shape[1], shape[2]), dtype=torch.uint8)
        try:
            out = self.video_processor.resize(videos=probe, **self._resize_kwargs)
        except Exception:  # noqa: BLE001 - e.g. an aspect ratio or frame count Qwen refuses: the processor raises it
            return None
        if out.numel() != 0 or tuple(out.shape[:3]) != (1, shape[0], 0) or min(out.shape[-2:]) < 1:
            return None
        return int(out.shape[-2]), int(out.shape[-1])

    def _keeps_every_frame(self, metadata: Any, count: int) -> bool:
        """Whether the processor, sampling frames from the clip and its metadata, keeps all ``count`` in order."""
        if not getattr(self.video_processor, "do_sample_frames", False):
            return True
        if not isinstance(metadata, dict) or metadata.get("fps") is None or metadata.get("total_num_frames") != count:
            return False  # without an fps the processor assumes one (and warns): left to it
        from transformers.video_utils import VideoMetadata

        try:
            indices = self.video_processor.sample_frames(metadata=VideoMetadata(**metadata), **self._sampling_kwargs)
        except Exception:  # noqa: BLE001 - the processor raises it itself
            return False
        indices = np.asarray(indices)
        return indices.shape == (count,) and bool(np.array_equal(indices, np.arange(count)))
