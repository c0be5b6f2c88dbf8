"""The image processor's own resize, run ahead on the decode workers, so the processor's becomes a no-op.

Torchvision (fast) image processors make every image contiguous and then resize it, one at a time, in
the preprocessing step. For a freshly decoded image, which is channels-last in memory, that copy costs
as much as the resize, and a resize of the channels-last view takes half the time of the same resize of
the contiguous copy (same kernel, bit-identical output; checked in the tests). So the decode workers,
which run in parallel, call the processor's ``resize`` on the channels-last view; the processor then
finds an image already at its target size, and torchvision returns it untouched. Where the processor
centre-crops next, its own ``center_crop`` runs ahead too, so only the kept pixels are copied and stacked.

Only done where the result is provably the same: a torchvision processor whose ``_preprocess`` is the
base one, a ``shortest_edge`` or ``height``/``width`` size, no per-call processor options, and an
output size the processor would not change again. Otherwise the image goes on as it came.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import LimitExceededError
from ..policy import DEFAULT_DECODE_LIMITS

__all__ = ["ImagePreResizer"]


class ImagePreResizer:
    """Calls ``image_processor.resize`` on uint8 ``(3, H, W)`` images where that provably changes nothing downstream."""

    def __init__(self, image_processor: Any, max_pixels: int = DEFAULT_DECODE_LIMITS.max_pixels):
        self.image_processor = image_processor
        self.max_pixels = max_pixels
        """Largest image the resize may produce; a bigger one is a LimitExceededError, never an allocation."""
        self._size = size_dict(image_processor.size)
        self._resample = image_processor.resample
        self._targets: dict[tuple[int, int], tuple[int, int] | None] = {}
        """(height, width) in -> (height, width) the processor resizes to; a resizer lives for one call."""
        self.cache_token = settings_token(image_processor, max_pixels)
        """What decides this resizer's output besides the image: a key for the decoded-input cache."""

    def _target_of(self, shape: tuple[int, int]) -> tuple[int, int] | None:
        if shape not in self._targets:
            self._targets[shape] = self._target_rule(shape)
        return self._targets[shape]

    def _target_rule(self, shape: tuple[int, int]) -> tuple[int, int] | None:
        return _target(self._size, shape)

    def _resize(self, image: Any) -> Any:
        return self.image_processor.resize(image=image, size=self._size, resample=self._resample)

    @classmethod
    def for_processor(cls, processor: Any) -> ImagePreResizer | None:
        """A resizer for this model's processor, or None where running the resize ahead is not provably exact."""
        image_processor = getattr(processor, "image_processor", None)
        try:
            from transformers.image_processing_backends import TorchvisionBackend
        except ImportError:  # pragma: no cover - older transformers
            return None
        if not isinstance(image_processor, TorchvisionBackend) or not getattr(image_processor, "do_resize", False):
            return None
        if QwenPreResizer.applies_to(image_processor):
            return QwenPreResizer(image_processor)
        if type(image_processor)._preprocess is not TorchvisionBackend._preprocess:
            return None  # a processor with its own resize logic (e.g. Qwen-VL's smart resize)
        if _target(image_processor.size) is None:
            return None
        return cls(image_processor)

    def __call__(self, image: Any) -> Any:
        import torch

        if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            return image
        if image.device.type != "cpu":
            return image
        target = self._target_of(tuple(image.shape[-2:]))
        if target is not None and target[0] * target[1] > self.max_pixels:
            raise LimitExceededError(
                f"the model's resize would turn an image of {image.shape[-1]}x{image.shape[-2]} pixels into "
                f"{target[1]}x{target[0]}", limit_name="max_pixels", limit=self.max_pixels, actual=target[0] * target[1])
        try:
            resized = self._resize(image)
        except Exception:  # noqa: BLE001 - only a shortcut: the processor resizes it itself, its errors isolated per item
            return image
        if self._target_of(tuple(resized.shape[-2:])) != tuple(resized.shape[-2:]):
            return image  # the processor would resize again: hand it the original
        return self._cropped(resized).contiguous()

    def _cropped(self, resized: Any) -> Any:
        """The processor's own centre crop, ahead, where the processor then finds nothing left to crop or resize
        (the crop is a view: copying only the kept pixels is cheaper than copying the whole resized image)."""
        processor = self.image_processor
        crop = getattr(processor, "crop_size", None)
        if not getattr(processor, "do_center_crop", False) or crop is None:
            return resized
        crop = size_dict(crop)
        if not crop.height or not crop.width or crop.height > resized.shape[-2] or crop.width > resized.shape[-1]:
            return resized  # the processor pads: leave it to the processor
        try:
            cropped = processor.center_crop(resized, crop)
        except Exception:  # noqa: BLE001 - only a shortcut, as above
            return resized
        if tuple(cropped.shape[-2:]) != (crop.height, crop.width) or self._target_of(tuple(cropped.shape[-2:])) != (crop.height, crop.width):
            return resized
        return cropped


class QwenPreResizer(ImagePreResizer):
    """Qwen2-VL / Qwen3-VL image processors: their ``smart_resize`` (a pixel budget, sides multiples of
    ``patch_size * merge_size``) ahead. An image already at a size ``smart_resize`` keeps is not resized again
    (torchvision returns it untouched), and rescaling, normalising and patchifying work image by image."""

    @staticmethod
    def applies_to(image_processor: Any) -> bool:
        try:
            from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
        except ImportError:  # pragma: no cover - a transformers without Qwen2-VL
            return False
        kind = type(image_processor)
        if not isinstance(image_processor, Qwen2VLImageProcessor):
            return False
        if "resize" not in vars(Qwen2VLImageProcessor) or "factor" not in inspect.signature(Qwen2VLImageProcessor.resize).parameters:
            return False  # an older transformers, whose Qwen processor resizes inside its _preprocess
        if kind._preprocess is not Qwen2VLImageProcessor._preprocess or kind.resize is not Qwen2VLImageProcessor.resize:
            return False  # a subclass with its own resize logic
        size = size_dict(image_processor.size)
        return bool(size.shortest_edge and size.longest_edge and image_processor.patch_size and image_processor.merge_size)

    def _factor(self) -> int:
        return int(self.image_processor.patch_size) * int(self.image_processor.merge_size)

    def _target_rule(self, shape: tuple[int, int]) -> tuple[int, int] | None:
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        try:
            return tuple(smart_resize(shape[0], shape[1], factor=self._factor(), min_pixels=self._size.shortest_edge,
                                      max_pixels=self._size.longest_edge))
        except ValueError:  # an aspect ratio Qwen refuses: the processor raises it, isolated per item
            return None

    def _resize(self, image: Any) -> Any:
        return self.image_processor.resize(images=image, size=self._size, resample=self._resample, factor=self._factor())

    def _cropped(self, resized: Any) -> Any:
        return resized  # no centre crop in Qwen's processing


def settings_token(processor: Any, *extra: Any) -> str | None:
    """A short key for every setting of ``processor`` (its class and ``to_dict()``) and ``extra``; None when the
    settings cannot be read (the value is then not cached in its resized form)."""
    import json

    from .cache import cache_key

    try:
        settings = json.dumps(processor.to_dict(), sort_keys=True, default=repr)
    except Exception:  # noqa: BLE001 - a processor without a readable config
        return None
    return cache_key(type(processor).__module__, type(processor).__qualname__, settings, *map(repr, extra))


def size_dict(size: Any) -> Any:
    """A processor's ``size`` (or ``crop_size``) as transformers' ``SizeDict``."""
    from transformers.image_processing_utils import SizeDict

    return size if isinstance(size, SizeDict) else SizeDict(**size)


def _target(size: Any, current: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The (height, width) the processor resizes an image of ``current`` size to; None if unsupported."""
    size = size_dict(size)
    if size.longest_edge or size.max_height or size.max_width:
        return None
    if size.height and size.width and not size.shortest_edge:
        return int(size.height), int(size.width)
    if size.shortest_edge and not (size.height or size.width):
        if current is None:
            return (0, 0)  # supported; depends on the image
        import numpy as np
        from transformers.image_transforms import get_resize_output_image_size
        from transformers.image_utils import ChannelDimension

        probe = np.empty((1, *current), dtype=np.uint8)  # only the shape is read
        return tuple(get_resize_output_image_size(probe, size=size.shortest_edge, default_to_square=False,
                                                  input_data_format=ChannelDimension.FIRST))
    return None
