"""Helpers for the benchmarks: a deterministic JPEG corpus and a slow local HTTP server.

Nothing here reaches the network: images are generated on the spot and served from 127.0.0.1.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_jpegs", "SlowImageServer"]

CORPUS_VERSION = "1"


def _picture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Gradients, a few shapes and sensor-like noise: compresses like a photo (~50-100 KB at 640x480, q=90)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi, 3)
    freq = rng.uniform(0.5, 3.0, 3)
    channels = []
    for c in range(3):
        t = (np.cos(angle[c]) * x / w + np.sin(angle[c]) * y / h) * freq[c]
        channels.append(127.5 + 110 * np.sin(2 * np.pi * t + rng.uniform(0, 6.3)))
    img = np.stack(channels, -1)
    for _ in range(int(rng.integers(3, 8))):  # flat rectangles and discs with hard edges
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        bw, bh = int(rng.integers(30, w // 3)), int(rng.integers(30, h // 3))
        colour = rng.uniform(0, 255, 3)
        if rng.random() < 0.5:
            img[y0:y0 + bh, x0:x0 + bw] = colour
        else:
            disc = (x - x0 - bw / 2) ** 2 / (bw / 2) ** 2 + (y - y0 - bh / 2) ** 2 / (bh / 2) ** 2 <= 1
            img[disc] = colour
    img += rng.normal(0, 6.0, img.shape)  # fine texture: what makes real JPEGs tens of KB
    return np.clip(img, 0, 255).astype(np.uint8)


def make_jpegs(folder: str | os.PathLike, n: int, *, w: int = 640, h: int = 480, quality: int = 90, seed: int = 0) -> list[str]:
    """``n`` deterministic JPEGs in ``folder`` (made once; existing files are reused). Returns their paths."""
    folder = Path(folder) / f"v{CORPUS_VERSION}-{w}x{h}-q{quality}-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i:05d}.jpg"
        if not path.exists():
            rng = np.random.default_rng([seed, i])
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            Image.fromarray(_picture(rng, w, h)).save(tmp, format="JPEG", quality=quality)
            os.replace(tmp, path)
        paths.append(str(path))
    return paths


class SlowImageServer:
    """A threaded HTTP server on 127.0.0.1 serving files from memory, ``latency`` seconds late per response.

    ``url(name)`` gives the address of a served file. HTTP/1.1 with keep-alive, so a client that reuses
    connections can; a client that does not pays a new connection per request (as upstream does).
    """

    def __init__(self, files: dict[str, bytes], latency: float = 0.05):
        self.files = dict(files)
        self.latency = latency
        self.requests = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                with owner._lock:
                    owner.requests += 1
                time.sleep(owner.latency)
                body = owner.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # the default backlog (5) refuses bursts of concurrent connects

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="bench-http")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> "SlowImageServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
