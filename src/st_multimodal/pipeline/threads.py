"""Torch's intra-op threads inside the pipeline: one per worker, so workers and the forward pass share the cores.

Every decode and preprocessing worker runs small torch ops (JPEG decode, resize, normalise). With torch's
default of one OpenMP team as wide as the machine per calling thread, N workers plus the forward pass ask
for (N + 1) x cores threads, which spin while they wait: on 2 cores that cost about a third of the CPU per
image. OpenMP thread counts are per thread, so each worker sets its own to 1; the caller's thread (the
forward pass) keeps its own. ``torch.set_num_threads`` also moves the process-wide default that new
threads start from, so :func:`restoring_torch_threads` puts it back when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_torch_thread", "restoring_torch_threads"]


def one_torch_thread() -> None:
    """Thread initializer for the pipeline's workers."""
    import torch

    torch.set_num_threads(1)


@contextmanager
def restoring_torch_threads() -> Iterator[None]:
    """Pin the caller's torch thread count for the run and restore the process default afterwards."""
    import torch

    saved = torch.get_num_threads()  # also initialises this thread's count before any worker changes the default
    try:
        yield
    finally:
        torch.set_num_threads(saved)
