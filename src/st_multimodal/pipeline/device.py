"""Moving prepared batches to the model's device: pinned host memory and non-blocking copies on CUDA."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["pin_features", "features_to_device"]


def pin_features(features: dict[str, Any]) -> dict[str, Any]:
    """Page-lock CPU tensors so the host-to-GPU copy can run asynchronously."""
    return {k: v.pin_memory() if isinstance(v, torch.Tensor) and v.device.type == "cpu" else v for k, v in features.items()}


def features_to_device(features: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Copy tensors to ``device``; pinned tensors are copied without blocking the host."""
    return {
        k: v.to(device, non_blocking=v.is_pinned()) if isinstance(v, torch.Tensor) else v for k, v in features.items()
    }
