"""numpy's OpenBLAS on one thread while a pipeline runs.

Preprocessing calls numpy (CLAP's mel filter bank is a matrix product), and OpenBLAS runs each product
on a pool of threads that spin-wait for work afterwards: on a few cores they take CPU from the forward
pass and from the other workers, which already run in parallel. While a pipeline runs, OpenBLAS is
limited to one thread (the count is process-wide in OpenBLAS; it is restored when the last running
pipeline ends). torch's own BLAS (MKL) is not touched. Nothing changes when the user chose a count
(``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` set) or when threadpoolctl is not installed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy  # noqa: F401 - loads numpy's OpenBLAS before it is looked for

__all__ = ["one_openblas_thread"]

_ENV_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"runs": 0, "restore": None}


def _openblas() -> Any:
    """threadpoolctl's controller of the OpenBLAS libraries loaded now (numpy's), or None.

    Found once, when this module is imported: on Linux threadpoolctl reads ``/proc/self/maps`` to list the
    loaded libraries, and an encode call opens nothing but its inputs.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it nothing is limited
        return None
    try:
        selected = ThreadpoolController().select(internal_api="openblas")
    except Exception:  # noqa: BLE001 - an older threadpoolctl: leave the pools alone
        return None
    return selected if selected.lib_controllers else None


_OPENBLAS = _openblas()


@contextlib.contextmanager
def one_openblas_thread() -> Iterator[None]:
    """Limit OpenBLAS to one thread for the duration (nested and concurrent uses share one limit)."""
    if any(os.environ.get(name) for name in _ENV_VARIABLES):
        yield
        return
    with _LOCK:
        if _STATE["runs"] == 0:
            _STATE["restore"] = _OPENBLAS.limit(limits=1) if _OPENBLAS is not None else None
        _STATE["runs"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["runs"] -= 1
            if _STATE["runs"] == 0 and _STATE["restore"] is not None:
                _STATE["restore"].restore_original_limits()
                _STATE["restore"] = None
