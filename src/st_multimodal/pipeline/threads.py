"""How many torch threads the forward pass gets, chosen per call from the timings of its first batches.

On a few cores the forward pass and the decode/preprocess workers compete for the same CPUs, and torch's
intra-op pool spin-waits between operations. When the pipeline is preprocessing-bound (the forward pass
waits for its next batch), giving the forward pass fewer threads leaves the cores to the workers and
raises throughput; when it is compute-bound, the full count is faster. So a call measures both:

1. the first batch runs as it comes (warm-up, not measured);
2. the next ``probe_batches`` run with torch's current thread count, timing seconds per input
   between consecutive batches and how long the forward pass waited for each one;
3. if the forward pass waited so long that it would still wait with fewer threads (even if it slowed
   down in proportion to them), fewer threads are kept at once; otherwise, if the input side kept so many
   cores busy that the forward pass's threads do not fit beside it (the two then compete), the forward
   pass keeps the cores the input side leaves, for the whole call; if it waited noticeably but less, or
   the input side kept a smaller share of the cores busy, the next ``probe_batches`` run with fewer
   threads;
4. the faster of the two is kept for the rest of the call; a reduced count is given back at once if
   the forward pass stops waiting for input (it became the bottleneck).

A model remembers what its calls chose (a :class:`ThreadMemory`): the next call with the same kind of
batches starts at the remembered count, without probing again, for the next ``ThreadMemory.reuse`` calls;
a remembered reduction is still given back at once when the forward pass becomes the bottleneck, which
also forgets it.

The count is restored when the call ends. Nothing changes when the user has chosen a thread count
(``torch.set_num_threads`` to a value other than the one torch had when this library was imported, or
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set), when torch has one thread, or while another call in the
process is already adapting (the count is process-wide).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["ForwardThreadPlan", "ThreadDecision", "ThreadMemory", "one_torch_thread", "threads_that_fit", "user_chose_threads"]

_THREADS_AT_IMPORT = torch.get_num_threads()
_ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_ADAPTING = threading.Lock()
"""Held by the one call that may change the process-wide count."""


def user_chose_threads() -> bool:
    """True when the thread count is the user's choice (changed since import, or set by environment)."""
    if any(os.environ.get(name) for name in _ENV_VARIABLES):
        return True
    return torch.get_num_threads() != _THREADS_AT_IMPORT


def one_torch_thread() -> None:
    """Thread-pool initializer: torch operations on this worker thread run on one thread.

    The decode and preprocess workers already run in parallel, about one per core; letting each of their
    torch operations (resize, normalise) fan out over an intra-op thread team as well would put several
    spinning teams on the same cores. With torch's OpenMP backend the count is per thread: the caller's
    forward pass keeps its own.
    """
    if _counts_are_per_thread():
        torch.set_num_threads(1)


@functools.lru_cache(maxsize=1)
def _counts_are_per_thread() -> bool:
    """True with torch's OpenMP backend, where ``set_num_threads`` on a thread changes that thread's count only
    (with the native thread pool it is process-wide, and a worker must not lower the forward pass's count)."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def reduced_threads(full: int) -> int:
    """The count tried when preprocessing-bound: a quarter of the cores (one on up to 7)."""
    return max(1, full // 4)


def threads_that_fit(full: int, input_load: float) -> int:
    """Forward threads that fit beside an input side keeping ``input_load`` cores busy, on ``full`` cores
    (torch's thread count: one per core); at least one, at most ``full``."""
    return max(1, min(full, int(full - input_load + 0.5)))


@dataclass
class ThreadDecision:
    """What a call measured and chose (kept on the plan for tests and benchmarks)."""

    full: int = 0
    reduced: int = 0
    chosen: int = 0
    reason: str = "not adapting"
    per_item_full: float | None = None
    per_item_reduced: float | None = None
    wait_share: float | None = None
    input_load: float | None = None
    """Cores the input side kept busy on average during the first probe."""
    switches: list[int] = field(default_factory=list)
    """Thread counts set during the call, in order."""


class ThreadMemory:
    """What earlier calls chose, per kind of batch (a model keeps one; plain data, so models still pickle)."""

    def __init__(self, reuse: int = 16):
        self.reuse = reuse
        """Calls that start from a remembered choice before one measures again (conditions change)."""
        self.choices: dict[object, tuple[int, int, int, bool]] = {}
        """batch kind -> (thread count chosen, full count it was chosen against, calls left, whether a
        reduction is given back when the forward pass stops waiting for input)."""

    def recall(self, kind: object, full: int) -> tuple[int, bool] | None:
        """The remembered count for ``kind`` and its give-back rule (and counts one use), or None: measure."""
        entry = self.choices.get(kind)
        if entry is None or entry[1] != full or entry[2] <= 0:
            self.choices.pop(kind, None)
            return None
        self.choices[kind] = (entry[0], entry[1], entry[2] - 1, entry[3])
        return entry[0], entry[3]

    def remember(self, kind: object, chosen: int, full: int, give_back: bool = True) -> None:
        self.choices[kind] = (chosen, full, self.reuse, give_back)

    def forget(self, kind: object) -> None:
        self.choices.pop(kind, None)


class ForwardThreadPlan:
    """Measures the first batches of one pipeline run and sets the forward pass's torch threads.

    ``start()`` before the first batch, ``after_batch(wait_s, forward_s, n_items)`` after each,
    ``finish()`` when the run ends (always; it restores the count).
    """

    def __init__(self, probe_batches: int = 2, wait_threshold: float = 0.15, min_gain: float = 0.03,
                 give_back_after: int = 3, clock: Callable[[], float] = time.perf_counter,
                 memory: ThreadMemory | None = None):
        self.probe_batches = max(1, probe_batches)
        self.memory = memory
        """Where choices are remembered across calls (None: every call measures)."""
        self.contention_floor = 0.25
        """Cores the input side must keep busy (at least, and a tenth of the threads) for a compute-bound run
        to try fewer forward threads."""
        self._give_back = True
        self._kind: object = None
        self.wait_threshold = wait_threshold
        """Share of a batch's time spent waiting for input above which the run counts as preprocessing-bound."""
        self.min_gain = min_gain
        """Fewer threads are kept only when they are at least this much faster per input."""
        self.give_back_after = give_back_after
        self.clock = clock
        self.decision = ThreadDecision()
        self._active = False
        self._owns_lock = False
        self._batches = 0
        self._last_done: float | None = None
        self._full_samples: list[tuple[float, float, float, int, float]] = []
        self._reduced_samples: list[tuple[float, float, float, int, float]] = []
        self._phase = "warm-up"
        self._busy_streak = 0
        self._set_to: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        full = torch.get_num_threads()
        self.decision = ThreadDecision(full=full, reduced=reduced_threads(full), chosen=full)
        if user_chose_threads():
            self.decision.reason = "the user set the thread count"
            return
        if self.decision.reduced >= full:
            self.decision.reason = "one thread: nothing to adapt"
            return
        if not _ADAPTING.acquire(blocking=False):
            self.decision.reason = "another call is adapting"
            return
        self._owns_lock = True
        self._active = True
        self.decision.reason = "measuring"
        self._last_done = self.clock()

    def finish(self) -> None:
        if self._set_to is not None and torch.get_num_threads() == self._set_to:
            torch.set_num_threads(self.decision.full)
        self._set_to = None
        self._active = False
        if self._owns_lock:
            self._owns_lock = False
            _ADAPTING.release()

    # -- measurements ---------------------------------------------------------------------------------------

    @property
    def wants_input_cpu(self) -> bool:
        """Whether the next batches' input-side CPU time is still needed (only until the first probe is judged)."""
        return self._active and self._phase in ("warm-up", "full")

    def before_batch(self, kind: object) -> None:
        """Called before each forward pass with the batch's kind (its modality key); the first one may
        start from a remembered choice."""
        if not self._active or self._phase != "warm-up" or self._batches:
            return
        self._kind = kind
        recalled = self.memory.recall(kind, self.decision.full) if self.memory is not None else None
        if recalled is None:
            return
        remembered, self._give_back = recalled
        if remembered == self.decision.full:
            self._decide(remembered, "all threads (remembered from an earlier call)")
            return
        self._set(remembered)
        self.decision.chosen = remembered
        self.decision.reason = ("preprocessing-bound" if self._give_back else "forward pass and workers compete") + \
            " (remembered from an earlier call)"
        self._phase = "kept reduced"

    def after_batch(self, wait_s: float, forward_s: float, n_items: int, input_cpu_s: float = 0.0) -> None:
        """Record one batch: ``wait_s`` waiting for it, ``forward_s`` in the model, ``n_items`` inputs, and the CPU
        seconds the input side (fetch, decode, preprocess workers) used since the previous batch."""
        if not self._active:
            return
        now = self.clock()
        cycle = now - (self._last_done or now)
        self._last_done = now
        self._batches += 1
        if n_items <= 0:
            return
        sample = (cycle, wait_s, forward_s, n_items, input_cpu_s)
        if self._phase == "warm-up":
            self._phase = "full"
        elif self._phase == "full":
            self._full_samples.append(sample)
            if len(self._full_samples) >= self.probe_batches:
                self._after_full_probe()
        elif self._phase == "switching":
            self._phase = "reduced"  # this batch was partly prepared before the switch: not counted
        elif self._phase == "reduced":
            self._reduced_samples.append(sample)
            if len(self._reduced_samples) >= self.probe_batches:
                self._after_reduced_probe()
        elif self._phase == "kept reduced":
            self._maybe_give_back(wait_s, forward_s)

    def _after_full_probe(self) -> None:
        waits = sum(s[1] for s in self._full_samples)
        busy = sum(s[1] + s[2] for s in self._full_samples)
        share = waits / busy if busy > 0 else 0.0
        self.decision.wait_share = share
        self.decision.per_item_full = _per_item(self._full_samples)
        cycles = sum(s[0] for s in self._full_samples)
        load = sum(s[4] for s in self._full_samples) / cycles if cycles > 0 else 0.0
        self.decision.input_load = load
        busy_input = load >= max(self.contention_floor, 0.1 * self.decision.full)
        if share < self.wait_threshold and not busy_input:
            self._decide(self.decision.full, f"compute-bound: waited {share:.0%} of the time for input")
            self._remember(self.decision.full)
            return
        slowdown = self.decision.full / self.decision.reduced
        if share >= self.wait_threshold and (1 - share) * slowdown <= 1 - self.wait_threshold:
            # Even if the forward pass slowed down in proportion to its threads, it would still wait for
            # input: fewer threads cannot make it the bottleneck, and they leave the cores to the workers.
            self._keep_reduced(self.decision.reduced, f"preprocessing-bound: the forward pass waited {share:.0%} of "
                               f"the time for input, so {self.decision.reduced} thread(s) suffice", give_back=True)
            return
        fit = threads_that_fit(self.decision.full, load)
        if busy_input and fit < self.decision.full:
            # The forward pass's threads and the input side's workers do not fit on the cores together, and
            # compete: the forward pass gets the cores the input side leaves, for the whole call (it is not
            # given back when the forward pass stops waiting: the input side still needs its cores). The
            # timings of a call's first batches are too noisy to weigh this: they drain batches prepared
            # during the warm-up.
            self.decision.reduced = fit
            self._keep_reduced(fit, f"forward pass and workers compete: the input side keeps {load:.1f} of "
                               f"{self.decision.full} cores busy, so {fit} thread(s) for the forward pass",
                               give_back=False)
            return
        # The forward pass waited noticeably, or the input side keeps a smaller share of the cores busy: try
        # fewer threads, and keep the faster (a reduction chosen while the forward pass was the bottleneck is
        # not given back).
        self._give_back = share >= self.wait_threshold
        self._phase = "switching"
        self._set(self.decision.reduced)

    def _keep_reduced(self, threads: int, reason: str, give_back: bool) -> None:
        self._give_back = give_back
        self._set(threads)
        self.decision.chosen = threads
        self.decision.reason = reason
        self._phase = "kept reduced"
        self._remember(threads, give_back)

    def _after_reduced_probe(self) -> None:
        full, reduced = self.decision.per_item_full, _per_item(self._reduced_samples)
        self.decision.per_item_reduced = reduced
        if full is not None and reduced is not None and reduced <= full * (1 - self.min_gain):
            self.decision.chosen = self.decision.reduced
            what = "preprocessing-bound" if self._give_back else "forward pass and workers compete"
            self.decision.reason = (f"{what}: {self.decision.reduced} thread(s) {full / reduced:.2f}x "
                                    f"faster per input than {self.decision.full}")
            self._phase = "kept reduced"
            self._remember(self.decision.reduced, self._give_back)
            return
        self._set(self.decision.full)
        self._decide(self.decision.full, "fewer threads were not faster")
        self._remember(self.decision.full)

    def _maybe_give_back(self, wait_s: float, forward_s: float) -> None:
        if not self._give_back:
            return  # chosen because fewer threads were faster with the forward pass as the bottleneck
        busy = wait_s + forward_s
        self._busy_streak = self._busy_streak + 1 if busy > 0 and wait_s / busy < self.wait_threshold / 3 else 0
        if self._busy_streak >= self.give_back_after:
            self._set(self.decision.full)
            self._decide(self.decision.full, "became compute-bound: threads given back")
            if self.memory is not None:
                self.memory.forget(self._kind)

    def _remember(self, threads: int, give_back: bool = True) -> None:
        if self.memory is not None:
            self.memory.remember(self._kind, threads, self.decision.full, give_back)

    def _decide(self, threads: int, reason: str) -> None:
        self.decision.chosen = threads
        self.decision.reason = reason
        self._phase = "decided"

    def _set(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self._set_to = threads
        self.decision.switches.append(threads)


def _per_item(samples: list[tuple[float, float, float, int, float]]) -> float | None:
    items = sum(s[3] for s in samples)
    return sum(s[0] for s in samples) / items if items else None
