"""Multi-process inference (``pool=`` and ``device=[...]``) keeps our per-call options: ``on_error``, failures at the
caller's positions, per-call fetch policies. Most tests run upstream's worker protocol in a thread, with every
message pickled as a process queue would; one test starts a real worker process."""

from __future__ import annotations

import pickle
import queue
import threading

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.testing import media

from .conftest import assert_same

TEXTS = ["a photo of a cat", "a red square", "a dog barking in the park", "the sound of a piano"]


class _PicklingQueue(queue.Queue):
    """A queue that pickles what goes through it, like a multiprocessing queue."""

    def put(self, item, *args, **kwargs):
        super().put(pickle.dumps(item), *args, **kwargs)

    def get(self, *args, **kwargs):
        return pickle.loads(super().get(*args, **kwargs))


class _Alive:
    pid, exitcode = 0, None

    def is_alive(self) -> bool:
        return True


def thread_pool(model) -> dict:
    """A pool whose one worker runs ``model``'s worker loop in a thread, on an unpickled copy of the model."""
    pool = {"input": _PicklingQueue(), "output": _PicklingQueue(), "processes": [_Alive()]}
    worker_model = pickle.loads(pickle.dumps(model))
    threading.Thread(target=type(model)._multi_process_worker, args=("cpu", worker_model, pool["input"], pool["output"]),
                     daemon=True).start()
    return pool


@pytest.fixture(scope="module")
def clip(zoo_path):
    return stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")


@pytest.fixture(scope="module")
def clip_pool(clip):
    return thread_pool(clip)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(media.png_bytes(seed=5))
    return str(path)


class TestPool:
    def test_same_rows_as_upstream(self, static):
        upstream_rows = static.upstream.encode(TEXTS, pool=thread_pool(static.upstream), chunk_size=1)
        assert_same(upstream_rows, static.ours.encode(TEXTS, pool=thread_pool(static.ours), chunk_size=1))

    def test_cross_encoder(self, reranker_1):
        pairs = [(TEXTS[0], TEXTS[1]), (TEXTS[2], TEXTS[3]), (TEXTS[1], TEXTS[2])]
        expected = reranker_1.upstream.predict(pairs, pool=thread_pool(reranker_1.upstream), chunk_size=2)
        assert_same(expected, reranker_1.ours.predict(pairs, pool=thread_pool(reranker_1.ours), chunk_size=2))

    def test_skip_reports_failures_at_caller_positions(self, clip, clip_pool, image_file):
        inputs = [image_file, media.truncated_jpeg_bytes(), "a cat", media.png_bytes(seed=1), b"not an image"]
        rows, failures = clip.encode(inputs, pool=clip_pool, chunk_size=2, on_error="skip", return_failures=True)
        assert [f.index for f in failures] == [1, 4]
        assert all(isinstance(f.error, stm.DecodeError) and f.error.index == f.index for f in failures)
        assert_same(clip.encode([inputs[0], inputs[2], inputs[3]]), rows, atol=1e-4)

    def test_raise_names_the_callers_position(self, clip, clip_pool, image_file):
        with pytest.raises(stm.DecodeError) as raised:
            clip.encode(["a cat", image_file, media.truncated_jpeg_bytes()], pool=clip_pool, chunk_size=2)
        assert raised.value.index == 2

    def test_per_call_fetch_policy_reaches_the_worker(self, clip, clip_pool, image_file):
        rows, failures = clip.encode([image_file, "a cat"], pool=clip_pool, chunk_size=1, on_error="skip", return_failures=True,
                                     fetch_policy=stm.FetchPolicy(allow_files=False))
        assert [(f.index, type(f.error)) for f in failures] == [(0, stm.BlockedSourceError)]
        assert rows.shape == (1, clip.get_embedding_dimension())

    def test_device_list_starts_and_stops_a_pool(self, clip, monkeypatch):
        started, stopped = [], []
        monkeypatch.setattr(type(clip), "start_multi_process_pool", lambda self, devices: started.append(devices) or thread_pool(self))
        monkeypatch.setattr(type(clip), "stop_multi_process_pool", staticmethod(lambda pool: stopped.append(pool)))
        rows, failures = clip.encode(["a cat", b"junk"], device=["cpu", "cpu"], on_error="skip", return_failures=True)
        assert started == [["cpu", "cpu"]] and len(stopped) == 1
        assert rows.shape[0] == 1 and [f.index for f in failures] == [1]


def test_real_worker_process(zoo_path, image_file):
    """One real spawned worker: the model pickles, and the options and failures cross the process boundary."""
    model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
    pool = model.start_multi_process_pool(["cpu"])
    try:
        rows, failures = model.encode(["a cat", image_file, media.truncated_jpeg_bytes()], pool=pool, on_error="skip",
                                      return_failures=True, fetch_policy=stm.FetchPolicy(allow_files=False))
    finally:
        model.stop_multi_process_pool(pool)
    assert [(f.index, type(f.error)) for f in failures] == [(1, stm.BlockedSourceError), (2, stm.DecodeError)]
    np.testing.assert_allclose(rows, model.encode(["a cat"]), atol=1e-4)
