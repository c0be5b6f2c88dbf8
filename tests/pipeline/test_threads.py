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
def default_threads(monkeypatch):
    """Sets torch's thread count as if it were torch's own default (restored afterwards)."""
    before = torch.get_num_threads()

    def use(count: int) -> None:
        torch.set_num_threads(count)
        monkeypatch.setattr(thread_plans, "_THREADS_AT_IMPORT", count)
        for name in thread_plans._ENV_VARIABLES:
            monkeypatch.delenv(name, raising=False)

    yield use
    torch.set_num_threads(before)


@pytest.fixture
def four_threads(default_threads):
    """torch at 4 threads, as if that were torch's own default (reduced count: 1)."""
    default_threads(4)


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


PREPROCESSING_BOUND = [(0.5, 0.1)] + [(0.06, 0.04)] * 2 + [(0.05, 0.03)] + [(0.02, 0.05)] * 2 + [(0.02, 0.05)] * 2


def feed_kind(plan: ForwardThreadPlan, clock: FakeClock, batches: list[tuple[float, float]], kind: object = "image") -> list[int]:
    """Like ``feed``, calling ``before_batch`` as the pipeline does."""
    seen = []
    for wait, forward in batches:
        plan.before_batch(kind)
        seen.append(torch.get_num_threads())
        clock.now += wait + forward
        plan.after_batch(wait, forward, 32)
    return seen


def run_call(memory: thread_plans.ThreadMemory, batches, kind: object = "image") -> tuple[list[int], ForwardThreadPlan]:
    clock = FakeClock()
    plan = ForwardThreadPlan(clock=clock, memory=memory)
    plan.start()
    try:
        return feed_kind(plan, clock, batches, kind), plan
    finally:
        plan.finish()


def test_a_later_call_starts_from_the_remembered_reduction(four_threads):
    memory = thread_plans.ThreadMemory(reuse=4)
    first, plan = run_call(memory, PREPROCESSING_BOUND)
    assert first == [4] * 3 + [1] * 5 and plan.decision.chosen == 1
    assert torch.get_num_threads() == 4  # restored between calls
    second, plan = run_call(memory, [(0.05, 0.03)] * 4)
    assert second == [1] * 4 and "remembered" in plan.decision.reason
    assert torch.get_num_threads() == 4


def test_the_memory_is_per_kind_of_batch(four_threads):
    memory = thread_plans.ThreadMemory()
    run_call(memory, PREPROCESSING_BOUND, kind="image")
    seen, plan = run_call(memory, [(0.001, 0.1)] * 4, kind="text")
    assert seen == [4] * 4 and "remembered" not in plan.decision.reason


def test_a_remembered_reduction_is_given_back_and_forgotten_when_compute_bound(four_threads):
    memory = thread_plans.ThreadMemory()
    run_call(memory, PREPROCESSING_BOUND)
    seen, plan = run_call(memory, [(0.0, 0.1)] * 5)
    assert seen[:3] == [1, 1, 1] and seen[-1] == 4 and "given back" in plan.decision.reason
    third, _ = run_call(memory, [(0.001, 0.1)] * 3)
    assert third == [4] * 3


def test_a_remembered_choice_is_measured_again_after_its_reuses(four_threads):
    memory = thread_plans.ThreadMemory(reuse=2)
    run_call(memory, PREPROCESSING_BOUND)
    reasons = [run_call(memory, [(0.05, 0.03)] * 3)[1].decision.reason for _ in range(3)]
    assert ["remembered" in reason for reason in reasons] == [True, True, False]


def test_a_compute_bound_choice_is_remembered_too(four_threads):
    memory = thread_plans.ThreadMemory()
    run_call(memory, [(0.5, 0.1)] + [(0.001, 0.1)] * 4)
    seen, plan = run_call(memory, [(0.06, 0.04)] * 6)
    assert seen == [4] * 6 and plan.decision.switches == [] and "remembered" in plan.decision.reason


def test_a_model_keeps_its_thread_memory_through_pickling():
    import pickle

    import st_multimodal as stm
    from st_multimodal.testing import zoo

    model = stm.SentenceTransformer(str(zoo.cached_model("clip")))
    model.thread_memory.remember("image", 1, torch.get_num_threads())
    copy = pickle.loads(pickle.dumps(model))
    assert copy.thread_memory.recall("image", torch.get_num_threads()) == (1, True)


def test_a_forward_pass_that_would_still_wait_gets_fewer_threads_without_a_trial(four_threads):
    """Waiting 90 % of the time: even four times slower (4 -> 1 thread) it would wait, so no A/B probe."""
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed(plan, clock, [(0.5, 0.1)] + [(0.09, 0.01)] * 2 + [(0.09, 0.03)] * 3)
    plan.finish()
    assert seen == [4] * 3 + [1] * 3
    assert plan.decision.switches == [1] and "suffice" in plan.decision.reason
    assert plan.decision.per_item_reduced is None  # decided from the wait alone


def test_pipeline_workers_run_torch_on_one_thread_and_leave_the_callers_count(four_threads):
    """Decode and preprocess workers set one torch thread for themselves; the forward pass keeps its count."""
    if not thread_plans._counts_are_per_thread():
        pytest.skip("torch's thread counts are process-wide with this build's parallel backend")
    from st_multimodal.pipeline import Pipeline, Prepared

    worker_counts, forward_counts = [], []

    def resolve(index, raw):
        worker_counts.append(torch.get_num_threads())
        return Prepared(key="x", value=raw)

    def prepare(batch):
        worker_counts.append(torch.get_num_threads())
        return batch.values

    def forward(batch, features):
        forward_counts.append(torch.get_num_threads())
        return features

    pipeline = Pipeline(batch_size=2, length_of=lambda value: 1, adapt_threads=False)
    rows = list(pipeline.run(enumerate(range(6)), resolve=resolve, prepare=prepare, forward=forward))
    assert [row.value for row in rows] == list(range(6))
    assert set(worker_counts) == {1} and set(forward_counts) == {4}


def feed_with_input(plan: ForwardThreadPlan, clock: FakeClock, batches: list[tuple[float, float, float]]) -> list[int]:
    """``(wait_s, forward_s, input_cpu_s)`` batches; the thread count seen by each forward."""
    seen = []
    for wait, forward, input_cpu in batches:
        plan.before_batch("audio")
        seen.append(torch.get_num_threads())
        clock.now += wait + forward
        plan.after_batch(wait, forward, 8, input_cpu)
    return seen


def test_threads_that_fit_beside_the_input_side():
    assert [thread_plans.threads_that_fit(2, load) for load in (0.0, 0.4, 0.6, 0.9, 1.2, 1.9, 3.0)] == [2, 2, 1, 1, 1, 1, 1]
    assert [thread_plans.threads_that_fit(16, load) for load in (0.3, 2.0, 7.6)] == [16, 14, 8]


def test_a_compute_bound_run_with_a_busy_input_side_gets_the_cores_it_leaves(four_threads):
    """The forward pass never waits, but the workers keep 2 of 4 cores busy: the forward pass gets the 2 left,
    at once (no trial: the first batches' timings are too noisy) and without give-back."""
    clock = FakeClock()
    memory = thread_plans.ThreadMemory()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock, memory=memory)
    plan.start()
    seen = feed_with_input(plan, clock, [(0.5, 0.2, 0.4)] + [(0.0, 0.2, 0.4)] * 2 + [(0.0, 0.25, 0.5)] * 6)
    plan.finish()
    assert seen == [4] * 3 + [2] * 6
    assert plan.decision.chosen == 2 and "compete" in plan.decision.reason
    assert plan.decision.input_load == pytest.approx(2.0)
    assert memory.recall("audio", 4) == (2, False)


def test_a_busy_input_side_wins_over_probe_timings_that_favour_all_threads(default_threads):
    """Two cores, the input side keeping one busy: one forward thread, although the probe batches (draining
    batches prepared during the warm-up) looked fast with both."""
    default_threads(2)
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed_with_input(plan, clock, [(0.2, 0.05, 0.1)] + [(0.0, 0.04, 0.04)] * 2 + [(0.0, 0.06, 0.06)] * 4)
    plan.finish()
    assert seen == [2] * 3 + [1] * 4 and plan.decision.chosen == 1


def test_a_moderately_busy_input_side_tries_fewer_threads_and_keeps_the_faster(four_threads):
    """Input side at 0.45 of 4 cores (above the floor, the forward threads still fit): a trial decides."""
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed_with_input(plan, clock, [(0.5, 0.2, 0.09)] + [(0.0, 0.2, 0.09)] * 2 + [(0.0, 0.15, 0.07)]
                           + [(0.0, 0.12, 0.05)] * 2 + [(0.0, 0.12, 0.05)] * 3)
    plan.finish()
    assert seen == [4] * 3 + [1] * 6
    assert plan.decision.chosen == 1 and "compete" in plan.decision.reason and "faster" in plan.decision.reason


def test_a_compute_bound_run_whose_input_side_is_busy_keeps_all_threads_when_fewer_are_slower(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed_with_input(plan, clock, [(0.5, 0.2, 0.09)] + [(0.0, 0.2, 0.09)] * 2 + [(0.0, 0.3, 0.09)]
                           + [(0.0, 0.4, 0.09)] * 2 + [(0.0, 0.2, 0.09)] * 2)
    plan.finish()
    assert seen == [4] * 3 + [1] * 3 + [4] * 2
    assert plan.decision.chosen == 4 and "not faster" in plan.decision.reason


def test_a_quiet_input_side_leaves_a_compute_bound_run_alone(four_threads):
    """A tenth of a core for the input side (below the floor): no trial, all threads."""
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    plan.start()
    seen = feed_with_input(plan, clock, [(0.5, 0.2, 0.02)] + [(0.0, 0.2, 0.02)] * 5)
    plan.finish()
    assert seen == [4] * 6 and plan.decision.switches == [] and "compute-bound" in plan.decision.reason


def test_the_pipeline_reports_the_input_sides_cpu_time_to_the_plan(monkeypatch):
    import time

    from st_multimodal.pipeline import Pipeline, Prepared

    reported = []
    original = ForwardThreadPlan.after_batch

    def recording(self, wait_s, forward_s, n_items, input_cpu_s=0.0):
        reported.append(input_cpu_s)
        return original(self, wait_s, forward_s, n_items, input_cpu_s)

    monkeypatch.setattr(ForwardThreadPlan, "after_batch", recording)

    def resolve(index, raw):
        until = time.thread_time() + 0.004  # 4 ms of CPU per input, on a decode worker
        while time.thread_time() < until:
            pass
        return Prepared(key="x", value=raw)

    pipeline = Pipeline(batch_size=4, length_of=lambda value: 1)
    rows = list(pipeline.run(enumerate(range(16)), resolve=resolve, prepare=lambda batch: batch.values,
                             forward=lambda batch, features: features))
    assert [row.value for row in rows] == list(range(16))
    assert len(reported) == 4 and sum(reported) >= 16 * 0.004 * 0.9


def test_input_cpu_is_wanted_only_until_the_first_probe_is_judged(four_threads):
    clock = FakeClock()
    plan = ForwardThreadPlan(probe_batches=2, clock=clock)
    assert not plan.wants_input_cpu  # not started
    plan.start()
    wanted = []
    for wait, forward in [(0.5, 0.1)] + [(0.06, 0.04)] * 2 + [(0.05, 0.03)] * 3:
        wanted.append(plan.wants_input_cpu)
        clock.now += wait + forward
        plan.after_batch(wait, forward, 32)
    plan.finish()
    assert wanted == [True, True, True, False, False, False]


def test_a_remembered_choice_needs_no_input_cpu(four_threads):
    memory = thread_plans.ThreadMemory()
    memory.remember("image", 1, 4)
    plan = ForwardThreadPlan(clock=FakeClock(), memory=memory)
    plan.start()
    plan.before_batch("image")
    assert not plan.wants_input_cpu
    plan.finish()
