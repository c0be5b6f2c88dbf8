"""Calibration: Platt and isotonic recover known mappings; one threshold serves two score populations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from st_multimodal.retrieval import Calibrator, MultimodalIndex, fit_isotonic, fit_platt, precision_recall
from st_multimodal.retrieval.calibration import in_batch_labels


def _bernoulli(rng, p):
    return (rng.random(len(p)) < p).astype(float)


class TestFitPlatt:
    def test_recovers_a_known_logistic(self):
        rng = np.random.default_rng(0)
        s = rng.uniform(-1, 1, 40_000)
        a, b = fit_platt(s, _bernoulli(rng, 1 / (1 + np.exp(-(8 * s - 2)))))  # unweighted: the data's own rate
        assert a == pytest.approx(8, rel=0.05) and b == pytest.approx(-2, abs=0.1)

    def test_separable_data_stays_finite(self):
        a, b = fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
        assert np.isfinite(a) and np.isfinite(b) and a > 0

    def test_weights_count_like_repeats(self):
        s, y = np.array([0.1, 0.4, 0.5, 0.9]), np.array([0, 1, 0, 1])
        weighted = fit_platt(s, y, np.array([1, 2, 1, 3]))
        repeated = fit_platt(np.repeat(s, [1, 2, 1, 3]), np.repeat(y, [1, 2, 1, 3]))
        assert weighted == pytest.approx(repeated, rel=1e-6)


class TestFitIsotonic:
    def test_pools_adjacent_violators(self):
        x, y = fit_isotonic(np.arange(5.0), np.array([1, 0, 1, 0, 1.0]))
        fitted = np.interp(np.arange(5.0), x, y)
        np.testing.assert_allclose(fitted, [0.5, 0.5, 0.5, 0.5, 1.0])

    def test_weighted_pooling(self):
        x, y = fit_isotonic(np.arange(3.0), np.array([1, 0, 1.0]), np.array([1, 3, 1.0]))
        np.testing.assert_allclose(np.interp(np.arange(3.0), x, y), [0.25, 0.25, 1.0])

    def test_ties_are_pooled(self):
        x, y = fit_isotonic(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0, 1, 0, 1.0]))
        assert np.interp(1.0, x, y) == pytest.approx(0.5)

    def test_recovers_a_known_monotone_curve(self):
        rng = np.random.default_rng(1)
        s = rng.uniform(0, 1, 50_000)
        truth = lambda v: v**2  # noqa: E731
        x, y = fit_isotonic(s, _bernoulli(rng, truth(s)))
        assert np.all(np.diff(y) >= 0)
        grid = np.linspace(0.1, 0.9, 9)
        np.testing.assert_allclose(np.interp(grid, x, y), truth(grid), atol=0.05)


class TestCalibrator:
    @pytest.fixture
    def data(self):
        rng = np.random.default_rng(2)
        s = rng.uniform(0, 1, 4000)
        return s, _bernoulli(rng, s)

    @pytest.mark.parametrize("method", ["platt", "isotonic"])
    def test_monotone_and_in_range(self, data, method):
        cal = Calibrator(method).fit(*data, "text", "image")
        p = cal.transform(np.linspace(-0.5, 1.5, 50), "text", "image")
        assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1

    @pytest.mark.parametrize("method", ["platt", "isotonic"])
    def test_save_load_round_trip(self, data, method, tmp_path):
        cal = Calibrator(method, meta={"metric": "cosine"}).fit(*data, "text", "image")
        cal.fit(data[0] * 2, data[1], "text", "text")
        cal.save(tmp_path / "cal.json")
        loaded = Calibrator.load(tmp_path / "cal.json")
        grid = np.linspace(0, 2, 33)
        for pair in (("text", "image"), ("text", "text")):
            np.testing.assert_array_equal(loaded.transform(grid, *pair), cal.transform(grid, *pair))
        assert loaded.pairs == cal.pairs and loaded.meta == {"metric": "cosine"} and loaded.counts == cal.counts
        assert json.loads((tmp_path / "cal.json").read_text())["format"] == "st_multimodal.calibrator"

    def test_unknown_pair_names_fitted_ones(self, data):
        cal = Calibrator().fit(*data, "text", "image")
        with pytest.raises(KeyError, match=r"image->text.*fitted: text->image"):
            cal.transform([0.5], "image", "text")

    def test_needs_both_classes(self):
        with pytest.raises(ValueError, match="positives and negatives"):
            Calibrator().fit([0.1, 0.2], [1, 1], "text", "text")

    def test_per_item_modalities(self, data):
        s, y = data
        q = ["text"] * len(s)
        d = ["image" if i % 2 else "text" for i in range(len(s))]
        assert Calibrator().fit(s, y, q, d).pairs == [("text", "image"), ("text", "text")]

    def test_threshold_inverts_transform(self, data):
        for method in ("platt", "isotonic"):
            cal = Calibrator(method).fit(*data, "text", "image")
            t = cal.threshold(0.5, "text", "image")
            assert cal.transform(t, "text", "image") >= 0.5 - 1e-9
            assert cal.transform(t - 0.02, "text", "image") < 0.5

    def test_prior_sets_the_operating_point(self):
        rng = np.random.default_rng(5)
        s = np.r_[rng.normal(1, 1, 500), rng.normal(-1, 1, 5000)]
        y = np.r_[np.ones(500), np.zeros(5000)]
        even = Calibrator(prior=0.5).fit(s, y, "text", "text")
        natural = Calibrator(prior=None).fit(s, y, "text", "text")
        rare = Calibrator(prior=0.01).fit(s, y, "text", "text")
        assert even.threshold(0.5, "text", "text") == pytest.approx(0.0, abs=0.1)  # equal likelihoods
        assert even.threshold(0.5, "text", "text") < natural.threshold(0.5, "text", "text") < rare.threshold(0.5, "text", "text")
        assert natural.transform(s, "text", "text").mean() == pytest.approx(500 / 5500, abs=0.01)
        with pytest.raises(ValueError, match="prior"):
            Calibrator(prior=1.0)

    def test_in_batch_labels(self):
        np.testing.assert_array_equal(in_batch_labels(3), np.eye(3))
        np.testing.assert_array_equal(in_batch_labels(3, ["a", "b", "a"]), [[1, 0, 1], [0, 1, 0], [1, 0, 1]])

    def test_fit_in_batch_uses_the_diagonal(self):
        rng = np.random.default_rng(3)
        sims = rng.normal(0.2, 0.05, (40, 40))
        np.fill_diagonal(sims, rng.normal(0.6, 0.05, 40))
        cal = Calibrator().fit_in_batch(sims, "text", "image")
        assert cal.counts[("text", "image")] == (40, 1560)
        assert cal.transform(0.6, "text", "image") > 0.9 > 0.1 > cal.transform(0.2, "text", "image")


class TestOneThreshold:
    """Two modality pairs whose raw scores live on different scales (like text-text vs text-image cosines),
    equally separable (d' = 4): then one calibrated threshold gives the same precision and recall for both.
    (Calibration cannot equalise pairs that differ in separability.) Fitted on 1:10 data with ``prior=0.5``,
    the probabilities hold under equal priors, so the held-out set has as many positives as negatives."""

    POPULATIONS = {("text", "text"): (0.80, 0.56, 0.06), ("text", "image"): (0.30, 0.22, 0.02)}

    def _sample(self, rng, n_pos=1000, n_neg=10_000):
        out = {}
        for pair, (pos, neg, sd) in self.POPULATIONS.items():
            s = np.concatenate([rng.normal(pos, sd, n_pos), rng.normal(neg, sd, n_neg)])
            out[pair] = (s, np.r_[np.ones(n_pos), np.zeros(n_neg)])
        return out

    @pytest.mark.parametrize("method", ["platt", "isotonic"])
    def test_one_probability_threshold_serves_both_pairs(self, method):
        rng = np.random.default_rng(4)
        cal = Calibrator(method)
        for pair, (s, y) in self._sample(rng).items():
            cal.fit(s, y, *pair)
        held_out = self._sample(rng, 2000, 2000)
        calibrated = {pair: precision_recall(cal.transform(s, *pair), y, 0.5) for pair, (s, y) in held_out.items()}
        (p1, r1), (p2, r2) = calibrated.values()
        assert abs(p1 - p2) <= 0.05 and abs(r1 - r2) <= 0.05 and min(r1, r2) > 0.9
        # one raw threshold cannot do the same: the text-text midpoint rejects every text-image match
        raw = {pair: precision_recall(s, y, 0.68) for pair, (s, y) in held_out.items()}
        assert raw[("text", "text")][1] > 0.9 and raw[("text", "image")][1] == 0.0


class TestIndexCalibration:
    def test_hits_carry_probabilities_and_filter(self, clip_model):
        index = MultimodalIndex(clip_model)
        texts = ["a red car", "a blue bird", "a green tree", "a yellow sun", "an old house"]
        index.add(texts)
        cal = index.calibrate(in_batch=[(t, t) for t in texts], method="isotonic")
        assert cal.pairs == [("text", "text")] and cal.meta["centered"] is False
        hits = index.search("a red car", top_k=5)
        assert hits[0].probability == pytest.approx(1.0) and all(h.probability is not None for h in hits)
        kept = index.search("a red car", top_k=5, min_probability=0.5)
        assert [h.id for h in kept] == [h.id for h in hits if h.probability >= 0.5]

    def test_labelled_pairs(self, clip_model):
        from st_multimodal.testing import media

        index = MultimodalIndex(clip_model)
        pairs = [("a red car", "a red car", 1), ("a red car", "a blue bird", 0), ("a red car", media.image(0), 0),
                 ("a tree", "a tree", 1), ("a tree", media.image(1), 1), ("a tree", "a red car", 0)]
        cal = index.calibrate(pairs)
        assert cal.pairs == [("text", "image"), ("text", "text")]
        assert cal.counts[("text", "text")] == (2, 2) and cal.counts[("text", "image")] == (1, 1)
