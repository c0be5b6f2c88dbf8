"""Run one call in a forked child with an address-space cap, and measure its peak RSS growth and time.

For hostile-input tests: a decoder that runs away is killed by the cap or the timeout instead of
taking the test process with it. The child is forked, so it shares everything already imported and
its growth is measured from its own starting RSS (``VmHWM`` at the end minus ``VmRSS`` at the start),
after free heap memory inherited from the parent is trimmed (else reusing it would not show).
Linux only.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "run_isolated"]

MB = 1_000_000


@dataclass
class Outcome:
    """What the child did: its return value or exception (as type name and text), peak growth and time."""

    value: Any = None
    error_type: str | None = None
    error: BaseException | None = None
    rss_growth: int = 0
    """Bytes: peak RSS of the child minus its RSS when the call started."""
    seconds: float = 0.0
    killed: str | None = None
    """"timeout" or "signal N" when the child did not finish on its own."""

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_growth / MB


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _fresh_peak() -> None:
    """Give free heap memory back to the system and reset the peak, so the growth counts only new pages."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def _child(write_fd: int, fn: Callable[..., Any], args: tuple, cap: int | None) -> None:
    _fresh_peak()
    if cap is not None:
        limit = _status_kb("VmSize") * 1024 + cap
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start_rss = _status_kb("VmRSS") * 1024
    started = time.perf_counter()
    try:
        value, error = fn(*args), None
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        value, error = None, exc
    seconds = time.perf_counter() - started
    growth = _status_kb("VmHWM") * 1024 - start_rss
    try:
        payload = pickle.dumps((value, type(error).__name__ if error else None, error, growth, seconds))
    except Exception:  # noqa: BLE001 - an unpicklable value or error: send its text
        payload = pickle.dumps((None, type(error).__name__ if error else None, RuntimeError(str(error)), growth, seconds))
    with os.fdopen(write_fd, "wb") as pipe:
        pipe.write(payload)


def run_isolated(fn: Callable[..., Any], *args: Any, address_space: int | None = 2_000 * MB,
                 timeout: float = 60.0) -> Outcome:
    """Call ``fn(*args)`` in a forked child capped at ``address_space`` more bytes of virtual memory."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        code = 0
        try:
            _child(write_fd, fn, args, address_space)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(write_fd)
    started, chunks, killed = time.monotonic(), [], None
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = "timeout"
                break
            ready, _, _ = select.select([pipe], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(pipe.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if killed is None and os.WIFSIGNALED(status):
        killed = f"signal {os.WTERMSIG(status)}"
    if not chunks:
        return Outcome(killed=killed or "no result", seconds=time.monotonic() - started)
    value, error_type, error, growth, seconds = pickle.loads(b"".join(chunks))
    return Outcome(value=value, error_type=error_type, error=error, rss_growth=growth, seconds=seconds, killed=killed)
