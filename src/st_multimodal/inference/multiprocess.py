"""Multi-process inference (``device=[...]`` or ``pool=``) that carries each call's options to the workers.

Upstream sends ``[chunk id, inputs, inference kwargs]`` to worker processes started by
``start_multi_process_pool``. Here the call's :class:`~st_multimodal.inference.options.CallOptions`
travel with each chunk as the ``call_options`` keyword of ``_inference``, and each worker sends back
the failures it recorded next to its rows; they are moved to the caller's positions here. Pools,
queues, worker-death checks and the worker error reports are upstream's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from sentence_transformers.util import _move_tensors_to_cpu
from tqdm.autonotebook import trange

from ..errors import MultimodalInputError
from .options import CallOptions, handed_over

__all__ = ["MultiProcessMixin"]


class _ChunkResult:
    """A worker's answer for one chunk: its rows and the failures it recorded (at chunk positions)."""

    __slots__ = ("rows", "failures")

    def __init__(self, rows: Any, failures: list):
        self.rows = rows
        self.failures = failures

    def __reduce__(self):
        return (_ChunkResult, (self.rows, self.failures))


class MultiProcessMixin:
    """``_multi_process`` / ``_multi_process_worker`` with the call's options on every chunk."""

    def _multi_process(
        self,
        inputs: Sequence,
        show_progress_bar: bool | None = True,
        pool: dict[str, Any] | None = None,
        device: str | torch.device | list[str | torch.device] | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> list | torch.Tensor:
        """Upstream's multi-process inference, with this call's options sent to the workers and their failures merged."""
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
        if not inputs:
            return []
        options: CallOptions = kwargs.pop("call_options", None) or handed_over() or self.call_options()
        kwargs["show_progress_bar"] = False
        created_pool = pool is None and isinstance(device, list)
        if created_pool:
            pool = self.start_multi_process_pool(device)
        try:
            if chunk_size is None:
                chunk_size = max(1, min(math.ceil(len(inputs) / len(pool["processes"]) / 10), 5000))
            starts = range(0, len(inputs), chunk_size)
            for chunk_id, start in enumerate(starts):
                pool["input"].put([chunk_id, inputs[start : start + chunk_size], {**kwargs, "call_options": options.for_chunk()}])
            outputs: list[Any] = [None] * len(starts)
            for _ in trange(len(starts), desc="Chunks", disable=not show_progress_bar):
                chunk_id, output = self._get_worker_result(pool)
                outputs[chunk_id] = output
        finally:
            if created_pool:
                self.stop_multi_process_pool(pool)
        return _merge_chunks(outputs, starts, options)

    @classmethod
    def _multi_process_worker(cls, target_device: str, model: Any, input_queue: Any, results_queue: Any) -> None:
        """Run queued chunks with their options; answer each with its rows and failures (or the error that stopped it)."""
        while True:
            chunk_id, inputs, kwargs = input_queue.get()
            options = kwargs.setdefault("call_options", model.call_options())
            try:
                rows = _move_tensors_to_cpu(model._inference(inputs, device=target_device, **kwargs))
            except Exception as exc:  # noqa: BLE001 - reported to the caller as upstream reports it
                results_queue.put(cls._report_worker_failure(chunk_id, exc, target_device))
            else:
                results_queue.put([chunk_id, _ChunkResult(rows, options.failures)])


def _merge_chunks(outputs: list[Any], starts: range, options: CallOptions) -> list | torch.Tensor:
    """Rows of all chunks in order; failures (and a raised input error) moved to the caller's positions."""
    for output, start in zip(outputs, starts):
        if isinstance(output, MultimodalInputError) and output.index is not None:
            raise output.renumbered(start + output.index)
        if isinstance(output, Exception):
            raise output
    for output, start in zip(outputs, starts):
        options.failures.extend(f.renumbered(start + f.index) for f in output.failures)
    rows = [output.rows for output in outputs]
    if all(isinstance(chunk, torch.Tensor) for chunk in rows):
        filled = [chunk for chunk in rows if chunk.numel() or chunk.ndim > 1]
        return torch.cat(filled) if filled else torch.tensor([])
    return [row for chunk in rows for row in chunk]
