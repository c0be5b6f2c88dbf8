"""Loading a model folder with the wrong class raises WrongModelClassError, decided from its small files."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

import st_multimodal as stm
from st_multimodal.demo import demo_model_path
from st_multimodal.model_class_check import evidence_of_kind


@pytest.fixture
def embedder_without_weights(tmp_path):
    """The demo model's folder without its weights: the check must not need them."""
    folder = tmp_path / "embedder"
    shutil.copytree(demo_model_path(), folder)
    (folder / "model.safetensors").unlink()
    return folder


def test_cross_encoder_refuses_an_embedding_model_before_reading_weights(embedder_without_weights):
    with pytest.raises(stm.WrongModelClassError) as caught:
        stm.CrossEncoder(str(embedder_without_weights), device="cpu")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.expected, error.found, error.use) == ("reranker", "embedder", "SentenceTransformer")
    message = str(error)
    assert "SentenceTransformer(" in message and "st_multimodal.load" in message
    assert "config_sentence_transformers.json" in message
    assert len(message) < 400


def test_cross_encoder_refuses_a_two_tower_model_without_st_files(zoo_path):
    with pytest.raises(stm.WrongModelClassError, match="two-tower") as caught:
        stm.CrossEncoder(str(zoo_path("clip")), device="cpu")
    assert caught.value.use == "SentenceTransformer"


def test_sentence_transformer_refuses_a_reranker(zoo_path, tmp_path):
    folder = tmp_path / "reranker"
    shutil.copytree(zoo_path("qwen3vl-reranker"), folder)
    (folder / "model.safetensors").unlink()  # decided before any weight is read
    with pytest.raises(stm.WrongModelClassError, match=r"CrossEncoder\(") as caught:
        stm.SentenceTransformer(str(folder), device="cpu")
    assert (caught.value.expected, caught.value.found) == ("embedder", "reranker")


def test_sentence_transformer_refuses_a_reranker_declared_only_by_modules(tmp_path):
    folder = tmp_path / "modules-only"
    folder.mkdir()
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.Transformer"},
        {"idx": 1, "name": "1", "path": "1_LogitScore", "type": "sentence_transformers.cross_encoder.modules.LogitScore"},
    ]))
    with pytest.raises(stm.WrongModelClassError):
        stm.SentenceTransformer(str(folder), device="cpu")


def test_multi_vector_model_is_refused_by_sentence_transformer(tmp_path):
    folder = tmp_path / "colbert"
    folder.mkdir()
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"model_type": "MultiVectorEncoder"}))
    with pytest.raises(stm.WrongModelClassError, match="MultiVectorEncoder"):
        stm.SentenceTransformer(str(folder), device="cpu")


def test_right_classes_still_load(zoo_path):
    assert stm.CrossEncoder(str(zoo_path("qwen3vl-reranker")), device="cpu") is not None
    assert stm.SentenceTransformer(str(demo_model_path()), device="cpu").modalities == ["text", "image"]


def test_silent_folders_are_not_judged(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    assert evidence_of_kind(str(tmp_path)) is None
    assert evidence_of_kind(str(tmp_path / "missing")) is None


def test_error_survives_pickle(embedder_without_weights):
    with pytest.raises(stm.WrongModelClassError) as caught:
        stm.CrossEncoder(str(embedder_without_weights))
    again = pickle.loads(pickle.dumps(caught.value))
    assert str(again) == str(caught.value) and again.use == "SentenceTransformer"
