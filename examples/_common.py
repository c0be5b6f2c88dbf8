"""Shared set-up for the examples: pictures made in code, a local web server, offline models.

The examples mirror the Sentence Transformers multimodal post, but run without internet: images are
drawn in code, "URLs" point at a server on 127.0.0.1, and the models are the bundled demo model
(a tiny CLIP-style model trained on coloured shapes) and a tiny random-weight reranker.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from st_multimodal.demo.shapes import render_shape  # noqa: E402

PICTURES = {
    "red_circle.png": ("circle", "red"),
    "green_square.png": ("square", "green"),
    "blue_triangle.png": ("triangle", "blue"),
    "yellow_circle.png": ("circle", "yellow"),
}


def make_pictures(folder: str | os.PathLike | None = None) -> Path:
    """Draw the example pictures into ``folder`` (by default a temporary one, removed when Python exits)."""
    if folder is None:
        folder = tempfile.mkdtemp(prefix="st-mm-examples-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    folder = Path(folder)
    for name, (shape, colour) in PICTURES.items():
        render_shape(shape, colour, size=30, position=(32, 32)).save(folder / name)
    return folder


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 and yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def tiny_reranker_path() -> str:
    """A tiny Qwen3-VL-style reranker with random weights (its scores show the API, not relevance)."""
    from st_multimodal.testing.zoo import cached_model

    return str(cached_model("qwen3vl-reranker"))
