"""The tiny ColQwen-style zoo model, loaded by our class and by upstream's, and decoded test media."""

from __future__ import annotations

import pytest

from st_multimodal.testing.server import LocalServer


@pytest.fixture(scope="session")
def colqwen_path(zoo_path):
    return str(zoo_path("colqwen"))


@pytest.fixture(scope="session")
def colqwen(colqwen_path):
    """``st_multimodal.MultiVectorEncoder`` on the tiny ColQwen-style model."""
    import st_multimodal

    return st_multimodal.MultiVectorEncoder(colqwen_path, device="cpu")


@pytest.fixture(scope="session")
def upstream_colqwen(colqwen_path):
    """Upstream's ``sentence_transformers.MultiVectorEncoder`` on the same folder."""
    from sentence_transformers import MultiVectorEncoder

    return MultiVectorEncoder(colqwen_path, device="cpu")


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv
