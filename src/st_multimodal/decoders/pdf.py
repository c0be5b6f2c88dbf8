"""PDF pages with pypdfium2 (the optional ``[pdf]`` extra): count the pages here, render each in a worker process.

Counting opens the document in this process, under one process-wide lock (PDFium is not
thread-safe); it parses the file and renders nothing. Rendering is where a small PDF can ask for
gigabytes and minutes (nested form XObjects, millions of operators), and PDFium cannot be
interrupted, so pages render in a pool of ``RENDER_WORKERS`` bare worker processes
(:mod:`.pdfium_render` run as a script). Each page renders under an address-space cap of
``limits.max_item_bytes`` and is stopped at ``limits.max_decode_seconds``: a render bomb costs one
worker restart and a ``LimitExceededError``, while other PDFs go on rendering in the other workers.
A worker keeps the last document open, so the pages of one PDF are parsed once.

A page is rendered at ``limits.pdf_dpi``; a page that would exceed ``limits.pdf_max_pixels_per_page``
(or ``limits.max_pixels``) is rendered at the largest scale that fits instead, so a huge page is
made smaller, not refused; a page outside the shape limits (``max_aspect_ratio``, ``min_side``) is refused
before it is rendered.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from ..errors import (DecodeError, EncryptedDocumentError, LimitExceededError, MissingDependencyError,
                      PageOutOfRangeError)
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from . import pdfium_render
from .budget import Deadline
from .image import check_shape
from .sniff import PDF_MAGIC, is_pdf

__all__ = ["PDF_MAGIC", "PDF_MIME", "is_pdf", "count_pages", "render_page", "render_scale", "RENDER_WORKERS"]

PDF_MIME = "application/pdf"
RENDER_WORKERS = 2
"""Worker processes rendering pages at once (started on first use, restarted after a breach)."""
SHARED_BYTES = 64 * 2**20
"""Size of each worker's shared pixel buffer (pages up to 22 M pixels pass through it; larger ones by the pipe)."""
_PDFIUM_LOCK = threading.RLock()
"""Held around every PDFium call in this process (opening and counting)."""


def _pdfium() -> Any:
    try:
        import pypdfium2
    except ImportError as exc:
        raise MissingDependencyError("PDF inputs need pypdfium2", package="pypdfium2", extra="pdf") from exc
    return pypdfium2


def _failure(kind: str, detail: Any, page: int) -> Exception:
    if kind == "encrypted":
        return EncryptedDocumentError("the PDF is encrypted with a password; decrypt it first (e.g. qpdf --decrypt)")
    if kind == "unreadable":
        return DecodeError(f"not a readable PDF, it is malformed or truncated (PDFium error {detail})")
    if kind == "no_pages":
        return DecodeError("the PDF has no pages")
    if kind == "range":
        return PageOutOfRangeError(f"page {page} is not in the PDF, which has {detail} pages",
                                   page=page, page_count=int(detail))
    if kind == "size":
        return DecodeError(f"the page has no usable size ({detail[0]} x {detail[1]} points)")
    return DecodeError(f"page {page} could not be rendered ({detail})")


def _check_magic(data: bytes) -> None:
    _pdfium()
    if not is_pdf(data[:len(PDF_MAGIC)]):
        raise DecodeError("not a PDF: the content does not start with %PDF-")


def count_pages(data: bytes) -> int:
    """How many pages the PDF has (opens it; renders nothing). A PDF without pages is a DecodeError."""
    _check_magic(data)
    with _PDFIUM_LOCK:
        try:
            document = pdfium_render.open_document(data)
        except pdfium_render.RenderFailed as exc:
            raise _failure(exc.kind, exc.detail, 0) from None
        try:
            return len(document)
        finally:
            document.close()


def render_scale(width: float, height: float, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> float:
    """Pixels per point for a page of ``width`` x ``height`` points: ``pdf_dpi / 72``, lowered to fit the pixel budget."""
    try:
        scale = pdfium_render.render_scale(width, height, limits.pdf_dpi,
                                           min(limits.pdf_max_pixels_per_page, limits.max_pixels))
    except pdfium_render.RenderFailed as exc:
        raise _failure(exc.kind, exc.detail, 0) from None
    check_shape((math.ceil(width * scale), math.ceil(height * scale)), limits, "rendered page")
    return scale


class _Worker:
    """One render process and the connection to it; ``holds`` is the hash of the document it has open."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as backing:
            backing.truncate(SHARED_BYTES)
            self.shared = mmap.mmap(backing.fileno(), SHARED_BYTES)
            env = dict(os.environ, ST_MULTIMODAL_WORKER_PATH=os.pathsep.join(p for p in sys.path if p))
            self.process = subprocess.Popen(
                [sys.executable, "-I", pdfium_render.__file__, str(theirs.fileno()), str(backing.fileno()),
                 str(SHARED_BYTES)], pass_fds=(theirs.fileno(), backing.fileno()), stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.holds: str | None = None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.conn.close()
        self.shared.close()

    def image(self, reply: tuple) -> Any:
        """The rendered page of an "ok" or "shared" reply, copied out of the shared buffer."""
        width, height, stride = reply[1:4]
        rows = memoryview(self.shared)[:height * stride] if reply[0] == "shared" else reply[4]
        try:
            return pdfium_render.bitmap_image(width, height, stride, rows)
        finally:
            if isinstance(rows, memoryview):
                rows.release()

    def _reply(self, deadline: Deadline, limits: DecodeLimits) -> tuple:
        if not self.conn.poll(max(deadline.left, 0.0)):
            raise LimitExceededError("rendering the page took too long", limit_name="max_decode_seconds",
                                     limit=deadline.seconds, actual=f"more than {deadline.seconds}")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = -9
        if code > 0:  # exited on its own: it could not start (or a bug), not a breach
            raise DecodeError(f"the PDF render worker stopped (exit status {code})")
        raise LimitExceededError("rendering the page needed more memory than one item may use "
                                 "(the renderer stopped under its cap)", limit_name="max_item_bytes",
                                 limit=limits.max_item_bytes, actual="more")

    def render(self, data: bytes, pdf_hash: str, page: int, limits: DecodeLimits, deadline: Deadline) -> tuple:
        request = [pdf_hash, None if self.holds == pdf_hash else data, page, limits.pdf_dpi,
                   min(limits.pdf_max_pixels_per_page, limits.max_pixels), limits.image_background,
                   limits.max_item_bytes, (limits.max_aspect_ratio, limits.min_side)]
        self.holds = None
        self.conn.send(tuple(request))
        reply = self._reply(deadline, limits)
        if reply[0] == "resend":
            request[1] = data
            self.conn.send(tuple(request))
            reply = self._reply(deadline, limits)
        self.holds = pdf_hash
        return reply


class _Pool:
    """Up to ``RENDER_WORKERS`` workers, each serving one page at a time."""

    def __init__(self) -> None:
        self.idle: list[_Worker] = []
        self.started = 0
        self.ready = threading.Condition()

    @contextmanager
    def worker(self, pdf_hash: str) -> Iterator[_Worker]:
        with self.ready:
            while not self.idle and self.started >= RENDER_WORKERS:
                self.ready.wait()
            if self.idle:  # prefer one that holds this document already
                match = [w for w in self.idle if w.holds == pdf_hash]
                worker = match[0] if match else self.idle[-1]
                self.idle.remove(worker)
            else:
                self.started += 1
                worker = None
        healthy = False
        try:
            worker = worker or _Worker()
            yield worker
            healthy = True
        finally:
            with self.ready:
                if healthy:
                    self.idle.append(worker)
                else:
                    self.started -= 1
                self.ready.notify()
            if not healthy and worker is not None:
                worker.stop()

    def close(self) -> None:
        """Stop the idle workers (run at interpreter exit: a render process must not outlive its parent's
        interpreter, and Python warns of a subprocess still running when its handle is collected)."""
        with self.ready:
            idle, self.idle = self.idle, []
            self.started -= len(idle)
            self.ready.notify_all()
        for worker in idle:
            worker.stop()


_POOL = _Pool()
atexit.register(_POOL.close)


_RECENT: list[tuple[bytes, str]] = []
"""The last documents hashed, with their hashes (held, so identity cannot be reused by another object)."""
_RECENT_LOCK = threading.Lock()


def _hash(data: bytes) -> str:
    """sha256 of ``data``, remembered for the last few documents (every page of one PDF passes the same bytes)."""
    with _RECENT_LOCK:
        for held, digest in _RECENT:
            if held is data:
                return digest
    digest = hashlib.sha256(data).hexdigest()
    with _RECENT_LOCK:
        _RECENT.insert(0, (data, digest))
        del _RECENT[RENDER_WORKERS:]
    return digest


def render_page(data: bytes, page: int, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> Any:
    """Render page ``page`` (1-based) as an RGB ``PIL.Image``, on ``limits.image_background``, in a worker."""
    _check_magic(data)
    pdf_hash = _hash(data)
    with _POOL.worker(pdf_hash) as worker:
        reply = worker.render(data, pdf_hash, page, limits, Deadline(limits))
        if reply[0] in ("ok", "shared"):
            return worker.image(reply)
    if reply[0] == "failed" and reply[1] == "shape":
        check_shape(reply[2], limits, "rendered page")  # raises: the worker refused it before rendering
    if reply[0] == "memory":
        raise LimitExceededError("rendering the page needed more memory than one item may use",
                                 limit_name="max_item_bytes", limit=limits.max_item_bytes, actual="more")
    raise _failure(reply[1], reply[2], page)
