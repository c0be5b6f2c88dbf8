"""The forward pass's thread plan: decisions from given timings (a fake clock), restoring, respecting the user."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from st_multimodal.pipeline import threads as thread_plans
from st_multimodal.pipeline.threads import ForwardThreadPlan, reduced_threads


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def four_threads(monkeypatch):
    """torch at 4 threads, as if that were torch's own default (reduced count: 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    monkeypatch.setattr(thread_plans, "_THREADS_AT_IMPORT", 4)
    for name in thread_plans._ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


def feed(plan: ForwardThreadPlan, clock: FakeClock, batches: list[tuple[float, float]], n: int = 32) -> list[int]:
    """Run ``(wait_s, forward_s)`` batches through the plan; the torch thread count seen by each forward."""
    seen = []
    for wait, forward in batches:
        seen.append(torch.get_num_threads())
        clock.now += wait + forward
        plan.after_batch(wait, forward, n)
    return seen


def test_reduced_count_is_a_quarter_of_the_cores_and_at_least_one():
    assert [reduced_threads(n) for n in (1, 2, 4, 7, 8, 16)] == [1, 1, 1, 1, 2, 4]


def test_preprocessing_bound_run_keeps_fewer_threads_then_restores(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=3, clock=clock)
    plan.start()
    # warm-up, 3 at full threads (waiting 60 % of the time), 1 switching, 3 reduced and faster, then the rest
    seen = feed(plan, clock, [(0.5, 0.1)] + [(0.06, 0.04)] * 3 + [(0.05, 0.03)] + [(0.02, 0.05)] * 3 + [(0.02, 0.05)] * 2)
    assert seen == [4] * 4 + [1] * 6  # the switch applies from the batch after the third full one
    assert plan.decision.chosen == 1 and "preprocessing-bound" in plan.decision.reason
    plan.finish()
    assert torch.get_num_threads() == 4


def test_compute_bound_run_never_changes_threads(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=3, clock=clock)
    plan.start()
    seen = feed(plan, clock, [(0.5, 0.1)] + [(0.001, 0.1)] * 8)
    plan.finish()
    assert seen == [4] * 9 and plan.decision.switches == []
    assert "compute-bound" in plan.decision.reason


def test_fewer_threads_that_are_not_faster_are_given_back(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=3, clock=clock)
    plan.start()
    seen = feed(plan, clock, [(0.5, 0.1)] + [(0.06, 0.04)] * 3 + [(0.05, 0.05)] + [(0.01, 0.2)] * 3 + [(0.06, 0.04)] * 2)
    plan.finish()
    assert seen == [4] * 4 + [1] * 4 + [4] * 2
    assert plan.decision.chosen == 4 and plan.decision.switches == [1, 4]


def test_threads_are_given_back_when_the_forward_pass_becomes_the_bottleneck(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=3, give_back_after=3, clock=clock)
    plan.start()
    preprocessing_bound = [(0.5, 0.1)] + [(0.06, 0.04)] * 3 + [(0.05, 0.03)] + [(0.02, 0.05)] * 3
    seen = feed(plan, clock, preprocessing_bound + [(0.0, 0.1)] * 3 + [(0.0, 0.05)] * 2)
    plan.finish()
    assert seen[-2:] == [4, 4] and plan.decision.switches == [1, 4]
    assert "given back" in plan.decision.reason


def test_a_thread_count_set_by_the_user_is_left_alone(four_threads):
    torch.set_num_threads(3)  # the user's choice
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed(plan, clock, [(0.5, 0.1)] + [(0.09, 0.01)] * 6)
    plan.finish()
    assert seen == [3] * 7 and torch.get_num_threads() == 3
    assert "user" in plan.decision.reason


def test_omp_num_threads_counts_as_the_users_choice(four_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    plan = ForwardThreadPlan()
    plan.start()
    plan.finish()
    assert "user" in plan.decision.reason


def test_only_one_call_at_a_time_adapts(four_threads):
    first, second = ForwardThreadPlan(), ForwardThreadPlan()
    first.start()
    second.start()
    try:
        assert "another call" in second.decision.reason
    finally:
        second.finish()
        first.finish()
    third = ForwardThreadPlan()
    third.start()
    third.finish()
    assert third.decision.reason == "measuring"


def test_encode_restores_the_thread_count_and_keeps_the_users(four_threads):
    """End to end: whatever the plan chose during a call, the count afterwards is the one before it."""
    import st_multimodal as stm
    from st_multimodal.testing import media, zoo

    model = stm.SentenceTransformer(str(zoo.cached_model("clip")))
    images = [media.image(seed=i, w=64, h=48) for i in range(40)]
    reference = model.encode(images, batch_size=4, show_progress_bar=False)
    assert torch.get_num_threads() == 4
    torch.set_num_threads(2)  # the user's choice: the call must run with it throughout
    seen = []
    original = model.forward

    def recording_forward(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    model.forward = recording_forward
    again = model.encode(images, batch_size=4, show_progress_bar=False)
    assert set(seen) == {2} and torch.get_num_threads() == 2
    np.testing.assert_allclose(again, reference, rtol=1e-5, atol=1e-6)
