"""Floating-point features reach the model in its dtype: bfloat16 models that do not cast their inputs work."""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer as UpstreamSentenceTransformer

import st_multimodal as stm
from st_multimodal.pipeline.device import features_to_device, floating_dtype
from st_multimodal.testing import media, zoo


def test_bfloat16_clap_embeds_audio():
    """CLAP's audio encoder takes float32 features as they come; with bfloat16 weights that used to raise."""
    model = stm.SentenceTransformer(str(zoo.cached_model("clap")), dtype="bfloat16")
    vectors = model.encode([media.flac_bytes(1.0, 48_000), media.wav_bytes(1.5, 44_100)])
    assert vectors.shape[0] == 2 and np.isfinite(vectors).all()


def test_models_that_cast_themselves_give_the_same_vectors_as_upstream():
    path = str(zoo.cached_model("clip"))
    images = [media.image(seed=i, w=64, h=48) for i in range(4)]
    ours = stm.SentenceTransformer(path, dtype="bfloat16").encode(images)
    upstream = UpstreamSentenceTransformer(path, model_kwargs={"dtype": torch.bfloat16}).encode(images)
    np.testing.assert_array_equal(ours, upstream)


def test_only_floating_features_are_cast():
    features = {"pixel_values": torch.ones(1, 3, dtype=torch.float32), "input_ids": torch.ones(1, 3, dtype=torch.long),
                "grid": [1, 2]}
    moved = features_to_device(features, torch.device("cpu"), torch.bfloat16)
    assert moved["pixel_values"].dtype == torch.bfloat16 and moved["input_ids"].dtype == torch.long
    assert moved["grid"] == [1, 2]
    assert floating_dtype(torch.nn.Linear(2, 2).to(torch.bfloat16)) == torch.bfloat16
    assert floating_dtype(torch.nn.Module()) is None
