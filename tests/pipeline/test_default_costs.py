"""What the library's defaults cost, shown by concurrency and work counts rather than wall-clock time.

Remote fetches must run as concurrently with the default in-memory cache of decoded inputs as without it,
for distinct content, for many URLs serving the same bytes, and on a second call over the same URLs (cache
hits). The server holds every request until ``max_concurrency`` of them are in flight at once, so a
serialised fetch stage shows as a broken barrier, whatever the machine's load.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.testing import media, zoo
from st_multimodal.testing.server import LocalServer, send

CONCURRENCY = 6
N_URLS = 2 * CONCURRENCY
BARRIER_TIMEOUT_S = 30.0
"""Only reached when fetches are serialised (the test then fails); a passing run never waits for it."""


@pytest.fixture(scope="module")
def clip_path():
    return str(zoo.cached_model("clip"))


class GatedServer:
    """Answers each GET only once ``parties`` requests are being handled at the same time."""

    def __init__(self, server: LocalServer, parties: int):
        self.server = server
        self.barrier = threading.Barrier(parties)
        self.broken = 0
        self._lock = threading.Lock()

    def route(self, path: str, body: bytes) -> str:
        def handle(handler):
            try:
                self.barrier.wait(timeout=BARRIER_TIMEOUT_S)
            except threading.BrokenBarrierError:
                with self._lock:
                    self.broken += 1
            send(handler, 200, body, {"Content-Type": "image/jpeg"})

        self.server.routes[path] = handle
        return self.server.url(path)


def _encode(model, urls):
    policy = stm.FetchPolicy(allow_loopback=True, max_concurrency=CONCURRENCY)
    return model.encode(urls, batch_size=4, fetch_policy=policy, show_progress_bar=False)


@pytest.mark.parametrize("content", ["distinct", "same bytes"])
@pytest.mark.parametrize("cache", ["library default", "off"])
def test_fetches_run_at_full_concurrency_with_the_default_cache(clip_path, content, cache):
    kwargs = {} if cache == "library default" else {"decoded_cache_size": 0}
    model = stm.SentenceTransformer(clip_path, **kwargs)
    with LocalServer() as server:
        gated = GatedServer(server, CONCURRENCY)
        urls = [gated.route(f"/img{i}.jpg", media.jpeg_bytes(64, 48, seed=i if content == "distinct" else 0))
                for i in range(N_URLS)]
        first = _encode(model, urls)
        second = _encode(model, urls)  # every decoded input is in the default cache now
    assert gated.broken == 0, "fetches never reached the policy's concurrency: something serialises them"
    assert server.max_in_flight == CONCURRENCY
    assert len(server.requests) == 2 * N_URLS  # one fetch per URL and call: nothing fetched twice
    np.testing.assert_array_equal(first, second)


def test_default_cache_does_not_change_embeddings_or_decode_twice(clip_path, monkeypatch):
    """Same vectors with the default cache as with none, and each distinct input decoded once per call."""
    from st_multimodal.decoders import image as image_decoder

    decodes = []
    real = image_decoder.decode_jpeg_tensor

    def counting(data, limits):
        decodes.append(len(data))
        return real(data, limits)

    monkeypatch.setattr(image_decoder, "decode_jpeg_tensor", counting)
    images = [media.jpeg_bytes(64, 48, seed=100 + i) for i in range(8)]
    default = stm.SentenceTransformer(clip_path)
    off = stm.SentenceTransformer(clip_path, decoded_cache_size=0)
    with_cache = default.encode(images, batch_size=4, show_progress_bar=False)
    without = off.encode(images, batch_size=4, show_progress_bar=False)
    assert len(decodes) == 2 * len(images)  # one decode per input and model, none more
    np.testing.assert_array_equal(with_cache, without)
