"""MultimodalIndex on the tiny offline CLIP: mixed modalities, ids, metadata, filters, failures, save/load."""

from __future__ import annotations

import re

import numpy as np
import pytest

import st_multimodal.retrieval as retrieval
from st_multimodal.decoders.base import DECODERS
from st_multimodal.errors import DecodeError, FetchError, ModalityNotSupportedError
from st_multimodal.retrieval import DuplicateIdError, ModelMismatchError, MultimodalIndex
from st_multimodal.testing import media

TEXTS = ["a red car", "a bee on a pink flower", "a wasp on a wooden table"]


@pytest.fixture
def mixed_items(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(media.png_bytes(seed=7))
    return [TEXTS[0], media.image(1), media.png_bytes(seed=2), path, TEXTS[1], media.jpeg_bytes(seed=3), TEXTS[2]]


@pytest.fixture
def index(clip_model, mixed_items):
    index = MultimodalIndex(clip_model)
    index.add(mixed_items, ids=[f"doc{i}" for i in range(len(mixed_items))], metadata=[{"n": i} for i in range(len(mixed_items))])
    return index


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class TestAdd:
    def test_records_modality_of_each_item(self, index):
        assert index.modalities == ["text", "image", "image", "image", "text", "image", "text"]
        assert len(index) == 7 and "doc3" in index and "nope" not in index

    def test_vectors_equal_encoding_the_raw_inputs(self, clip_model, index, mixed_items):
        direct = clip_model.encode(mixed_items, convert_to_numpy=True)
        np.testing.assert_allclose(index.vectors, direct, atol=1e-5)

    def test_one_encode_call_per_add(self, clip_model, mixed_items, monkeypatch):
        calls = []
        original = clip_model.encode
        monkeypatch.setattr(clip_model, "encode", lambda *a, **k: calls.append(len(a[0])) or original(*a, **k))
        MultimodalIndex(clip_model).add(mixed_items)
        assert calls == [len(mixed_items)]

    def test_each_image_decoded_once(self, clip_model, monkeypatch):
        decoder = DECODERS.get("image")
        decoded = []
        original = decoder.decode
        monkeypatch.setattr(decoder, "decode", lambda fetched, ctx: decoded.append(1) or original(fetched, ctx))
        index = MultimodalIndex(clip_model)
        index.add([media.png_bytes(seed=s) for s in range(3)])
        index.document(0), index.document(2)
        assert len(decoded) == 3

    def test_auto_ids_skip_taken_ones(self, clip_model):
        index = MultimodalIndex(clip_model)
        index.add(["x", "y"], ids=[1, "b"])
        assert index.add(["z", "w"]).ids == [0, 2]

    def test_single_item_must_be_wrapped(self, clip_model):
        with pytest.raises(TypeError, match="list"):
            MultimodalIndex(clip_model).add("a red car")

    def test_lengths_must_match(self, clip_model):
        with pytest.raises(ValueError, match="ids"):
            MultimodalIndex(clip_model).add(["a", "b"], ids=["x"])
        with pytest.raises(ValueError, match="metadata"):
            MultimodalIndex(clip_model).add(["a", "b"], metadata=[{}])


class TestDuplicateIds:
    def test_existing_id_refused_and_nothing_added(self, index):
        with pytest.raises(DuplicateIdError, match="'doc1' is already in the index"):
            index.add(["new", "other"], ids=["new", "doc1"])
        assert len(index) == 7 and "new" not in index

    def test_repeated_id_in_one_call(self, clip_model):
        with pytest.raises(DuplicateIdError, match="twice"):
            MultimodalIndex(clip_model).add(["a", "b"], ids=["x", "x"])

    def test_id_types(self, clip_model):
        with pytest.raises(TypeError, match="str or int"):
            MultimodalIndex(clip_model).add(["a"], ids=[1.5])


class TestFailures:
    def test_skip_reports_every_failure(self, clip_model, tmp_path):
        items = ["fine", b"not an image at all", media.image(0), tmp_path / "missing.png", media.wav_bytes(0.2)]
        result = MultimodalIndex(clip_model).add(items, ids=list("abcde"), on_error="skip")
        assert result.ids == ["a", "c"]
        assert result.failed_ids == ["b", "d", "e"]
        assert [f.index for f in result.failures] == [1, 3, 4]
        assert isinstance(result.failures[0].error, DecodeError)
        assert isinstance(result.failures[1].error, FetchError)
        assert isinstance(result.failures[2].error, ModalityNotSupportedError)  # CLIP takes no audio

    def test_raise_adds_nothing(self, clip_model):
        index = MultimodalIndex(clip_model)
        with pytest.raises(DecodeError, match="input 1"):
            index.add(["fine", b"garbage bytes"])
        assert len(index) == 0


class TestSearch:
    def test_exact_copy_ranks_first(self, index):
        hits = index.search(TEXTS[1], top_k=3)
        assert hits[0].id == "doc4" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].metadata == {"n": 4} and hits[0].modality == "text"
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_image_query(self, index):
        hits = index.search(media.png_bytes(seed=2), top_k=2)
        assert hits[0].id == "doc2" and hits[0].modality == "image"

    def test_scores_are_cosine(self, clip_model, index, mixed_items):
        hits = index.search(TEXTS[0], top_k=7)
        q = _unit(clip_model.encode([TEXTS[0]]))[0]
        docs = _unit(clip_model.encode(mixed_items))
        expected = {f"doc{i}": float(docs[i] @ q) for i in range(7)}
        assert {h.id: h.score for h in hits} == pytest.approx(expected, abs=1e-5)

    @pytest.mark.parametrize(("modality", "expected"), [("image", {"image"}), ("text", {"text"}), (["text", "image"], {"text", "image"})])
    def test_modality_filter(self, index, modality, expected):
        hits = index.search(TEXTS[0], top_k=10, modality=modality)
        assert {h.modality for h in hits} == expected
        assert len(hits) == sum(m in expected for m in index.modalities)

    def test_filter_matching_nothing(self, index):
        assert index.search(TEXTS[0], modality="audio") == []

    def test_empty_index(self, clip_model):
        assert MultimodalIndex(clip_model).search("anything") == []

    def test_grows_between_searches(self, clip_model):
        index = MultimodalIndex(clip_model)
        index.add(["first"])
        assert len(index.search("x")) == 1
        index.add(["second"])
        assert len(index.search("x")) == 2

    def test_min_probability_needs_calibration(self, index):
        with pytest.raises(ValueError, match="calibrate"):
            index.search("x", min_probability=0.5)


class TestSaveLoad:
    def test_round_trip_gives_identical_results(self, clip_model, index, tmp_path):
        index.calibrate(in_batch=[(t, t) for t in TEXTS])
        index.save(tmp_path / "idx")
        loaded = MultimodalIndex.load(tmp_path / "idx", clip_model)
        assert loaded.ids == index.ids and loaded.modalities == index.modalities
        np.testing.assert_array_equal(loaded.vectors, index.vectors)
        for query in (TEXTS[0], media.image(1)):
            assert loaded.search(query, top_k=7) == index.search(query, top_k=7)
        assert loaded.calibrator.to_dict() == index.calibrator.to_dict()
        hits = loaded.search(TEXTS[0], top_k=7)
        probabilities = [h.probability for h in hits if h.modality == "text"]
        assert len(probabilities) >= 2 and all(p is not None and 0 <= p <= 1 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)  # calibration keeps the ranking
        assert probabilities[0] > probabilities[-1]  # and tells the exact match from the rest

    def test_saved_string_inputs_allow_rerank_documents(self, clip_model, index, tmp_path):
        index.save(tmp_path / "idx")
        loaded = MultimodalIndex.load(tmp_path / "idx", clip_model)
        assert loaded.document("doc0").value == TEXTS[0]
        with pytest.raises(LookupError, match="not kept"):
            loaded.document("doc1")  # a PIL image is not saved

    def test_auto_ids_continue_after_load(self, clip_model, tmp_path):
        index = MultimodalIndex(clip_model)
        index.add(["a", "b"])
        index.save(tmp_path / "idx")
        assert MultimodalIndex.load(tmp_path / "idx", clip_model).add(["c"]).ids == [2]

    def test_other_model_refused(self, clip_model, index, tmp_path, monkeypatch):
        index.save(tmp_path / "idx")
        monkeypatch.setattr(clip_model, "_fingerprint", "0" * 64)
        with pytest.raises(ModelMismatchError, match="another model"):
            MultimodalIndex.load(tmp_path / "idx", clip_model)
        with pytest.warns(UserWarning, match="another model"):
            assert len(MultimodalIndex.load(tmp_path / "idx", clip_model, on_model_mismatch="warn")) == 7

    def test_unserialisable_metadata(self, clip_model, tmp_path):
        index = MultimodalIndex(clip_model)
        index.add(["a"], metadata=[{"x": object()}])
        with pytest.raises(TypeError, match="JSON"):
            index.save(tmp_path / "idx")


def test_public_names_are_this_packages_and_documented():
    from pathlib import Path

    from st_multimodal.registry import Registry

    docs = " ".join(p.read_text(encoding="utf-8") for p in (Path(__file__).resolve().parents[2] / "docs").glob("*.md"))
    for name in retrieval.__all__:
        obj = getattr(retrieval, name)
        if isinstance(obj, Registry):
            assert "exact" in obj.names(), name
        else:
            assert obj.__module__.startswith("st_multimodal.retrieval"), name
        assert re.search(rf"\b{name}\b", docs), f"{name} is exported but no page of the docs mentions it"
