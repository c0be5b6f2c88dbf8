"""Modality centring: removes a per-modality offset, renormalises, and changes cross-modal similarity as documented."""

from __future__ import annotations

import numpy as np
import pytest

from st_multimodal.retrieval import ModalityCentering, MultimodalIndex
from st_multimodal.retrieval.centering import normalize
from st_multimodal.testing import media


def _gapped(rng, n=200, dim=32, offset=2.0):
    """Matched pairs sharing a content vector, each modality pushed along its own direction (a modality gap)."""
    content = rng.normal(size=(n, dim))
    text_dir, image_dir = np.eye(dim)[0] * offset * np.sqrt(dim), np.eye(dim)[1] * offset * np.sqrt(dim)
    texts = content + text_dir + 0.1 * rng.normal(size=(n, dim))
    images = content + image_dir + 0.1 * rng.normal(size=(n, dim))
    return texts, images


class TestModalityCentering:
    def test_closes_the_gap_and_restores_matched_similarity(self):
        rng = np.random.default_rng(0)
        texts, images = _gapped(rng)
        before = (normalize(texts) * normalize(images)).sum(1)
        centering = ModalityCentering.fit(np.r_[texts, images], ["text"] * 200 + ["image"] * 200)
        t, i = centering.transform(texts, "text"), centering.transform(images, "image")
        after = (t * i).sum(1)
        assert centering.gap("text", "image") > 1.0
        assert before.mean() < 0.7 and after.mean() > 0.95
        # unmatched pairs: within the same modality they were all alike before; centring removes that too
        assert (normalize(texts)[:100] * normalize(texts)[100:]).sum(1).mean() > 0.6
        assert abs((t[:100] * t[100:]).sum(1).mean()) < 0.1

    def test_output_is_unit_length(self):
        rng = np.random.default_rng(1)
        vectors = rng.normal(size=(10, 8))
        out = ModalityCentering.fit(vectors, ["image"] * 10).transform(vectors, ["image"] * 10)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)

    def test_unknown_modality_only_normalised(self):
        rng = np.random.default_rng(2)
        vectors = rng.normal(size=(4, 8))
        centering = ModalityCentering.fit(vectors, ["image"] * 4)
        np.testing.assert_allclose(centering.transform(vectors, "audio"), normalize(vectors), rtol=1e-6)

    def test_small_groups_skipped(self):
        assert sorted(ModalityCentering.fit(np.ones((3, 4)), ["text", "image", "image"]).means) == ["image"]

    def test_save_load(self, tmp_path):
        rng = np.random.default_rng(3)
        centering = ModalityCentering.fit(rng.normal(size=(6, 5)), ["text"] * 3 + ["image"] * 3)
        centering.save(tmp_path / "c.npz")
        loaded = ModalityCentering.load(tmp_path / "c.npz")
        assert sorted(loaded.means) == ["image", "text"]
        for key in loaded.means:
            np.testing.assert_array_equal(loaded.means[key], centering.means[key])


class TestIndexCentering:
    def test_changes_cross_modal_similarity_and_round_trips(self, clip_model, tmp_path):
        index = MultimodalIndex(clip_model)
        index.add([media.image(s) for s in range(4)] + ["a red car", "a blue bird", "a green tree"])
        before = index.similarity(["a red car"], [media.image(0)])[0, 0]
        centering = index.fit_centering(extra=["a small dog", "a large boat"])
        assert sorted(centering.means) == ["image", "text"]
        after = index.similarity(["a red car"], [media.image(0)])[0, 0]
        t, i = normalize(clip_model.encode(["a red car", media.image(0)]))
        expected = normalize(t - centering.means["text"]) @ normalize(i - centering.means["image"])
        assert after == pytest.approx(float(expected), abs=1e-5) and after != pytest.approx(float(before), abs=1e-3)
        hits = index.search("a red car", top_k=7)
        index.save(tmp_path / "idx")
        assert MultimodalIndex.load(tmp_path / "idx", clip_model).search("a red car", top_k=7) == hits

    def test_toggling_centring_drops_the_calibration(self, clip_model):
        index = MultimodalIndex(clip_model)
        texts = ["one", "two", "three", "four"]
        index.add(texts)
        index.calibrate(in_batch=[(t, t) for t in texts])
        with pytest.warns(UserWarning, match="calibration"):
            index.fit_centering()
        assert index.calibrator is None
