"""Each fixture loads one tiny model twice: through upstream's class and through ours (a ``Pair``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from .text_models import build_bert_cross_encoder, build_bert_embedder, build_router, build_static


@dataclass
class Pair:
    """The same model folder loaded by upstream's class (``upstream``) and by ours (``ours``)."""

    upstream: Any
    ours: Any
    path: str


def assert_same(expected: Any, actual: Any, atol: float = 1e-5) -> None:
    """Equal results: same container types, shapes, dtypes and values (to float tolerance)."""
    assert type(actual) is type(expected), (type(expected), type(actual))
    if isinstance(expected, np.ndarray):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype
        if expected.dtype.kind in "iub":
            np.testing.assert_array_equal(actual, expected)
        else:
            np.testing.assert_allclose(actual, expected, atol=atol, rtol=1e-4)
    elif isinstance(expected, torch.Tensor):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype and actual.device == expected.device
        torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-4)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same(e, a, atol)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same(expected[key], actual[key], atol)
    else:
        assert actual == pytest.approx(expected, abs=atol, rel=1e-4) if isinstance(expected, float) else actual == expected


def _pair(upstream_cls, ours_cls, path) -> Pair:
    return Pair(upstream_cls(str(path), device="cpu"), ours_cls(str(path), device="cpu"), str(path))


@pytest.fixture(scope="session")
def text_root(tmp_path_factory):
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def bert(text_root):
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(st.SentenceTransformer, stm.SentenceTransformer, build_bert_embedder(text_root / "bert"))


@pytest.fixture(scope="session")
def static(text_root):
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(st.SentenceTransformer, stm.SentenceTransformer, build_static(text_root / "static"))


@pytest.fixture(scope="session")
def router(text_root):
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(st.SentenceTransformer, stm.SentenceTransformer, build_router(text_root / "router"))


@pytest.fixture(scope="session", params=[1, 3], ids=["1-label", "3-labels"])
def text_cross_encoder(request, text_root):
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(st.CrossEncoder, stm.CrossEncoder, build_bert_cross_encoder(text_root / f"ce{request.param}", request.param))


@pytest.fixture(scope="session")
def reranker_1(text_root):
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(st.CrossEncoder, stm.CrossEncoder, build_bert_cross_encoder(text_root / "ce1-rank", 1))


def zoo_pair(zoo_path, kind: str, cls_name: str) -> Pair:
    import sentence_transformers as st

    import st_multimodal as stm

    return _pair(getattr(st, cls_name), getattr(stm, cls_name), zoo_path(kind))
