"""A model fingerprint: changes whenever weights, modules or preprocessing settings change."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

__all__ = ["model_fingerprint", "state_token"]


@torch.inference_mode()
def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over module classes, configs, processor settings and a summary of every parameter."""
    digest = hashlib.sha256()
    for name, module in model.named_children():
        digest.update(f"{name}:{type(module).__module__}.{type(module).__qualname__}".encode())
        config = getattr(module, "get_config_dict", None)
        if callable(config):
            digest.update(json.dumps(config(), sort_keys=True, default=str).encode())
    processor = getattr(model, "processor", None)
    if processor is not None:
        digest.update(_processor_settings(processor).encode())
    for name, tensor in model.state_dict().items():
        bits = _bit_patterns(tensor)
        summary = (
            name,
            tuple(tensor.shape),
            str(tensor.dtype),
            int(bits.sum(dtype=torch.int64)),
            int(bits[1::3].sum(dtype=torch.int64)),
            bits[:8].tolist(),
            bits[-8:].tolist(),
        )
        digest.update(repr(summary).encode())
    return digest.hexdigest()


_SIGNED_OF_SIZE = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bit_patterns(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements as signed integers of the same width, flattened (no copy for contiguous tensors).

    Integer sums do not depend on the order of addition, so the fingerprint is the same whatever the number of
    torch threads (float sums differ in their last bits between 1 and 2 threads)."""
    data = tensor.detach().contiguous()
    if data.is_complex():
        data = torch.view_as_real(data)
    if data.dtype == torch.bool:
        data = data.to(torch.uint8)
    return data.flatten().view(_SIGNED_OF_SIZE[data.element_size()])


def _processor_settings(processor: Any) -> str:
    try:
        return processor.to_json_string()
    except Exception:  # noqa: BLE001 - processors without a JSON form fall back to repr
        return repr(processor)


def state_token(model: torch.nn.Module) -> tuple:
    """A cheap value that changes when :func:`model_fingerprint` may have: each weight's storage, version
    counter (bumped by every in-place change made through the tensor itself) and dtype, the number of
    modules, and the processor's settings. Changes made through ``tensor.data`` bypass the version counter."""
    weights = tuple((t.data_ptr(), _version(t), t.dtype) for t in (*model.parameters(), *model.buffers()))
    processor = getattr(model, "processor", None)
    settings = hash(_processor_settings(processor)) if processor is not None else None
    return weights, sum(1 for _ in model.modules()), settings


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # inference tensors have no version counter (and cannot be changed in place)
        return -1
