"""save_reference / self_check on embedders: unchanged models pass, deliberate changes fail with a clear report."""

from __future__ import annotations

import base64
import json
import pickle
import warnings

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.demo import demo_model_path
from st_multimodal.selfcheck import (
    PROBE_SET_VERSION,
    REFERENCE_FILE_NAME,
    EmbeddingDriftError,
    IncompatibleReferenceError,
    SelfCheckError,
    SelfCheckWarning,
    default_tolerance,
    embedding_probes,
    token_vectors_encoder,
)

from .conftest import edit_json, perturb

IMAGE_PROBES = {"image/shapes-224x224", "image/shapes-320x192"}
TEXT_PROBES = {"text/shapes", "text/sentence", "text/unicode"}


def cosines(report) -> dict[str, float | None]:
    return {r.name: r.cosine for r in report.probes}


class TestSaveReference:
    def test_contents(self, demo, demo_reference):
        data = json.loads(demo_reference.read_text(encoding="utf-8"))
        assert data["probe_set_version"] == PROBE_SET_VERSION
        assert data["encoder"] == "sentence-embedding" and data["metric"] == "cosine"
        assert data["model"]["fingerprint"] == demo.fingerprint
        assert (data["model"]["device"], data["model"]["dtype"]) == ("cpu", "float32")
        for key in ("python", "numpy", "torch", "transformers", "sentence-transformers", "st_multimodal"):
            assert data["environment"][key] not in ("", "not installed")
        assert data["environment"]["st_multimodal"] == stm.__version__
        assert set(data["probes"]) == TEXT_PROBES | IMAGE_PROBES
        assert data["created"].endswith("+00:00")

    def test_vectors_are_the_models_float32_outputs(self, demo, demo_reference):
        data = json.loads(demo_reference.read_text(encoding="utf-8"))
        probes = embedding_probes(demo)
        expected = demo.encode([p.value for p in probes], normalize_embeddings=False, use_cache=False)
        for probe, row in zip(probes, expected):
            stored = np.frombuffer(base64.b64decode(data["probes"][probe.name]["float32_base64"]), "<f4")
            assert stored.shape == (demo.get_embedding_dimension(),)
            np.testing.assert_allclose(stored, row, rtol=1e-5, atol=1e-6)

    def test_folder_gets_the_fixed_file_name(self, clip_model, tmp_path):
        written = clip_model.save_reference(tmp_path)
        assert written == tmp_path / REFERENCE_FILE_NAME and written.is_file()

    def test_failing_model_makes_no_reference(self, tmp_path):
        broken = stm.demo_model(image_size=48)  # CLIP position embeddings are fixed: 48 px images fail
        with pytest.raises(SelfCheckError, match=r"image/shapes-224x224 \(ValueError"):
            broken.save_reference(tmp_path / "ref.json")
        assert not (tmp_path / "ref.json").exists()


class TestUnchanged:
    def test_reference_made_in_another_process_passes(self, demo, demo_reference):
        shipped = demo_model_path() / REFERENCE_FILE_NAME  # written when the demo model was built, not here
        report = demo.self_check(shipped)
        assert report.passed and min(cosines(report).values()) >= 0.9999
        assert report.fingerprint_matches  # the fingerprint is a property of the weights, not of the process
        assert "passed" in str(report).splitlines()[0]
        here, there = (json.loads(p.read_text(encoding="utf-8"))["probes"] for p in (demo_reference, shipped))
        assert set(here) == set(there)
        for name in here:
            a, b = (np.frombuffer(base64.b64decode(d[name]["float32_base64"]), "<f4") for d in (here, there))
            assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= 0.9999, name

    def test_fresh_load_passes(self, demo_reference):
        report = stm.demo_model().self_check(demo_reference)
        assert report.passed and min(cosines(report).values()) >= 0.999999

    def test_passes_after_saving_and_loading_the_folder(self, demo, demo_reference, tmp_path):
        demo.save(str(tmp_path / "saved"), create_model_card=False)
        reloaded = stm.SentenceTransformer(str(tmp_path / "saved"), device="cpu")
        report = reloaded.self_check(demo_reference)
        assert report.passed and min(cosines(report).values()) >= 0.999999

    def test_tiny_clip_fresh_load(self, clip_model, zoo_path, tmp_path):
        reference = clip_model.save_reference(tmp_path)
        report = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu").self_check(reference)
        assert report.passed and set(report.by_modality()) == {"text", "image"}


class TestDrift:
    def test_processor_resize_changed_in_the_folder(self, demo_folder, demo_reference):
        edit_json(demo_folder / "processor_config.json",
                  lambda c: c["image_processor"].update(size={"shortest_edge": 80}))  # resize to 80, crop 64
        model = stm.SentenceTransformer(str(demo_folder), device="cpu")
        with pytest.raises(EmbeddingDriftError) as caught:
            model.self_check(demo_reference)
        report = caught.value.report
        assert {r.name for r in report.failures} == IMAGE_PROBES
        assert all(cosines(report)[name] == pytest.approx(1.0, abs=1e-6) for name in TEXT_PROBES)
        assert max(cosines(report)[name] for name in IMAGE_PROBES) < 0.99
        assert not report.fingerprint_matches
        text = str(caught.value)
        assert "FAILED (2 of 5 probes drifted)" in text
        assert all(f"{name}" in line and "DRIFT" in line for name in IMAGE_PROBES
                   for line in text.splitlines() if line.startswith(name))

    def test_image_size_kwarg_that_breaks_the_model_is_reported_per_probe(self, demo_reference):
        model = stm.demo_model(image_size=48)
        report = model.self_check(demo_reference, on_drift="return")
        assert not report.passed and {r.name for r in report.failures} == IMAGE_PROBES
        assert all("failed on this probe: ValueError" in r.note and r.cosine is None for r in report.failures)
        assert report.by_modality()["image"] is None and report.by_modality()["text"] == pytest.approx(1.0, abs=1e-6)

    def test_perturbed_weight(self, demo_reference):
        model = stm.demo_model()
        fingerprint = model.fingerprint  # computed and cached before the weights change
        perturb(model, "0.model.visual_projection.weight", scale=1.0)
        assert model.fingerprint != fingerprint  # the cache noticed the in-place change by itself
        with pytest.raises(EmbeddingDriftError) as caught:
            model.self_check(demo_reference)
        report = caught.value.report
        assert not report.fingerprint_matches
        assert {r.name for r in report.failures} == IMAGE_PROBES
        assert report.by_modality()["image"] < 0.99 and report.by_modality()["text"] == pytest.approx(1.0, abs=1e-6)

    def test_qwen_pixel_budget(self, qwen_embedder, zoo_path, tmp_path):
        reference = qwen_embedder.save_reference(tmp_path)
        budget = {"size": {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}}  # the folder says 64x64 to 96x96
        smaller = stm.SentenceTransformer(str(zoo_path("qwen3vl-embedding")), device="cpu", processor_kwargs=budget)
        report = smaller.self_check(reference, on_drift="return")
        failed = {r.modality for r in report.failures}
        assert {"image", "image+text"} <= failed and "text" not in failed  # the budget reaches the video processor too

    def test_warn_and_return(self, demo_reference):
        model = stm.demo_model()
        perturb(model, "0.model.text_projection.weight", scale=1.0)
        with pytest.warns(SelfCheckWarning, match="FAILED"):
            warned = model.self_check(demo_reference, on_drift="warn")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            returned = model.self_check(demo_reference, on_drift="return")
        assert not warned.passed and not returned.passed
        assert {r.name for r in returned.failures} == TEXT_PROBES

    def test_bad_on_drift(self, demo, demo_reference):
        with pytest.raises(ValueError, match="on_drift"):
            demo.self_check(demo_reference, on_drift="ignore")

    def test_drift_error_pickles(self, demo_reference):
        model = stm.demo_model()
        perturb(model, "0.model.visual_projection.weight")
        with pytest.raises(EmbeddingDriftError) as caught:
            model.self_check(demo_reference)
        copy = pickle.loads(pickle.dumps(caught.value))
        assert str(copy) == str(caught.value) and copy.report.failures == caught.value.report.failures


class TestTolerance:
    def test_defaults_by_dtype(self):
        assert default_tolerance("cosine", ["float32", "float32"]) == 0.999
        assert default_tolerance("cosine", ["float32", "bfloat16"]) == 0.99
        assert default_tolerance("score", ["float16", "float32"]) == 0.05
        assert default_tolerance("score", ["float32"]) == 0.01

    def test_bfloat16_model_against_float32_reference(self, demo_reference):
        report = stm.demo_model(dtype="bfloat16").self_check(demo_reference, on_drift="return")
        assert report.tolerance == 0.99 and report.passed
        assert min(cosines(report).values()) < 0.999999  # bf16 rounding is visible, within the looser bound
        assert ("dtype", "float32", "bfloat16") in [(c.name, c.reference, c.current) for c in report.environment_changes]

    def test_explicit_tolerance(self, demo, demo_reference):
        model = stm.demo_model()
        perturb(model, "0.model.visual_projection.weight", scale=0.1)  # image cosines about 0.9990
        loose = model.self_check(demo_reference, tolerance=0.99, on_drift="return")
        strict = model.self_check(demo_reference, tolerance=0.9999, on_drift="return")
        assert loose.passed and not strict.passed


class TestIncompatible:
    def test_other_probe_set_version(self, demo, demo_reference, tmp_path):
        old = tmp_path / "old.json"
        old.write_text(demo_reference.read_text(encoding="utf-8"), encoding="utf-8")
        edit_json(old, lambda d: d.update(probe_set_version="0"))
        with pytest.raises(IncompatibleReferenceError, match="probe set 0.*save_reference"):
            demo.self_check(old)

    def test_other_vector_size(self, demo_reference):
        truncated = stm.demo_model(truncate_dim=16)
        with pytest.raises(IncompatibleReferenceError, match="gives 16 values, the reference holds 64"):
            truncated.self_check(demo_reference)

    def test_reranker_reference_on_an_embedder(self, qwen_reranker, qwen_embedder, tmp_path):
        reference = qwen_reranker.save_reference(tmp_path / "reranker.json")
        with pytest.raises(IncompatibleReferenceError, match="'pair-scores'.*'sentence-embedding'"):
            qwen_embedder.self_check(reference)

    @pytest.mark.parametrize(
        ("content", "match"),
        [("not json", "not a readable reference"), ('{"format": "something else"}', "not a reference file"),
         ("[1, 2]", "not a reference file")],
    )
    def test_not_a_reference(self, demo, tmp_path, content, match):
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(IncompatibleReferenceError, match=match):
            demo.self_check(path)

    def test_damaged_vector(self, demo, demo_reference, tmp_path):
        damaged = tmp_path / "damaged.json"
        damaged.write_text(demo_reference.read_text(encoding="utf-8"), encoding="utf-8")
        edit_json(damaged, lambda d: d["probes"]["text/shapes"].update(float32_base64="AAAA"))
        with pytest.raises(IncompatibleReferenceError, match="damaged.*text/shapes"):
            demo.self_check(damaged)

    def test_missing_file(self, demo, tmp_path):
        with pytest.raises(IncompatibleReferenceError, match="no reference file"):
            demo.self_check(tmp_path / "nothing.json")

    def test_missing_probe_output_fails(self, demo, demo_reference, tmp_path):
        extra = tmp_path / "extra.json"
        extra.write_text(demo_reference.read_text(encoding="utf-8"), encoding="utf-8")
        edit_json(extra, lambda d: d["probes"].update({"audio/chord-1s": {**d["probes"]["text/shapes"], "modality": "audio"}}))
        report = demo.self_check(extra, on_drift="return")
        assert [r.name for r in report.failures] == ["audio/chord-1s"]
        assert "gave no output" in report.failures[0].note


class TestEnvironmentDifferences:
    def test_older_versions_are_listed(self, demo, demo_reference, tmp_path):
        old = tmp_path / "old-env.json"
        old.write_text(demo_reference.read_text(encoding="utf-8"), encoding="utf-8")
        edit_json(old, lambda d: (d["environment"].update(transformers="4.51.0", torch="2.5.0"),
                                  d["model"].update(device="cuda:0")))
        report = demo.self_check(old)
        assert report.passed
        changes = {c.name: (c.reference, c.current) for c in report.environment_changes}
        assert changes["transformers"][0] == "4.51.0" and changes["torch"][0] == "2.5.0"
        assert changes["device"] == ("cuda:0", "cpu")
        assert f"transformers 4.51.0 -> {changes['transformers'][1]}" in str(report)


class TestAudio:
    def test_clap_audio_probe(self, clap_model, zoo_path, tmp_path):
        reference = clap_model.save_reference(tmp_path)
        fresh = stm.SentenceTransformer(str(zoo_path("clap")), device="cpu")
        assert fresh.self_check(reference).by_modality()["audio"] >= 0.999999
        perturb(fresh, "0.model.audio_projection.linear2.weight")
        report = fresh.self_check(reference, on_drift="return")
        assert [r.name for r in report.failures] == ["audio/chord-1s"]


class TestMultiVectorHook:
    def test_token_vectors_encoder(self, zoo_path, tmp_path):
        class TokenModel(stm.SentenceTransformer):
            probe_encoder = token_vectors_encoder(output_value="token_embeddings")

        model = TokenModel(str(zoo_path("qwen3vl-embedding")), device="cpu")
        reference = model.save_reference(tmp_path / "tokens.json")
        assert json.loads(reference.read_text(encoding="utf-8"))["encoder"] == "token-vectors-mean"
        assert model.self_check(reference).passed
        perturb(model, "0.model.language_model.layers.1.mlp.down_proj.weight")
        assert not model.self_check(reference, on_drift="return").passed
