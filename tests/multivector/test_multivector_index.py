"""MultimodalIndex with the tiny ColQwen-style model: flat float16 token storage, exact MaxSim search equal to
upstream's scores, ids, metadata, the modality filter, failures, rerank, save and load."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import st_multimodal as stm
from st_multimodal.retrieval import ModelMismatchError, MultimodalIndex, MultiVectorIndex
from st_multimodal.testing import media

LOCAL = stm.FetchPolicy(allow_loopback=True, retries=0)
TEXTS = ["a blue triangle", "quarterly revenue grew by four percent", "minutes of the board meeting"]
QUERY = "revenue of the north region"


@pytest.fixture
def documents(tmp_path, server):
    """Items in several forms, the PIL images / texts they decode to, and their modalities."""
    path = tmp_path / "page.png"
    path.write_bytes(media.png_bytes(w=96, h=96, seed=1))
    url = server.route("/scan.jpg", media.jpeg_bytes(w=128, h=64, seed=2), headers={"Content-Type": "image/jpeg"})
    items = [TEXTS[0], path, media.png_bytes(seed=3), TEXTS[1], url, media.image(4, w=80, h=64), TEXTS[2]]
    decoded = [TEXTS[0], Image.open(path).convert("RGB"), Image.open(io.BytesIO(media.png_bytes(seed=3))).convert("RGB"),
               TEXTS[1], Image.open(io.BytesIO(media.jpeg_bytes(w=128, h=64, seed=2))).convert("RGB"),
               media.image(4, w=80, h=64), TEXTS[2]]
    return items, decoded


@pytest.fixture
def loopback(colqwen, monkeypatch):
    monkeypatch.setattr(colqwen, "fetch_policy", LOCAL)
    return colqwen


def build(model, items, **kwargs) -> MultimodalIndex:
    index = MultimodalIndex(model, **kwargs)
    index.add(items, ids=[f"doc{i}" for i in range(len(items))], metadata=[{"n": i} for i in range(len(items))])
    return index


def upstream_scores(upstream, query, decoded) -> np.ndarray:
    return upstream.similarity(upstream.encode_query([query]), upstream.encode_document(decoded)).numpy()[0]


class TestEqualsUpstream:
    def test_stored_tokens_are_upstreams_document_embeddings(self, loopback, upstream_colqwen, documents):
        items, decoded = documents
        index = build(loopback, items, storage_dtype="float32")
        expected = upstream_colqwen.encode_document(decoded, convert_to_numpy=True)
        assert [v.shape for v in index.vectors] == [e.shape for e in expected]
        for stored, reference in zip(index.vectors, expected):
            np.testing.assert_allclose(stored, reference, atol=1e-5)

    @pytest.mark.parametrize("storage_dtype", ["float32", "float16"])
    def test_search_ranks_and_scores_like_upstream(self, loopback, upstream_colqwen, documents, storage_dtype):
        items, decoded = documents
        index = build(loopback, items, storage_dtype=storage_dtype)
        expected = upstream_scores(upstream_colqwen, QUERY, decoded)
        hits = index.search(QUERY, top_k=len(items))
        tolerance = 1e-4 if storage_dtype == "float32" else 2e-2
        np.testing.assert_allclose([h.score for h in hits], np.sort(expected)[::-1], atol=tolerance)
        assert {h.id: h.score for h in hits} == pytest.approx({f"doc{i}": s for i, s in enumerate(expected)}, abs=tolerance)
        if storage_dtype == "float32":
            assert [h.id for h in hits] == [f"doc{i}" for i in np.argsort(-expected, kind="stable")]

    def test_image_query(self, loopback, upstream_colqwen, documents):
        items, decoded = documents
        index = build(loopback, items, storage_dtype="float32")
        query = media.png_bytes(seed=3)
        expected = upstream_colqwen.similarity(upstream_colqwen.encode_query([decoded[2]]),
                                               upstream_colqwen.encode_document(decoded)).numpy()[0]
        hits = index.search(query, top_k=3)
        assert [h.id for h in hits] == [f"doc{i}" for i in np.argsort(-expected)[:3]]

    def test_similarity_matrix(self, colqwen, upstream_colqwen):
        ours = MultimodalIndex(colqwen).similarity(TEXTS[:2], [media.image(0), TEXTS[2]])
        theirs = upstream_colqwen.similarity(upstream_colqwen.encode_query(TEXTS[:2]),
                                             upstream_colqwen.encode_document([media.image(0), TEXTS[2]])).numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


class TestStorage:
    def test_float16_round_trip_accuracy_and_half_the_bytes(self, loopback, documents):
        items, _ = documents
        half, full = build(loopback, items), build(loopback, items, storage_dtype="float32")
        assert half.tokens.data.dtype == np.float16 and full.tokens.data.dtype == np.float32
        assert half.tokens.data.shape == full.tokens.data.shape
        worst = max(float(np.abs(a.astype(np.float32) - b).max()) for a, b in zip(half.vectors, full.vectors))
        assert worst <= 1e-3  # unit-norm token vectors: float16 keeps ~3 decimal digits
        offsets = full.tokens.offsets.nbytes
        assert half.nbytes - offsets == (full.nbytes - offsets) // 2
        a, b = half.similarity([QUERY], items), full.similarity([QUERY], items)
        np.testing.assert_allclose(a, b, atol=1e-4)  # similarity() embeds afresh: no storage involved

    def test_store_grows_across_adds_and_refuses_what_float16_cannot_hold(self):
        from st_multimodal.retrieval.multivector import TokenStore

        store, rows = TokenStore(), [np.full((n, 4), n, np.float32) for n in (3, 0, 5, 1, 7)]
        for row in rows:
            store.extend([row])
        assert len(store) == 5 and store.num_tokens == 16 and store.nbytes == 16 * 4 * 2 + 6 * 8
        stored = store.vectors()
        assert all(np.array_equal(stored.row(i), rows[i]) for i in range(5))
        with pytest.raises(ValueError, match="float32"):
            store.extend([np.full((1, 4), 1e6, np.float32)])
        with pytest.raises(ValueError, match="size changed"):
            store.extend([np.zeros((1, 8), np.float32)])
        assert len(store) == 5

    def test_vectors_are_read_only(self, colqwen):
        index = build(colqwen, ["x"])
        with pytest.raises(ValueError):
            index.vectors[0][0, 0] = 1.0

    def test_save_and_load(self, loopback, documents, tmp_path):
        items, _ = documents
        index = build(loopback, items)
        index.save(tmp_path / "idx")
        assert {p.name for p in (tmp_path / "idx").iterdir()} >= {"tokens.npy", "offsets.npy", "manifest.json", "items.json"}
        loaded = MultimodalIndex.load(tmp_path / "idx", loopback)
        assert isinstance(loaded, MultiVectorIndex)
        assert loaded.ids == index.ids and loaded.modalities == index.modalities and loaded.metadata("doc3") == {"n": 3}
        np.testing.assert_array_equal(loaded.tokens.data, index.tokens.data)
        assert loaded.search(QUERY, top_k=4) == index.search(QUERY, top_k=4)
        loaded.add(["one more page"], ids=["late"])
        assert "late" in loaded and loaded.vectors[-1].shape == loopback.encode_document("one more page").shape

    def test_load_with_another_model_is_refused(self, colqwen, clip_model, tmp_path):
        build(colqwen, TEXTS).save(tmp_path / "idx")
        with pytest.raises(ModelMismatchError):
            MultimodalIndex.load(tmp_path / "idx", clip_model)
        with pytest.raises(ModelMismatchError, match="similarity"), pytest.warns(UserWarning, match="another model"):
            MultimodalIndex.load(tmp_path / "idx", clip_model, on_model_mismatch="warn")

    def test_corrupt_offsets_are_refused(self, colqwen, tmp_path):
        build(colqwen, TEXTS).save(tmp_path / "idx")
        np.save(tmp_path / "idx" / "offsets.npy", np.array([0, 5, 3, 999]))
        with pytest.raises(ValueError, match="offsets"):
            MultimodalIndex.load(tmp_path / "idx", colqwen)


class TestCollection:
    def test_empty_index(self, colqwen, tmp_path):
        index = MultimodalIndex(colqwen)
        assert isinstance(index, MultiVectorIndex) and len(index) == 0 and index.vectors == []
        assert index.search(QUERY) == []
        index.save(tmp_path / "empty")
        loaded = MultimodalIndex.load(tmp_path / "empty", colqwen)
        assert len(loaded) == 0 and loaded.dimension is None
        loaded.add(["now one"])
        assert [h.id for h in loaded.search("now one")] == [0]

    def test_modality_filter(self, loopback, documents):
        items, _ = documents
        index = build(loopback, items)
        images = index.search(QUERY, top_k=10, modality="image")
        assert sorted(h.id for h in images) == ["doc1", "doc2", "doc4", "doc5"]
        assert all(h.modality == "image" for h in images)
        assert [h.id for h in index.search(QUERY, top_k=2, modality="text")] == \
            [h.id for h in index.search(QUERY, top_k=10) if h.modality == "text"][:2]

    def test_skip_keeps_the_good_items_in_order(self, colqwen, tmp_path):
        bad = tmp_path / "broken.png"
        bad.write_bytes(media.png_bytes()[:60])
        index = MultimodalIndex(colqwen)
        result = index.add([media.image(0), bad, TEXTS[0], media.png_bytes(seed=2)], ids=["a", "b", "c", "d"], on_error="skip")
        assert result.ids == ["a", "c", "d"] and result.failed_ids == ["b"]
        assert result.failures[0].index == 1 and str(bad) in result.failures[0].source
        assert index.ids == ["a", "c", "d"] and len(index.vectors) == 3
        expected = colqwen.encode_document([media.image(0), TEXTS[0], media.png_bytes(seed=2)], convert_to_numpy=True)
        for stored, reference in zip(index.vectors, expected):
            np.testing.assert_allclose(stored.astype(np.float32), reference, atol=1e-3)

    def test_document_returns_the_decoded_item(self, loopback, documents):
        items, decoded = documents
        index = build(loopback, items)
        assert index.document("doc0").value == TEXTS[0]
        assert np.array_equal(np.asarray(index.document("doc4").value), np.asarray(decoded[4]))

    def test_rerank_reorders_the_candidates(self, colqwen, qwen_reranker):
        index = build(colqwen, [media.image(0), TEXTS[1], media.image(1), TEXTS[2]])
        hits = index.search(QUERY, top_k=3, rerank_with=qwen_reranker, rerank_top_k=4)
        expected = qwen_reranker.predict([(QUERY, index.document(h.id).value) for h in index.search(QUERY, top_k=4)])
        assert [h.rerank_score for h in hits] == pytest.approx(sorted(expected.tolist(), reverse=True)[:3], abs=1e-4)

    def test_what_maxsim_indexes_do_not_offer(self, colqwen):
        with pytest.raises(ValueError, match="exact"):
            MultimodalIndex(colqwen, backend="faiss")
        index = build(colqwen, TEXTS)
        with pytest.raises(NotImplementedError):
            index.fit_centering()
        with pytest.raises(NotImplementedError):
            index.calibrate(in_batch=[(TEXTS[0], TEXTS[0])])
        with pytest.raises(TypeError, match="multi-vector"):
            MultiVectorIndex(object())
