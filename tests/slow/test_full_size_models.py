"""Full-size random-weight models build, load and embed (slow: 0.6-8.5 GB of weights each).

Not part of the default run: set ``ST_MM_FULL_SIZE=1`` (and optionally ``ST_MM_FULL_SIZE_KINDS``, a
comma-separated subset) and run ``pytest -m slow tests/slow``. The exact-fast-path parity with these
models' processor settings needs no weights and runs in CI: ``tests/pipeline/test_full_size_fast_paths.py``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import st_multimodal as stm
from st_multimodal.testing import full_size, media, zoo

KINDS = [k for k in os.environ.get("ST_MM_FULL_SIZE_KINDS", ",".join(zoo.FULL_SIZE_KINDS)).split(",") if k]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("ST_MM_FULL_SIZE"), reason="full-size models: set ST_MM_FULL_SIZE=1"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_full_size_model_builds_loads_and_embeds(kind, tmp_path_factory):
    folder = zoo.cached_model(kind, root=tmp_path_factory.getbasetemp().parent / "full_size_zoo")
    facts = full_size.PUBLISHED["qwen3vl-2b" if kind.startswith("qwen3vl-2b") else kind]
    if kind.endswith("reranker"):
        model = stm.CrossEncoder(str(folder), device="cpu", dtype="bfloat16")
        scores = model.predict([("a red square", media.image(0, 64, 48))])
        assert np.isfinite(scores).all()
        return
    model = stm.SentenceTransformer(str(folder), device="cpu", dtype="bfloat16")
    item = media.flac_bytes(2.0, 44_100) if kind.startswith("clap") else media.jpeg_bytes(640, 480)
    vector = model.encode([item])
    expected = facts.get("projection_dim") or facts["text_config"]["hidden_size"]
    assert vector.shape == (1, expected) and np.isfinite(vector).all()


def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(f"{field}:"))


_TINY = {"clip-vit-l-14-336": "clip", "siglip-so400m-384": "siglip", "clap-htsat-unfused": "clap",
         "qwen3vl-2b-embedding": "qwen3vl-embedding", "qwen3vl-2b-reranker": "qwen3vl-reranker"}


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak RSS reset needs Linux")
@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_load_peak_is_about_the_bfloat16_weights(kind, tmp_path_factory):
    """Loading bfloat16 from the float32 checkpoint holds no float32 copy: the load's peak RSS above the RSS
    before it (the library's fixed cost paid first, by a tiny model of the family) is within 1.3x of the weights."""
    folder = zoo.cached_model(kind, root=tmp_path_factory.getbasetemp().parent / "full_size_zoo")
    cls = stm.CrossEncoder if kind.endswith("reranker") else stm.SentenceTransformer
    cls(str(zoo.cached_model(_TINY[kind])), device="cpu", dtype="bfloat16")
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # VmHWM starts again from the RSS now
    model = cls(str(folder), device="cpu", dtype="bfloat16")
    peak = _status("VmHWM") - before
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    bf16 = sum(p.numel() * p.element_size() for p in model.parameters() if p.dtype == torch.bfloat16)
    assert bf16 >= 0.95 * weights  # (a model may keep a few small modules in float32)
    assert peak <= 1.3 * weights, f"load peak {peak / 1e9:.2f} GB for {weights / 1e9:.2f} GB of bfloat16 weights"
