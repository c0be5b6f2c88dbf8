"""encode_ray_dataset on a local Ray cluster (127.0.0.1 only): one actor, results equal to in-process encode.

Starting Ray costs several seconds, so everything that needs a cluster is in ONE test. The conftest
socket guard applies to this process only; Ray's workers are other processes and gRPC does not go
through Python sockets. ``_node_ip_address="127.0.0.1"`` keeps Ray from probing a public address.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from st_multimodal import MissingDependencyError
from st_multimodal.testing import media


def test_missing_ray_names_the_extra(monkeypatch):
    from st_multimodal.integrations.ray import encode_ray_dataset

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"\[ray\] extra"):
        encode_ray_dataset(object(), "x", "model")


@pytest.mark.slow
def test_actor_pool_matches_single_process(zoo_path, clip_model, tmp_path, connection_log):
    try:
        import ray
        import ray.data
    except ImportError as exc:
        pytest.skip(f"Ray Data is not installed ({exc}); pip install 'sentence-transformers-multimodal[ray]'")
    from st_multimodal.integrations.ray import encode_ray_dataset

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for i in range(5):
        (tmp_path / f"pic{i}").write_bytes(media.png_bytes(seed=i))  # no extension: found by content
    (tmp_path / "junk.png").write_bytes(b"junk")
    # one type per column: Ray stores a column mixing str and bytes as bytes
    inputs = [str(tmp_path / f"pic{i}") for i in range(5)] + ["a red car", str(tmp_path / "junk.png")]
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.path.abspath(src), "HF_HUB_OFFLINE": "1"}})
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        dataset = ray.data.from_items([{"id": i, "value": v} for i, v in enumerate(inputs)])
        encoded = encode_ray_dataset(dataset, "value", str(zoo_path("clip")), model_kwargs={"device": "cpu"}, batch_size=3)
        rows = sorted(encoded.take_all(), key=lambda row: row["id"])
    finally:
        ray.shutdown()
    assert [row["id"] for row in rows] == list(range(len(inputs)))
    assert [row["error"] is None for row in rows] == [True] * 6 + [False], [row["error"] for row in rows]
    assert rows[-1]["error"].startswith("DecodeError") and np.isnan(rows[-1]["embedding"]).all()
    got = np.stack([row["embedding"] for row in rows[:6]])
    expected = clip_model.encode(inputs[:6])
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.9999
    assert connection_log == []
