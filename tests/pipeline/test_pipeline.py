"""The pipelined loop: order, equality with upstream's plain loop, bounded memory, caches, OOM split."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer as UpstreamSentenceTransformer

import st_multimodal as stm
from st_multimodal.pipeline import Batch, Pipeline, Prepared, Row
from st_multimodal.testing import media


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class TestPipelineLoop:
    def _run(self, entries, batch_size=4, **kw):
        pipeline = Pipeline(batch_size=batch_size, length_of=lambda v: len(str(v)), **kw)
        return pipeline.run(
            entries,
            resolve=lambda i, raw: Prepared(key=type(raw).__name__, value=raw),
            prepare=lambda batch: list(batch.values),
            forward=lambda batch, features: [f"out:{v}" for v in features],
        )

    def test_every_input_once_with_its_own_output(self):
        items = [i if i % 3 else f"s{i}" for i in range(103)]
        rows = {row.index: row.value for row in self._run(enumerate(items)) if isinstance(row, Row)}
        assert rows == {i: f"out:{v}" for i, v in enumerate(items)}

    def test_generator_is_consumed_lazily(self):
        pulled = 0
        lock = threading.Lock()

        def generator():
            nonlocal pulled
            for i in range(10_000):
                with lock:
                    pulled += 1
                yield i, f"item {i}"

        max_ahead = 0
        done = 0
        for _ in self._run(generator(), batch_size=8, decode_workers=2):
            done += 1
            with lock:
                max_ahead = max(max_ahead, pulled - done)
        assert done == 10_000
        assert max_ahead < 500  # a bounded window, never the whole stream

    def test_consumer_stopping_early_stops_the_producer(self):
        pulled = 0

        def generator():
            nonlocal pulled
            for i in range(1_000_000):
                pulled += 1
                yield i, i

        threads_before = set(threading.enumerate())
        events = self._run(generator(), batch_size=8)
        first = [next(events) for _ in range(10)]
        events.close()  # joins the producer; a producer that ignores the stop outlives the join
        left_running = [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("st-mm-")]
        assert left_running == []  # producer and its worker pools are gone the moment close() returns
        pulled_at_close = pulled
        assert pulled_at_close < 1_000  # it read a bounded window ahead, never the stream
        assert all(isinstance(row, Row) and row.value == f"out:{row.index}" for row in first)
        assert pulled == pulled_at_close  # nothing reads the generator any more

    def test_prepare_failure_is_isolated_to_the_item(self):
        def prepare(batch):
            if any(v == "poison" for v in batch.values):
                raise ValueError("processor says no")
            return list(batch.values)

        pipeline = Pipeline(batch_size=4, length_of=len)
        items = ["a", "b", "poison", "c", "d"]
        events = list(pipeline.run(enumerate(items), resolve=lambda i, raw: Prepared(key="t", value=raw),
                                   prepare=prepare, forward=lambda b, f: f))
        failures = [e for e in events if isinstance(e, stm.Failure)]
        assert [f.index for f in failures] == [2] and isinstance(failures[0].error, stm.DecodeError)
        assert sorted(e.index for e in events if isinstance(e, Row)) == [0, 1, 3, 4]

    def test_oom_splits_the_batch(self):
        seen = []

        def forward(batch: Batch, features):
            seen.append(len(batch))
            if len(batch) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return features

        pipeline = Pipeline(batch_size=8, length_of=len)
        rows = list(pipeline.run(enumerate("abcdefgh"), resolve=lambda i, raw: Prepared(key="t", value=raw),
                                 prepare=lambda b: list(b.values), forward=forward))
        assert sorted((r.index, r.value) for r in rows) == list(enumerate("abcdefgh"))
        assert seen[0] == 8 and max(seen[1:]) <= 4 and seen.count(2) == 4


class TestModelPipeline:
    def test_equals_upstream_plain_loop(self, clip_model, zoo_path, tmp_path):
        paths = []
        for seed in range(10):
            path = tmp_path / f"img{seed}.jpg"
            path.write_bytes(media.jpeg_bytes(seed=seed))
            paths.append(path)
        texts = [f"caption {i}" for i in range(7)]
        ours = clip_model.encode(paths + texts, batch_size=4)
        upstream = UpstreamSentenceTransformer(str(zoo_path("clip")), device="cpu")
        decoded = [stm.resolve(p, clip_model.resolve_context()).value for p in paths]
        plain = np.concatenate([upstream.encode(decoded, batch_size=4), upstream.encode(texts, batch_size=4)])
        assert cosine(ours, plain).min() >= 0.9999

    def test_skip_batch_of_100_with_5_bad(self, clip_model):
        items = [media.png_bytes(seed=i % 7) if i % 2 else f"text {i}" for i in range(100)]
        bad = {3: None, 20: b"<html>oops</html>", 41: media.truncated_jpeg_bytes(), 77: "/no/such/file.png", 98: {"odd": 1}}
        for index, value in bad.items():
            items[index] = value
        clean = clip_model.encode([v for i, v in enumerate(items) if i not in bad])
        embeddings, failures = clip_model.encode(items, on_error="skip", return_failures=True, batch_size=16)
        assert embeddings.shape == (95, clean.shape[1])
        assert cosine(embeddings, clean).min() >= 0.9999
        assert [f.index for f in failures] == sorted(bad)
        for failure in failures:
            assert f"input {failure.index}" in str(failure.error)
        assert isinstance(failures[1].error, stm.DecodeError) and isinstance(failures[3].error, stm.FetchError)

    def test_raise_names_item(self, clip_model):
        with pytest.raises(stm.DecodeError, match=r"input 1 '<bytes of 5 bytes>'"):
            clip_model.encode(["fine", b"hello"])

    def test_oom_split_through_the_model(self, zoo_path, monkeypatch):
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
        expected = model.encode([f"t{i}" for i in range(8)], batch_size=8)
        original = type(model[0]).forward
        sizes = []

        def flaky(self, features, **kwargs):
            size = len(features["input_ids"]) if "input_ids" in features else len(features["pixel_values"])
            sizes.append(size)
            if size > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return original(self, features, **kwargs)

        monkeypatch.setattr(type(model[0]), "forward", flaky)
        got = model.encode([f"t{i}" for i in range(8)], batch_size=8)
        assert np.allclose(got, expected, atol=1e-5) and max(sizes) == 8 and sizes.count(2) == 4


class TestEmbeddingCache:
    def test_hits_and_invalidation(self, zoo_path, tmp_path):
        images = [media.jpeg_bytes(seed=s) for s in range(6)]
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        first = model.encode(images + ["a text"])
        assert model.embedding_cache.hits == 0 and len(model.embedding_cache) == 7
        second = model.encode(images + ["a text"])
        assert model.embedding_cache.hits == 7
        assert np.array_equal(first, second)
        model.encode(images[:2], prompt="a photo of ")  # prompt is part of the key
        assert model.embedding_cache.hits == 7
        model.encode(images[:2], limits=stm.DecodeLimits(image_background=(0, 0, 0)))  # decode settings too
        assert model.embedding_cache.hits == 7
        model.encode(images[:2], use_cache=False)
        assert model.embedding_cache.hits == 7

    def test_other_weights_do_not_hit(self, zoo_path, tmp_path):
        from st_multimodal.testing.zoo import cached_model

        cache = tmp_path / "cache"
        stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=cache).encode(["same text"])
        other = stm.SentenceTransformer(str(cached_model("clip", root=tmp_path, seed=1)), device="cpu", cache_dir=cache)
        other.encode(["same text"])
        assert other.embedding_cache.hits == 0

    def test_cached_rows_are_normalised_and_truncated_like_fresh_ones(self, zoo_path, tmp_path):
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        fresh = model.encode(["x", "y"], normalize_embeddings=True, truncate_dim=8)
        cached = model.encode(["x", "y"], normalize_embeddings=True, truncate_dim=8)
        assert model.embedding_cache.hits == 2 and np.allclose(fresh, cached)
        assert fresh.shape == (2, 8) and np.allclose(np.linalg.norm(fresh, axis=1), 1, atol=1e-5)

    def test_decoded_lru(self, clip_model):
        image = media.jpeg_bytes(seed=42)
        clip_model.encode([image])
        before = clip_model.decoded_cache.hits
        clip_model.encode([image])  # a repeat within the process is not decoded again
        assert clip_model.decoded_cache.hits == before + 1


class TestBucketing:
    def test_media_batches_leave_as_soon_as_they_are_full(self):
        from st_multimodal.pipeline import Bucketer
        from st_multimodal.pipeline.runner import is_text_key

        bucketer = Bucketer(4, length_of=len, sort_window=3, sort_keys=is_text_key)
        emitted_after = [len(list(bucketer.add("image", i, f"img{i}"))) for i in range(8)]
        assert emitted_after == [0, 0, 0, 1, 0, 0, 0, 1]  # decoded images are never held back to be sorted

    def test_text_batches_pad_less_than_arrival_order_within_a_bounded_window(self):
        from st_multimodal.pipeline import Bucketer
        from st_multimodal.pipeline.runner import is_text_key

        rng = np.random.default_rng(0)
        texts = ["x" * int(n) for n in rng.integers(1, 200, size=96)]
        batch_size, window = 4, 3
        bucketer = Bucketer(batch_size, length_of=len, sort_window=window, sort_keys=is_text_key)
        batches, most_held = [], 0
        for i, text in enumerate(texts):
            batches += bucketer.add(("text",), i, text)
            most_held = max(most_held, i + 1 - sum(len(b) for b in batches))
        batches += bucketer.flush()

        def padded_tokens(groups):  # what the model computes: every row padded to its batch's longest
            return sum(len(g) * max(len(t) for t in g) for g in groups)

        assert sorted(i for b in batches for i in b.indices) == list(range(len(texts)))  # each text once
        assert all(texts[i] == v for b in batches for i, v in zip(b.indices, b.values))
        assert all(len(b) == batch_size for b in batches)
        arrival = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        assert padded_tokens([b.values for b in batches]) < 0.85 * padded_tokens(arrival)
        assert most_held < batch_size * window  # memory stays bounded: a window, never the stream
        assert is_text_key(("text", "text")) and not is_text_key(("image", "text"))


class TestDecodeStage:
    def test_continuations_run_on_the_decode_workers(self):
        def resolve(index, raw):
            return Prepared(then=lambda: Prepared(key="t", value=threading.current_thread().name))

        pipeline = Pipeline(batch_size=4, length_of=len, remote_workers=8, decode_workers=2)
        rows = list(pipeline.run(enumerate(range(20)), resolve=resolve, prepare=lambda b: list(b.values),
                                 forward=lambda b, f: f))
        names = {row.value for row in rows}
        assert len(rows) == 20 and all(name.startswith("st-mm-decode") for name in names) and len(names) <= 2

    def test_continuation_failure_is_located(self):
        def resolve(index, raw):
            def decode():
                raise stm.DecodeError("bad pixels")
            return Prepared(then=decode) if index == 3 else Prepared(key="t", value=raw)

        events = list(Pipeline(batch_size=4, length_of=len).run(
            enumerate("abcdef"), resolve=resolve, prepare=lambda b: list(b.values), forward=lambda b, f: f))
        failures = [e for e in events if isinstance(e, stm.Failure)]
        assert [f.index for f in failures] == [3] and "input 3" in str(failures[0].error)


class TestFetchRouting:
    def test_remote_inputs_use_the_remote_pool(self):
        from st_multimodal.inference import is_remote_input

        assert is_remote_input("https://example.com/a.jpg") and is_remote_input(("a query", "s3://bucket/key"))
        assert is_remote_input(stm.as_image("http://example.com/x")) and is_remote_input({"image": "http://h/x"})
        assert not is_remote_input("/tmp/a.jpg") and not is_remote_input("file:///tmp/a.jpg")
        assert not is_remote_input("a caption with http in it") and not is_remote_input(b"bytes")

        def resolve(index, raw):
            return Prepared(key="t", value=threading.current_thread().name)

        pipeline = Pipeline(batch_size=4, length_of=len, decode_workers=2, remote_workers=8,
                            is_remote=lambda raw: raw.startswith("http"))
        items = ["http://x/1", "local-1", "http://x/2", "local-2"]
        rows = {r.index: r.value for r in pipeline.run(enumerate(items), resolve=resolve,
                                                       prepare=lambda b: list(b.values), forward=lambda b, f: f)}
        assert rows[0].startswith("st-mm-fetch") and rows[2].startswith("st-mm-fetch")
        # local inputs are read and decoded on a decode worker in one go (no hand-off between threads)
        assert rows[1].startswith("st-mm-decode") and rows[3].startswith("st-mm-decode")


class TestFingerprintFollowsTheModel:
    def test_in_place_weight_change_misses_the_cache(self, zoo_path, tmp_path):
        import torch

        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        before = model.encode(["a red circle"])
        assert np.array_equal(model.encode(["a red circle"]), before) and model.embedding_cache.hits == 1
        fingerprint = model.fingerprint
        with torch.no_grad():  # what an optimizer step does
            next(p for n, p in model.named_parameters() if "text_projection" in n).mul_(2.0)
        assert model.fingerprint != fingerprint
        after = model.encode(["a red circle"])
        assert model.embedding_cache.hits == 1 and not np.allclose(after, before)

    def test_processor_change_changes_the_fingerprint(self, zoo_path):
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
        fingerprint = model.fingerprint
        assert model.fingerprint == fingerprint  # stable while nothing changes
        model.processor.image_processor.crop_size = {"height": 200, "width": 200}
        assert model.fingerprint != fingerprint


def test_a_given_length_orders_the_batch_instead_of_the_values():
    """An image resized ahead is ordered by its decoded size (as upstream orders it), not by its new size."""
    from st_multimodal.pipeline.batching import Bucketer

    bucketer = Bucketer(batch_size=3, length_of=len, sort_window=1)
    batches = list(bucketer.add("image", 0, "aa", length=1)) + list(bucketer.add("image", 1, "aa", length=5))
    batches += list(bucketer.add("image", 2, "aaaa"))  # no length given: len(value) = 4
    assert [batch.indices for batch in batches] == [[1, 2, 0]]
