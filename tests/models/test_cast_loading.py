"""Weights loaded into another dtype are read tensor by tensor (no memory map of the float32 file beside them)."""

from __future__ import annotations

import pytest
import torch
from transformers import modeling_utils

import st_multimodal as stm
from st_multimodal.cast_loading import needs_cast, reading_into, requested_dtype, stored_float_dtypes


@pytest.fixture
def opened(monkeypatch):
    """The backends transformers' safetensors opens ask for, recorded while reading as asked."""
    calls: list[str] = []
    real = modeling_utils.safe_open

    def recording(file, *args, **kwargs):
        calls.append(kwargs.get("backend", "mmap"))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_open", recording)
    return calls


def _weights(folder) -> str:
    return str(next(folder.glob("*.safetensors")))


def test_zoo_checkpoint_is_float32(zoo_path):
    assert stored_float_dtypes(_weights(zoo_path("clip"))) == {"F32"}


def test_bfloat16_from_float32_reads_without_memory_map(zoo_path, opened):
    folder = zoo_path("clip")
    model = stm.SentenceTransformer(str(folder), device="cpu", dtype="bfloat16")
    assert opened == ["pread"]
    assert {p.dtype for p in model.parameters() if p.is_floating_point()} == {torch.bfloat16}
    reference = stm.SentenceTransformer(str(folder), device="cpu")  # float32, memory-mapped as upstream reads it
    assert opened == ["pread", "mmap"]
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(ours, theirs.to(ours.dtype)), name  # the same cast, tensor by tensor


def test_hook_removed_after_loading(zoo_path, opened):
    recording = modeling_utils.safe_open
    stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", dtype="bfloat16")
    assert modeling_utils.safe_open is recording


@pytest.mark.parametrize("kwargs", [{}, {"dtype": "float32"}, {"model_kwargs": {"dtype": "auto"}},
                                    {"dtype": "bfloat16", "model_kwargs": {"dtype": torch.float32}}])
def test_no_cast_keeps_upstream_reading(zoo_path, opened, kwargs):
    model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", **kwargs)
    assert opened == ["mmap"]
    assert next(model.parameters()).dtype == torch.float32  # a user's model_kwargs dtype wins over ours


def test_users_model_kwargs_dtype_is_the_target(zoo_path, opened):
    model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
    assert opened == ["pread"]
    assert next(model.parameters()).dtype == torch.bfloat16


def test_reranker_reads_without_memory_map(zoo_path, opened):
    folder = zoo_path("qwen3vl-reranker")
    opened.clear()  # building the zoo model (first use) reads checkpoints too
    model = stm.CrossEncoder(str(folder), device="cpu", dtype="bfloat16")
    assert set(opened) == {"pread"}
    assert next(model.parameters()).dtype == torch.bfloat16


def test_requested_dtype():
    assert requested_dtype(None) is None
    assert requested_dtype({"dtype": "auto"}) is None
    assert requested_dtype({"dtype": "bfloat16"}) is torch.bfloat16
    assert requested_dtype({"torch_dtype": torch.float16}) is torch.float16


def test_needs_cast(zoo_path, tmp_path):
    path = _weights(zoo_path("clip"))
    assert needs_cast(path, torch.bfloat16) and not needs_cast(path, torch.float32)
    assert not needs_cast(str(tmp_path / "missing.safetensors"), torch.bfloat16)


def test_outside_the_context_reads_as_asked(zoo_path, opened):
    with reading_into(torch.bfloat16):
        pass
    stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
    assert opened == ["mmap"]


def test_nested_uses_keep_the_hook_until_the_last_ends(opened):
    recording = modeling_utils.safe_open
    with reading_into(torch.bfloat16):
        hook = modeling_utils.safe_open
        assert hook is not recording
        with reading_into(torch.float16):
            assert modeling_utils.safe_open is hook
        assert modeling_utils.safe_open is hook
    assert modeling_utils.safe_open is recording
