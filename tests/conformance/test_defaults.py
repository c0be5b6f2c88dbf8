"""Defaults as upstream's: the weights' dtype is left to upstream (bf16 only when asked for), and our errors are the
exception types upstream raises in the same situation."""

from __future__ import annotations

import pytest
import torch

import st_multimodal as stm
from st_multimodal.loading import model_init_kwargs


@pytest.fixture
def bf16_gpu(monkeypatch):
    """A CUDA device with bf16 support, as far as the dtype decision can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


class TestDtype:
    @pytest.mark.parametrize("device", ["cuda", None])
    def test_default_leaves_dtype_to_upstream(self, bf16_gpu, device):
        assert "dtype" not in model_init_kwargs({"device": device}).get("model_kwargs", {})

    @pytest.mark.parametrize(("dtype", "expected"), [("auto", torch.bfloat16), ("bfloat16", torch.bfloat16),
                                                      ("float32", torch.float32), (torch.float16, torch.float16)])
    def test_opt_in(self, bf16_gpu, dtype, expected):
        assert model_init_kwargs({"device": "cuda", "dtype": dtype})["model_kwargs"]["dtype"] == expected

    def test_auto_on_cpu_is_float32(self):
        assert model_init_kwargs({"device": "cpu", "dtype": "auto"})["model_kwargs"]["dtype"] == torch.float32

    def test_model_kwargs_win(self, bf16_gpu):
        kwargs = model_init_kwargs({"device": "cuda", "dtype": "auto", "model_kwargs": {"dtype": torch.float32}})
        assert kwargs["model_kwargs"]["dtype"] == torch.float32


class TestErrorTypes:
    def test_unsupported_modality_is_a_value_error_like_upstreams(self, static, bert):
        from st_multimodal.testing import media

        image = media.image(0)
        with pytest.raises(ValueError) as upstream_error:
            static.upstream.encode([image])
        with pytest.raises(ValueError) as our_error:
            static.ours.encode([image])
        assert isinstance(our_error.value, stm.ModalityNotSupportedError) and type(upstream_error.value) is ValueError
        assert isinstance(our_error.value, TypeError)  # still an UnsupportedInputError, as before

    @pytest.mark.parametrize("bad", [["a single text"], [object()]], ids=["not-a-pair", "unknown-type"])
    def test_an_input_the_cross_encoder_cannot_take_is_a_value_error(self, reranker_1, bad):
        with pytest.raises(ValueError):
            reranker_1.upstream.predict(bad)
        with pytest.raises(ValueError) as our_error:
            reranker_1.ours.predict(bad)
        assert isinstance(our_error.value, stm.UnsupportedInputError) and our_error.value.index == 0
