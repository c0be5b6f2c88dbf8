"""Retrieve-then-rerank: only the candidates are reordered, pairs are batched, media are fetched once."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from st_multimodal.resolvers import TypedInput, as_text
from st_multimodal.retrieval import MultimodalIndex
from st_multimodal.pipeline.cache import DecodedCache
from st_multimodal.retrieval.inputs import as_model_input
from st_multimodal.testing import media
from st_multimodal.types import Resolved, ResolveContext


class ScriptedReranker:
    """A stand-in CrossEncoder that scores documents by a table and records every predict call."""

    def __init__(self, table: dict, default: float = 0.0):
        self.table, self.default, self.calls = table, default, []

    def resolve_context(self) -> ResolveContext:
        return self.context

    def predict(self, pairs, **kwargs):
        self.calls.append((pairs, kwargs))
        values = [doc.value if isinstance(doc, Resolved) else doc for _, doc in pairs]
        scores = [self.table.get(v, self.default) if isinstance(v, str) else self.default for v in values]
        return np.array(scores, dtype=np.float32), []


@pytest.fixture
def text_index(clip_model):
    index = MultimodalIndex(clip_model)
    index.add([f"document number {i}" for i in range(12)], ids=[f"d{i}" for i in range(12)])
    return index


def _reranker(clip_model, table):
    reranker = ScriptedReranker(table)
    reranker.context = clip_model.resolve_context()
    return reranker


class TestOnlyCandidatesReordered:
    def test_outsider_never_promoted(self, clip_model, text_index):
        plain = text_index.search("document number 3", top_k=12)
        candidates, outsider = [h.id for h in plain[:4]], plain[-1].id
        table = {f"document number {c[1:]}": float(i) for i, c in enumerate(candidates)}  # reverses the candidates
        table[f"document number {outsider[1:]}"] = 100.0  # would win if it were scored
        reranker = _reranker(clip_model, table)
        hits = text_index.search("document number 3", top_k=4, rerank_with=reranker, rerank_top_k=4)
        assert [h.id for h in hits] == candidates[::-1]
        assert [h.rerank_score for h in hits] == [3.0, 2.0, 1.0, 0.0]
        assert {h.id: h.similarity for h in hits} == {h.id: h.similarity for h in plain[:4]}

    def test_rerank_top_k_wider_than_top_k(self, clip_model, text_index):
        plain = [h.id for h in text_index.search("document number 3", top_k=6)]
        reranker = _reranker(clip_model, {f"document number {plain[5][1:]}": 9.0})
        hits = text_index.search("document number 3", top_k=2, rerank_with=reranker, rerank_top_k=6)
        assert [h.id for h in hits] == [plain[5], plain[0]]  # ties keep retrieval order

    def test_pairs_batched_in_one_call(self, clip_model, text_index):
        reranker = _reranker(clip_model, {})
        text_index.search("q", top_k=3, rerank_with=reranker, rerank_top_k=8, rerank_batch_size=5)
        assert len(reranker.calls) == 1
        pairs, kwargs = reranker.calls[0]
        assert len(pairs) == 8 and kwargs["batch_size"] == 5

    def test_modality_filter_applies_before_rerank(self, clip_model):
        index = MultimodalIndex(clip_model)
        index.add(["a text", media.image(0), media.image(1)], ids=["t", "i0", "i1"])
        reranker = _reranker(clip_model, {"a text": 100.0})
        hits = index.search("a text", top_k=3, modality="image", rerank_with=reranker)
        assert {h.id for h in hits} == {"i0", "i1"}


class TestRealReranker:
    def test_scores_match_predict_on_raw_inputs(self, clip_model, qwen_reranker):
        docs = ["a red car", media.image(0), "a wasp on a wooden table", media.png_bytes(seed=4)]
        index = MultimodalIndex(clip_model)
        index.add(docs, ids=["car", "img", "wasp", "png"])
        hits = index.search("a red car", top_k=4, rerank_with=qwen_reranker, rerank_top_k=4)
        expected = qwen_reranker.predict([("a red car", d) for d in docs])
        got = {h.id: h.rerank_score for h in hits}
        assert got == pytest.approx(dict(zip(["car", "img", "wasp", "png"], map(float, expected))), abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


PNG = {"Content-Type": "image/png"}


class TestFetchedOnce:
    def test_each_url_fetched_once_across_add_search_rerank(self, loopback_clip, qwen_reranker, counting_server):
        urls = [counting_server.route(f"/doc{i}.png", media.png_bytes(seed=i), headers=PNG) for i in range(3)]
        query_url = counting_server.route("/query.png", media.png_bytes(seed=9), headers=PNG)
        index = MultimodalIndex(loopback_clip)
        index.add(urls + ["a caption"], ids=["u0", "u1", "u2", "text"])
        hits = index.search(query_url, top_k=4, rerank_with=qwen_reranker, rerank_top_k=4)
        assert {h.id for h in hits} == {"u0", "u1", "u2", "text"}
        assert all(h.rerank_score is not None for h in hits)
        assert dict(Counter(counting_server.paths)) == {"/doc0.png": 1, "/doc1.png": 1, "/doc2.png": 1, "/query.png": 1}

    def test_evicted_documents_are_fetched_again(self, loopback_clip, counting_server, clip_model):
        urls = [counting_server.route(f"/e{i}.png", media.png_bytes(seed=i), headers=PNG) for i in range(3)]
        index = MultimodalIndex(loopback_clip, cache_bytes=64 * 48 * 3)  # room for one decoded image
        index.add(urls, ids=["a", "b", "c"])
        reranker = _reranker(clip_model, {})
        index.search("x", top_k=3, rerank_with=reranker)
        assert len(counting_server.requests) == 3 + 2  # the cache held only the last one

    def test_nothing_kept_means_no_rerank(self, clip_model):
        index = MultimodalIndex(clip_model, keep_inputs=False, cache_bytes=0)
        index.add([media.image(0)])
        with pytest.raises(LookupError, match="keep_inputs"):
            index.search("x", rerank_with=_reranker(clip_model, {}))


    def test_texts_always_kept(self, clip_model):
        index = MultimodalIndex(clip_model, keep_inputs=False, cache_bytes=0)
        index.add(["a caption", as_text("holiday.png")])  # looks like a file name, stays text
        assert index.document(0).value == "a caption"
        assert index.document(1).value == "holiday.png" and index.document(1).modality == "text"


class TestDecodedCacheBytes:
    def test_byte_budget_evicts_least_recent(self):
        cache = DecodedCache(max_items=None, max_bytes=64 * 48 * 3 * 2)
        images = [Resolved("image", media.image(s), None) for s in range(3)]
        for key, value in zip("abc", images):
            cache.put(key, value)
        assert cache.get("a") is None and cache.get("b") is images[1] and cache.get("c") is images[2]
        assert cache.nbytes == 2 * 64 * 48 * 3

    def test_value_over_budget_not_kept(self):
        cache = DecodedCache(max_items=None, max_bytes=100)
        cache.put("big", Resolved("image", media.image(0), None))
        assert len(cache) == 0 and cache.nbytes == 0


class TestModelInput:
    def test_same_settings_pass_the_resolved_value(self, clip_model):
        resolved = Resolved("image", media.image(0), None)
        ctx = clip_model.resolve_context()
        assert as_model_input(resolved, ctx, ctx) is resolved

    def test_other_settings_pass_the_decoded_value(self, clip_model):
        ctx = clip_model.resolve_context()
        other = ctx.replace(audio_sampling_rate=48_000)
        audio = {"array": np.zeros(16_000, np.float32), "sampling_rate": 16_000}
        assert as_model_input(Resolved("audio", audio, None), ctx, other) is audio
        text = as_model_input(Resolved("text", "https://example.com/x.png", None), ctx, other)
        assert isinstance(text, TypedInput) and text.modality == "text"
