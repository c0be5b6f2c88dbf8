"""The loopback test server (as ``counting_server``), and a clip model allowed to fetch from it."""

from __future__ import annotations

import pytest

from st_multimodal.policy import FetchPolicy
from st_multimodal.testing.server import LocalServer


@pytest.fixture
def counting_server():
    """The shared loopback test server (``st_multimodal.testing.server``); its request log counts fetches."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def loopback_clip(clip_model, monkeypatch):
    """The session clip model, allowed to fetch from 127.0.0.1 for this test."""
    monkeypatch.setattr(clip_model, "fetch_policy", FetchPolicy(allow_loopback=True, retries=0))
    return clip_model
