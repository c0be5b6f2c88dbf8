"""Search backends: exact numpy search (always), faiss HNSW against it (where faiss is installed), the registry and "auto"."""

from __future__ import annotations

import numpy as np
import pytest

import st_multimodal.retrieval.backends as backends
from st_multimodal.retrieval import BACKENDS, ExactBackend, FaissBackend, MultimodalIndex, register_backend
from st_multimodal.retrieval.backends import faiss_available, make_backend
from st_multimodal.retrieval.centering import normalize

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed (pip install '.[ann]')")


@pytest.fixture(scope="module")
def random_set():
    rng = np.random.default_rng(0)
    return normalize(rng.normal(size=(1000, 24))), normalize(rng.normal(size=(40, 24)))


class TestExact:
    def test_top_k_sorted_and_correct(self, random_set):
        docs, queries = random_set
        scores, rows = ExactBackend(docs, "cosine").search(queries, 5)
        full = queries @ docs.T
        np.testing.assert_array_equal(rows, np.argsort(-full, axis=1)[:, :5])
        np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-6)

    def test_mask_and_small_k(self, random_set):
        docs, queries = random_set
        allowed = np.zeros(len(docs), bool)
        allowed[[3, 7]] = True
        scores, rows = ExactBackend(docs, "cosine").search(queries[:2], 10, allowed)
        assert rows.shape == (2, 2) and set(rows[0]) == {3, 7}

    @pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
    def test_distances_are_negated(self, metric):
        docs = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
        scores, rows = ExactBackend(docs, metric).search(np.array([[3.0, 4.0]], np.float32), 2)
        assert rows[0].tolist() == [1, 0] and scores[0].tolist() == [0.0, -5.0 if metric == "euclidean" else -7.0]


@needs_faiss
class TestFaiss:
    @pytest.mark.parametrize("metric", ["cosine", "euclidean"])
    def test_same_top_k_as_exact(self, random_set, metric):
        docs, queries = random_set
        exact_scores, exact_rows = ExactBackend(docs, metric).search(queries, 10)
        approx_scores, approx_rows = make_backend("faiss", docs, metric).search(queries, 10)
        np.testing.assert_array_equal(approx_rows, exact_rows)
        np.testing.assert_allclose(approx_scores, exact_scores, atol=1e-4)

    def test_same_filtered_top_k_as_exact(self, random_set):
        docs, queries = random_set
        allowed = np.arange(len(docs)) % 10 == 0  # a rare modality: 10 % of the rows
        _, exact_rows = ExactBackend(docs, "cosine").search(queries, 10, allowed)
        _, approx_rows = make_backend("faiss", docs, "cosine").search(queries, 10, allowed)
        np.testing.assert_array_equal(approx_rows, exact_rows)

    def test_incremental_add(self, random_set):
        docs, queries = random_set
        backend = make_backend("faiss", docs[:700], "cosine")
        backend.add(docs[700:])
        np.testing.assert_array_equal(backend.search(queries, 5)[1], ExactBackend(docs, "cosine").search(queries, 5)[1])

    def test_index_with_faiss_matches_exact(self, clip_model):
        from st_multimodal.testing import media

        items = [f"caption {i}" for i in range(20)] + [media.image(s) for s in range(5)]
        exact, approx = MultimodalIndex(clip_model), MultimodalIndex(clip_model, backend="faiss")
        exact.add(items), approx.add(items)
        for query in ("caption 3", media.image(2)):
            assert [h.id for h in approx.search(query, top_k=8)] == [h.id for h in exact.search(query, top_k=8)]
            assert [h.id for h in approx.search(query, top_k=3, modality="image")] == [h.id for h in exact.search(query, top_k=3, modality="image")]

    def test_manhattan_refused(self, random_set):
        with pytest.raises(ValueError, match="manhattan"):
            make_backend("faiss", random_set[0], "manhattan")


class TestRegistry:
    def test_auto_is_exact_for_small_sets(self, random_set):
        assert isinstance(make_backend("auto", random_set[0], "cosine"), ExactBackend)

    @needs_faiss
    def test_auto_is_faiss_for_large_sets(self, random_set, monkeypatch):
        docs, queries = random_set
        monkeypatch.setattr(backends, "AUTO_FAISS_MIN_SIZE", len(docs))  # "large" scaled down to this set
        auto = make_backend("auto", docs, "cosine")
        assert isinstance(auto, FaissBackend)
        np.testing.assert_array_equal(auto.search(queries, 5)[1], ExactBackend(docs, "cosine").search(queries, 5)[1])
        assert isinstance(make_backend("auto", docs[:-1], "cosine"), ExactBackend)  # one short of the threshold

    def test_auto_is_exact_for_large_sets_without_faiss(self, random_set, monkeypatch):
        import sys

        monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now fails, installed or not
        monkeypatch.setattr(backends, "AUTO_FAISS_MIN_SIZE", 10)
        assert not faiss_available()
        assert isinstance(make_backend("auto", random_set[0], "cosine"), ExactBackend)
        with pytest.raises(backends.MissingDependencyError, match="faiss"):
            make_backend("faiss", random_set[0], "cosine")

    def test_unknown_backend(self, clip_model):
        with pytest.raises(ValueError, match="registered: exact, faiss"):
            MultimodalIndex(clip_model, backend="annoy")

    def test_register_custom_backend(self, clip_model):
        class Reverse(ExactBackend):
            def search(self, queries, k, allowed=None):
                scores, rows = super().search(-queries, k, allowed)
                return -scores, rows

        snapshot = BACKENDS.snapshot()
        try:
            register_backend("reverse", Reverse)
            index = MultimodalIndex(clip_model, backend="reverse")
            index.add(["a", "b", "c"])
            assert index.search("a", top_k=3)[-1].id == 0
        finally:
            BACKENDS.restore(snapshot)
