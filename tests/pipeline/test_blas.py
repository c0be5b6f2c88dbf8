"""numpy's OpenBLAS runs on one thread while a pipeline runs, and gets its count back afterwards."""

from __future__ import annotations

import numpy as np  # noqa: F401 - loads OpenBLAS
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from st_multimodal.pipeline import Pipeline, Prepared  # noqa: E402
from st_multimodal.pipeline import blas  # noqa: E402


def openblas_threads() -> list[int]:
    """Thread counts of numpy's OpenBLAS (other libraries' copies, loaded later by scipy say, are not ours to limit)."""
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info.get("internal_api") == "openblas" and "numpy" in info.get("filepath", "")]


@pytest.fixture
def openblas_on_two_threads(monkeypatch):
    for name in blas._ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if blas._OPENBLAS is None or not openblas_threads():
        pytest.skip("numpy is not linked against OpenBLAS here")
    with blas._OPENBLAS.limit(limits=2):
        yield


def run_pipeline(seen: list) -> list:
    def prepare(batch):
        seen.append(openblas_threads())
        return batch.values

    pipeline = Pipeline(batch_size=2, length_of=lambda value: 1, adapt_threads=False)
    return [row.value for row in pipeline.run(enumerate(range(4)), resolve=lambda i, raw: Prepared(key="x", value=raw),
                                               prepare=prepare, forward=lambda batch, features: features)]


def test_openblas_has_one_thread_during_a_run_and_its_count_back_after(openblas_on_two_threads):
    seen: list = []
    assert run_pipeline(seen) == [0, 1, 2, 3]
    assert seen and all(set(counts) == {1} for counts in seen)
    assert set(openblas_threads()) == {2}


def test_a_count_chosen_by_environment_is_left_alone(openblas_on_two_threads, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    seen: list = []
    run_pipeline(seen)
    assert seen and all(set(counts) == {2} for counts in seen)


def test_overlapping_runs_restore_the_count_once_the_last_one_ends(openblas_on_two_threads):
    with blas.one_openblas_thread():
        with blas.one_openblas_thread():
            assert set(openblas_threads()) == {1}
        assert set(openblas_threads()) == {1}
    assert set(openblas_threads()) == {2}
