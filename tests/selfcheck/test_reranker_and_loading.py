"""Rerankers (pair scores), the check on load with a reference shipped in the model folder, and the demo model's own reference."""

from __future__ import annotations

import shutil
import warnings

import pytest

import st_multimodal as stm
from st_multimodal.demo import demo_model_path
from st_multimodal.selfcheck import REFERENCE_FILE_NAME, EmbeddingDriftError, IncompatibleReferenceError, SelfCheckWarning

from .conftest import edit_json, perturb

RERANKER_LAYER = "0.model.model.language_model.layers.1.mlp.down_proj.weight"


@pytest.fixture(scope="module")
def reranker_reference(qwen_reranker, tmp_path_factory):
    return qwen_reranker.save_reference(tmp_path_factory.mktemp("reranker") / "reference.json")


class TestReranker:
    def test_reference_holds_pair_scores(self, reranker_reference):
        import json

        data = json.loads(reranker_reference.read_text(encoding="utf-8"))
        assert (data["encoder"], data["metric"]) == ("pair-scores", "score")
        assert {name: probe["dim"] for name, probe in data["probes"].items()} == {
            "pairs/text": 3, "pairs/image": 2, "pairs/image-query": 3}

    def test_unchanged_fresh_load_passes(self, zoo_path, reranker_reference):
        report = stm.CrossEncoder(str(zoo_path("qwen3vl-reranker")), device="cpu").self_check(reranker_reference)
        assert report.passed and all(r.max_abs_diff <= 1e-5 for r in report.probes)
        assert "|score diff| <= 0.01 x scale" in str(report) and "largest score change per modality pair: text->text" in str(report)

    def test_perturbed_fails(self, zoo_path, reranker_reference):
        model = stm.CrossEncoder(str(zoo_path("qwen3vl-reranker")), device="cpu")
        perturb(model, RERANKER_LAYER, scale=1.0)
        with pytest.raises(EmbeddingDriftError) as caught:
            model.self_check(reranker_reference)
        assert {r.name for r in caught.value.report.failures} == {"pairs/text", "pairs/image", "pairs/image-query"}
        assert all(r.max_abs_diff > 0.1 for r in caught.value.report.failures)


@pytest.fixture
def shipped_folder(demo_folder):
    """A demo model folder that ships its own reference."""
    stm.demo_model().save_reference(demo_folder)
    return demo_folder


class TestCheckOnLoad:
    @pytest.mark.parametrize("mode", ["warn", "raise"])
    def test_unchanged_loads_quietly(self, shipped_folder, mode):
        with warnings.catch_warnings():
            warnings.simplefilter("error", SelfCheckWarning)
            model = stm.SentenceTransformer(str(shipped_folder), device="cpu", self_check=mode)
        assert model.shipped_reference() == shipped_folder / REFERENCE_FILE_NAME
        assert model.self_check().passed  # no path: the shipped reference

    def test_changed_processor_raises(self, shipped_folder):
        edit_json(shipped_folder / "processor_config.json", lambda c: c["image_processor"].update(size={"shortest_edge": 80}))
        with pytest.raises(EmbeddingDriftError, match="image/shapes-224x224"):
            stm.SentenceTransformer(str(shipped_folder), device="cpu", self_check="raise")

    def test_changed_processor_warns_and_loads(self, shipped_folder):
        edit_json(shipped_folder / "processor_config.json", lambda c: c["image_processor"].update(size={"shortest_edge": 80}))
        with pytest.warns(SelfCheckWarning, match="self-check on load.*FAILED"):
            model = stm.SentenceTransformer(str(shipped_folder), device="cpu", self_check="warn")
        assert model.encode("a red circle").shape == (64,)

    def test_off_by_default(self, shipped_folder):
        edit_json(shipped_folder / "processor_config.json", lambda c: c["image_processor"].update(size={"shortest_edge": 80}))
        with warnings.catch_warnings():
            warnings.simplefilter("error", SelfCheckWarning)
            model = stm.SentenceTransformer(str(shipped_folder), device="cpu")
        assert not model.self_check(on_drift="return").passed

    def test_no_reference_shipped(self, demo_folder):
        with pytest.warns(SelfCheckWarning, match="ships no st_multimodal_reference.json"):
            stm.SentenceTransformer(str(demo_folder), device="cpu", self_check="warn")
        with pytest.raises(IncompatibleReferenceError, match="ships no st_multimodal_reference.json"):
            stm.SentenceTransformer(str(demo_folder), device="cpu", self_check="raise")
        model = stm.SentenceTransformer(str(demo_folder), device="cpu")
        assert model.shipped_reference() is None
        with pytest.raises(IncompatibleReferenceError, match="pass the path"):
            model.self_check()

    def test_bad_mode(self, demo_folder):
        with pytest.raises(ValueError, match="self_check must be"):
            stm.SentenceTransformer(str(demo_folder), device="cpu", self_check=True)

    def test_reranker_on_load(self, zoo_path, tmp_path, reranker_reference):
        folder = tmp_path / "reranker"
        shutil.copytree(zoo_path("qwen3vl-reranker"), folder)
        shutil.copy(reranker_reference, folder / REFERENCE_FILE_NAME)
        model = stm.CrossEncoder(str(folder), device="cpu", self_check="raise")
        assert model.shipped_reference() == folder / REFERENCE_FILE_NAME

    def test_loader_passes_it_through(self, shipped_folder):
        edit_json(shipped_folder / "processor_config.json", lambda c: c["image_processor"].update(size={"shortest_edge": 80}))
        with pytest.raises(EmbeddingDriftError):
            stm.load(str(shipped_folder), device="cpu", self_check="raise")


class TestShippedDemoReference:
    def test_demo_model_ships_a_reference_that_passes(self):
        assert (demo_model_path() / REFERENCE_FILE_NAME).is_file()
        report = stm.demo_model(self_check="raise").self_check()
        assert report.passed and min(r.cosine for r in report.probes) >= 0.9999
