"""Loading weights into another dtype without holding the checkpoint's pages as well.

transformers reads a safetensors checkpoint through a memory map and, for ``dtype=bfloat16`` from a
float32 file, converts each tensor into a new bfloat16 tensor. Every page of the file it read stays
mapped, so counted in the process's resident memory, until the whole model is loaded: the peak holds
the float32 checkpoint and the bfloat16 model together (three times the bfloat16 weights).

While :func:`reading_into` is active (around our model classes' construction), a safetensors file
opened by transformers whose floating-point tensors are not all stored in the target dtype is read
with safetensors' ``pread`` backend instead (the one transformers itself uses on Windows and MPS):
each tensor is read into its own buffer, converted, and the buffer freed. The tensors are the same;
a file already in the target dtype keeps the memory map (its tensors are then the file's pages).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import struct
import threading
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["reading_into", "requested_dtype", "stored_float_dtypes", "needs_cast"]

_SAFETENSORS_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64"}
_MAX_HEADER = 100 * 1024 * 1024

_target: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar("st_mm_cast_target", default=None)
_lock = threading.Lock()
_state: dict[str, Any] = {"installs": 0, "original": None}


def requested_dtype(model_kwargs: dict[str, Any] | None) -> torch.dtype | None:
    """The dtype ``model_kwargs`` asks transformers for (``dtype`` or ``torch_dtype``), None for none or ``"auto"``."""
    value = (model_kwargs or {}).get("dtype", (model_kwargs or {}).get("torch_dtype"))
    if isinstance(value, str) and value != "auto":
        value = getattr(torch, value, None)
    return value if isinstance(value, torch.dtype) else None


def stored_float_dtypes(path: str) -> set[str]:
    """The safetensors dtype names (``"F32"``, ``"BF16"``, ...) of the floating-point tensors in ``path``."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > _MAX_HEADER:
            raise ValueError(f"safetensors header of {length} bytes")
        header = json.loads(handle.read(length))
    dtypes = {entry.get("dtype") for key, entry in header.items() if key != "__metadata__" and isinstance(entry, dict)}
    return {d for d in dtypes if isinstance(d, str) and (d.startswith("F") or d == "BF16")}


def needs_cast(path: str, dtype: torch.dtype) -> bool:
    """Whether the file holds floating-point tensors stored in another dtype than ``dtype`` (False if unreadable)."""
    name = _SAFETENSORS_NAMES.get(dtype)
    if name is None:
        return False
    try:
        return bool(stored_float_dtypes(path) - {name})
    except (OSError, ValueError, struct.error):
        return False


def _safe_open(file, *args, **kwargs):
    original = _state["original"]
    target = _target.get()
    if (target is not None and not args and kwargs.get("backend", "mmap") == "mmap"
            and str(kwargs.get("device", "cpu")) == "cpu" and needs_cast(str(file), target)):
        try:
            return original(file, **{**kwargs, "backend": "pread"})
        except TypeError:  # a safetensors without the pread backend: read as transformers asked
            pass
    return original(file, *args, **kwargs)


def _modeling_utils():
    try:
        from transformers import modeling_utils
    except ImportError:  # pragma: no cover - transformers is a dependency
        return None
    return modeling_utils if callable(getattr(modeling_utils, "safe_open", None)) else None


@contextlib.contextmanager
def reading_into(dtype: torch.dtype | None) -> Iterator[None]:
    """While active in this thread, transformers reads checkpoints that need a cast to ``dtype`` without a memory map.

    ``dtype=None`` changes nothing. Nested and concurrent uses are fine: the hook is installed once and
    removed when the last use ends; outside an active use (other threads included) it reads as transformers asked.
    """
    module = _modeling_utils() if dtype is not None else None
    if module is None:
        yield
        return
    with _lock:
        if _state["installs"] == 0:
            _state["original"] = module.safe_open
            module.safe_open = _safe_open
        _state["installs"] += 1
    token = _target.set(dtype)
    try:
        yield
    finally:
        _target.reset(token)
        with _lock:
            _state["installs"] -= 1
            if _state["installs"] == 0:
                if module.safe_open is _safe_open:
                    module.safe_open = _state["original"]  # kept in _state: a call already under way still finds it
