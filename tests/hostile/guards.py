"""Guards for the hostile-input suite: what a case may touch, and what it may cost.

- :func:`confined` turns on a process-wide audit hook (``sys.addaudithook``) for the duration of a
  case. While on, opening any file outside the allowed folders (the case's tmp dir, plus read-only
  opens of the Python installation for lazy imports), connecting or binding a socket to anything but
  loopback, and looking up a host name are refused (the operation raises) and recorded; leaving the
  block fails the test if anything was recorded. The hook sees what Python code does, in every
  thread, whatever our code thinks it is doing; it cannot see C libraries that call the OS directly.
  Audit hooks cannot be removed, so the hook is installed once and checks a flag.
- :class:`PeakRSS` samples the process's resident memory on a thread and reports the peak growth.
- :func:`run_capped` runs a case in a fresh interpreter whose address space is capped, so a
  regression fails with MemoryError instead of exhausting the machine. The subprocess imports only
  the ``st_multimodal`` submodules it needs (no torch), so it starts in well under a second.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil

__all__ = ["Escape", "confined", "PeakRSS", "run_capped", "SRC"]

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Escape(AssertionError):
    """A case touched a file, socket or host name outside what it was allowed."""


@dataclass
class _Guard:
    active: bool = False
    allowed: tuple[str, ...] = ()
    readable: tuple[str, ...] = ()
    violations: list[str] = field(default_factory=list)
    exempt_threads: set[int] = field(default_factory=set)
    """The guards' own threads (the RSS sampler reads /proc)."""


_GUARD = _Guard()
_INSTALLED = False


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _loopback(host) -> bool:
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refuse(message: str) -> None:
    _GUARD.violations.append(message)
    raise Escape(message)


def _check_open(path, mode, flags) -> None:
    if isinstance(path, int) or path is None:  # os.fdopen / an already-open descriptor
        return
    real = os.path.realpath(os.fsdecode(path))
    if _under(real, _GUARD.allowed):
        return
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS)
    if not writes and _under(real, _GUARD.readable):
        return
    _refuse(f"open {real!r} (mode {mode!r}, flags {flags!r})")


def _hook(event: str, args: tuple) -> None:
    if not _GUARD.active or threading.get_ident() in _GUARD.exempt_threads:
        return
    if event == "open":
        _check_open(*args[:3])
    elif event in ("socket.connect", "socket.bind", "socket.sendto"):
        address = args[1] if event != "socket.sendto" else args[-1]
        if isinstance(address, tuple) and not _loopback(address[0]):
            _refuse(f"{event} {address!r}")
    elif event == "socket.getaddrinfo":
        host = args[0]
        host = host.decode() if isinstance(host, bytes) else host
        if host is not None and host != "localhost" and not _loopback(host):
            try:
                ipaddress.ip_address(host)  # a literal needs no lookup; a non-loopback one is caught at connect
            except ValueError:
                _refuse(f"host name lookup {host!r}")


def _python_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, SRC}
    roots.update(p for p in sys.path if p and os.path.isdir(p) and os.path.abspath(p) not in ("/", os.getcwd()))
    return tuple(sorted(os.path.realpath(r) for r in roots))


@contextmanager
def confined(*allowed: os.PathLike | str) -> Iterator[list[str]]:
    """Within the block nothing may open files outside ``allowed`` (or reach beyond loopback); fails on exit if anything tried."""
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED = True
    _GUARD.allowed = tuple(os.path.realpath(os.fspath(a)) for a in allowed)
    _GUARD.readable = _python_roots()
    _GUARD.violations = []
    _GUARD.active = True
    try:
        yield _GUARD.violations
    finally:
        _GUARD.active = False
    if _GUARD.violations:
        raise Escape("the case escaped its confinement: " + "; ".join(_GUARD.violations))


class PeakRSS:
    """``with PeakRSS() as rss: ...`` then ``rss.growth`` (bytes above the start, at the sampled peak) and ``rss.seconds``."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.growth = 0
        self.seconds = 0.0
        self._process = psutil.Process()
        self._stop = threading.Event()

    def _sample(self) -> None:
        _GUARD.exempt_threads.add(threading.get_ident())
        try:
            while not self._stop.is_set():
                self.growth = max(self.growth, self._process.memory_info().rss - self._start)
                time.sleep(self.interval)
        finally:
            _GUARD.exempt_threads.discard(threading.get_ident())

    def __enter__(self) -> PeakRSS:
        self._start = self._process.memory_info().rss
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.growth = max(self.growth, self._process.memory_info().rss - self._start)
        self._stop.set()
        self._thread.join()


_PRELUDE = """
import importlib.util, json, resource, sys, time, types, traceback
sys.path.insert(0, {src!r})
spec = importlib.util.find_spec("st_multimodal")
package = types.ModuleType("st_multimodal")  # the submodules without the package's heavy __init__ (torch)
package.__path__ = list(spec.submodule_search_locations)
sys.modules["st_multimodal"] = package
sys.path.insert(0, {tests!r})
import psutil, threading
{imports}
process = psutil.Process()
cap = process.memory_info().vms + {budget}
start_rss = process.memory_info().rss
peak = [start_rss]
done = threading.Event()
def sample():  # ru_maxrss is no use here: Linux keeps the parent's peak across exec
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
start = time.perf_counter()
outcome = "ok"
try:
{body}
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:300]
seconds = time.perf_counter() - start
done.set()
sampler.join()
peak[0] = max(peak[0], process.memory_info().rss)
print(json.dumps({{"outcome": outcome, "seconds": seconds, "peak_growth": max(0, peak[0] - start_rss)}}))
"""


def run_capped(body: str, *, imports: str = "", budget: int = 1 << 30, timeout: float = 60.0) -> dict:
    """Run ``body`` in a fresh interpreter with at most ``budget`` more bytes of address space than after ``imports``.

    Returns ``{"outcome": "ok" | "<ExceptionType>: message", "seconds", "peak_growth"}``: the
    peak RSS growth (bytes) over the start of ``body``. A case that is killed fails the test.
    """
    code = _PRELUDE.format(
        src=SRC, tests=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), imports=textwrap.dedent(imports), budget=int(budget),
        body=textwrap.indent(textwrap.dedent(body), "    "),
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(f"capped case died (rc {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
