"""Models copy, pickle and ``torch.save`` like upstream's; their caches (locks, SQLite) are rebuilt, not copied."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from .conftest import assert_same

TEXTS = ["a photo of a cat", "a red square"]


def _round_trips():
    def torch_save(model):
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=False)

    return {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m)), "torch.save": torch_save}


@pytest.mark.parametrize("how", list(_round_trips()))
def test_embedder_with_embedding_cache(static, tmp_path, how):
    import st_multimodal as stm

    model = stm.SentenceTransformer(static.path, device="cpu", cache_dir=tmp_path / "cache")
    expected = model.encode(TEXTS)
    clone = _round_trips()[how](model)
    assert clone.embedding_cache is not model.embedding_cache and clone.embedding_cache.path == model.embedding_cache.path
    assert clone.decoded_cache is not model.decoded_cache and len(clone.decoded_cache) == 0
    hits = clone.embedding_cache.hits
    assert_same(expected, clone.encode(TEXTS))
    assert clone.embedding_cache.hits == hits + len(TEXTS)  # the copy reads the same cache file
    assert_same(expected, model.encode(TEXTS))  # the original still works


@pytest.mark.parametrize("how", list(_round_trips()))
def test_cross_encoder(reranker_1, how):
    clone = _round_trips()[how](reranker_1.ours)
    pairs = [("a cat", "a dog"), ("a red square", "a square")]
    assert type(clone) is type(reranker_1.ours)
    assert_same(reranker_1.ours.predict(pairs), clone.predict(pairs))


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_multi_vector(zoo_path, how):
    import st_multimodal as stm

    model = stm.MultiVectorEncoder(str(zoo_path("colqwen")), device="cpu")
    clone = _round_trips()[how](model)
    assert_same(model.encode_query(TEXTS), clone.encode_query(TEXTS))


def test_policies_survive_pickling(static):
    import st_multimodal as stm

    policy = stm.FetchPolicy(allow_files=False, max_bytes=1024)
    model = stm.SentenceTransformer(static.path, device="cpu", fetch_policy=policy)
    assert pickle.loads(pickle.dumps(model)).fetch_policy == policy
    options = model.call_options(on_error="skip", limits=stm.DecodeLimits(max_pixels=10_000))
    clone = pickle.loads(pickle.dumps(options))
    assert clone.ctx == options.ctx and clone.on_error == "skip"
