"""Moving prepared batches to the model's device: pinned host memory and non-blocking copies on CUDA."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["features_to_device", "floating_dtype", "pin_features"]


def pin_features(features: dict[str, Any]) -> dict[str, Any]:
    """Page-lock CPU tensors so the host-to-GPU copy can run asynchronously."""
    return {k: v.pin_memory() if isinstance(v, torch.Tensor) and v.device.type == "cpu" else v for k, v in features.items()}


def features_to_device(features: dict[str, Any], device: torch.device, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Copy tensors to ``device``; pinned tensors are copied without blocking the host.

    With ``dtype`` (the model's floating dtype), floating-point features (pixel values, audio features) are
    cast to it: models that do not cast their inputs themselves (CLAP's audio encoder) fail on float32
    inputs with bfloat16 weights, and those that do (CLIP, SigLIP, Qwen3-VL) cast to the same dtype anyway.
    """
    def moved(value: torch.Tensor) -> torch.Tensor:
        if dtype is not None and value.is_floating_point() and value.dtype != dtype:
            return value.to(device, dtype=dtype, non_blocking=value.is_pinned())
        return value.to(device, non_blocking=value.is_pinned())

    return {k: moved(v) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


def floating_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of the module's first floating-point parameter (None if it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)
