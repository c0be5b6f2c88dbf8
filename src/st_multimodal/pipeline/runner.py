"""The pipelined inference loop: fetch ahead, decode ahead, preprocess ahead, run the model, keep every position.

The stages overlap::

    fetch workers (remote inputs: fetch, hash, cache lookup)  ── many (I/O-bound), ordered, bounded window
      -> decode workers (bytes -> media; local inputs    ── one per core
         are read, hashed and looked up here too)
      -> bucketer (group by modality key)            ── producer thread; text length-sorted in a window
      -> preprocess workers (processor -> tensors)   ── at most ``prefetch_batches`` ahead
      -> forward (caller's thread: device copy, model)  ── rows tagged with their input index

Memory stays bounded by the resolve window and the number of prepared batches in flight,
whatever the length of the input stream.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, MultimodalInputError
from ..types import Failure
from .batching import Batch, Bucketer
from .blas import one_openblas_thread
from .threads import ForwardThreadPlan, ThreadMemory, one_torch_thread

__all__ = ["Pipeline", "Prepared", "Row", "is_out_of_memory"]

_DONE = object()


@dataclass
class Prepared:
    """One resolved input, ready to batch; or, with ``row`` set, an answer found without the model (cache)."""

    key: Hashable = None
    value: Any = None
    extra: Any = None
    row: Any = None
    source: str = ""
    then: Callable[[], Prepared] | None = None
    """CPU-bound rest of the work (decoding), run on the decode workers instead of the fetch workers."""
    length: int | None = None
    """The input's length for ordering within a batch, when ``value`` no longer shows it (an image resized
    ahead is ordered by the size it was decoded at, as upstream orders it)."""


@dataclass
class Row:
    index: int
    value: Any


def is_text_key(key: Hashable) -> bool:
    """Text inputs, or pairs of texts: the batches whose padding depends on which items share them."""
    return key == "text" or (isinstance(key, tuple) and bool(key) and all(part == "text" for part in key))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors (which a smaller batch may avoid)."""
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom_type) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


class Pipeline:
    """Runs ``resolve -> prepare -> forward`` with overlap, bounded queues and per-item failures."""

    def __init__(
        self,
        *,
        batch_size: int,
        length_of: Callable[[Any], int],
        remote_workers: int = 8,
        is_remote: Callable[[Any], bool] | None = None,
        decode_workers: int | None = None,
        preprocess_workers: int = 1,
        prefetch_batches: int = 2,
        sort_window: int = 4,
        sort_keys: Callable[[Hashable], bool] | None = None,
        adapt_threads: bool = True,
        thread_memory: ThreadMemory | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.batch_size = batch_size
        self.length_of = length_of
        self.remote_workers = max(1, remote_workers)
        self.is_remote = is_remote
        self.decode_workers = max(1, decode_workers or os.cpu_count() or 2)
        self.preprocess_workers = max(1, preprocess_workers)
        self.prefetch_batches = max(1, prefetch_batches)
        self.sort_window = sort_window
        self.sort_keys = sort_keys or is_text_key
        self.resolve_window = max(2 * batch_size, 4 * self.decode_workers, 2 * self.remote_workers)
        self.adapt_threads = adapt_threads
        """Choose the forward pass's torch threads from the first batches' timings (see ``pipeline.threads``)."""
        self.thread_memory = thread_memory
        """The thread choices of earlier runs (kept by the model), so a run need not measure again."""
        self.thread_plan: ForwardThreadPlan | None = None
        self._input_cpu = CpuMeter()
        """The plan of the latest run (its ``decision`` says what was measured and chosen)."""

    def run(
        self,
        entries: Iterable[tuple[int, Any]],
        *,
        resolve: Callable[[int, Any], Prepared],
        prepare: Callable[[Batch], Any],
        forward: Callable[[Batch, Any], Sequence[Any]],
    ) -> Iterator[Row | Failure]:
        """Yield a Row per input that produced output and a Failure per input that did not."""
        with one_openblas_thread():
            yield from self._run(entries, resolve=resolve, prepare=prepare, forward=forward)

    def _run(self, entries, *, resolve, prepare, forward) -> Iterator[Row | Failure]:
        out: queue.Queue = queue.Queue()
        slots = threading.BoundedSemaphore(self.prefetch_batches)
        stop = threading.Event()
        producer = threading.Thread(
            target=self._produce, args=(entries, resolve, prepare, out, slots, stop), daemon=True, name="st-mm-producer"
        )
        plan = self.thread_plan = ForwardThreadPlan(memory=self.thread_memory) if self.adapt_threads else None
        self._input_cpu.take()
        self._input_cpu.on = plan is not None
        producer.start()
        if plan is not None:
            plan.start()
        try:
            while True:
                waited = time.perf_counter()
                item = out.get()
                waited = time.perf_counter() - waited
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, (Row, Failure)):
                    yield item
                    continue
                batch, features = item
                try:
                    if plan is not None:
                        plan.before_batch(batch.key)
                        self._input_cpu.on = plan.wants_input_cpu
                    started = time.perf_counter()
                    rows = list(self._forward(batch, features, prepare, forward))
                    if plan is not None:
                        plan.after_batch(waited, time.perf_counter() - started, len(rows), self._input_cpu.take())
                        self._input_cpu.on = plan.wants_input_cpu
                finally:
                    slots.release()
                yield from rows
        finally:
            stop.set()
            if plan is not None:
                plan.finish()
            producer.join(timeout=30)

    def _forward(self, batch: Batch, features: Any, prepare, forward) -> Iterator[Row]:
        try:
            values = forward(batch, features)
        except Exception as exc:
            if not is_out_of_memory(exc) or len(batch) == 1:
                raise
            _release_cached_memory()
            for half in batch.split():
                yield from self._forward(half, prepare(half), prepare, forward)
            return
        for index, value in zip(batch.indices, values):
            yield Row(index, value)

    # -- producer thread ------------------------------------------------------------------------------

    def _produce(self, entries, resolve, prepare, out: queue.Queue, slots, stop: threading.Event) -> None:
        meter = self._input_cpu
        decoders = _MeteredExecutor(meter, self.decode_workers, thread_name_prefix="st-mm-decode", initializer=one_torch_thread)
        resolvers = _Fetchers(decoders, self.remote_workers if self.is_remote else 0, self.is_remote, meter)
        preparers = _MeteredExecutor(meter, self.preprocess_workers, thread_name_prefix="st-mm-prepare",
                                     initializer=one_torch_thread)
        try:
            bucketer = Bucketer(self.batch_size, self.length_of, self.sort_window, sort_keys=self.sort_keys)
            for index, outcome in self._resolved_in_order(entries, resolve, resolvers, stop):
                if isinstance(outcome, Failure) or outcome.row is not None:
                    out.put(outcome if isinstance(outcome, Failure) else Row(index, outcome.row))
                    continue
                for batch in bucketer.add(outcome.key, index, outcome.value, outcome.extra, outcome.length):
                    self._submit_prepare(batch, prepare, preparers, out, slots, stop)
            for batch in bucketer.flush():
                self._submit_prepare(batch, prepare, preparers, out, slots, stop)
        except _Stopped:
            pass
        except BaseException as exc:  # surfaced in the caller's thread
            out.put(exc)
        finally:
            resolvers.shutdown(wait=True, cancel_futures=True)
            decoders.shutdown(wait=True, cancel_futures=True)
            preparers.shutdown(wait=True, cancel_futures=stop.is_set())
            out.put(_DONE)

    def _resolved_in_order(self, entries, resolve, resolvers: _Fetchers, stop: threading.Event):
        """Resolve ahead in a bounded window; yield ``(index, Prepared | Failure)`` in input order.

        Remote fetch workers (many: they mostly wait on I/O) hand CPU-bound continuations (``Prepared.then``,
        decoding) to the decode workers (one per core), so fetches overlap without oversubscribing the cores;
        local inputs are resolved and decoded on a decode worker in one go.
        """
        pending: deque[tuple[int, Future]] = deque()
        iterator = iter(entries)
        exhausted = False
        while not stop.is_set():
            while not exhausted and len(pending) < self.resolve_window:
                try:
                    index, raw = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((index, resolvers.submit(_resolve_one, resolve, index, raw)))
            if not pending:
                return
            index, future = pending.popleft()
            outcome = future.result()
            yield index, outcome.result() if isinstance(outcome, Future) else outcome

    def _submit_prepare(self, batch: Batch, prepare, preparers: ThreadPoolExecutor, out, slots, stop) -> None:
        while not slots.acquire(timeout=0.1):
            if stop.is_set():
                raise _Stopped()
        future = preparers.submit(_prepare_isolating_failures, batch, prepare)
        future.add_done_callback(lambda f: _deliver(f, out, slots))


class _Fetchers:
    """Where each input is resolved: remote inputs on fetch workers (many: they mostly wait on the network),
    which hand decoding to the decode workers; local inputs straight on a decode worker, fetch and decode
    in one go (reading a local file is cheap, and every hand-off between threads costs CPU)."""

    def __init__(self, decoders: ThreadPoolExecutor, remote: int, is_remote: Callable[[Any], bool] | None, meter: CpuMeter):
        self.decoders = decoders
        self.remote = _MeteredExecutor(meter, remote, thread_name_prefix="st-mm-fetch") if remote else None
        self.is_remote = is_remote

    def submit(self, fn, resolve, index: int, raw: Any) -> Future:
        if self.remote is not None and self.is_remote(raw):
            return self.remote.submit(fn, resolve, index, raw, self.decoders)
        return self.decoders.submit(fn, resolve, index, raw, None)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        if self.remote is not None:
            self.remote.shutdown(wait=wait, cancel_futures=cancel_futures)


class CpuMeter:
    """CPU seconds used by the input side's worker threads, taken batch by batch by the forward loop.

    Only while ``on`` (the thread plan is measuring): a thread's CPU clock is a system call, made with the GIL
    held, so it is read around the workers' tasks only while the plan needs the figure.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = 0.0
        self.on = True

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seconds += seconds

    def take(self) -> float:
        """The seconds added since the last ``take``."""
        with self._lock:
            seconds, self._seconds = self._seconds, 0.0
        return seconds


class _MeteredExecutor(ThreadPoolExecutor):
    """A thread pool that adds the CPU time of each task (``time.thread_time``) to a :class:`CpuMeter`."""

    def __init__(self, meter: CpuMeter, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.meter = meter

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return super().submit(_metered, self.meter, fn, *args, **kwargs)


def _metered(meter: CpuMeter, fn, *args, **kwargs):
    if not meter.on:
        return fn(*args, **kwargs)
    started = time.thread_time()
    try:
        return fn(*args, **kwargs)
    finally:
        meter.add(time.thread_time() - started)


class _Stopped(Exception):
    """The consumer went away; the producer winds down quietly."""


def _deliver(future: Future, out: queue.Queue, slots) -> None:
    try:
        failures, batch, features = future.result()
    except BaseException as exc:
        slots.release()
        out.put(exc)
        return
    for failure in failures:
        out.put(failure)
    if batch is None:
        slots.release()
    else:
        out.put((batch, features))


def _resolve_one(resolve, index: int, raw: Any, decoders: ThreadPoolExecutor | None = None) -> Prepared | Failure | Future:
    """Run ``resolve`` (and its continuation, on ``decoders`` if given); failures become located Failures."""
    try:
        prepared = resolve(index, raw)
    except MultimodalInputError as exc:
        exc.at(index)
        return Failure(index=index, source=exc.source or "", error=exc)
    if isinstance(prepared, Prepared) and prepared.then is not None:
        if decoders is None:
            return _resolve_one(lambda _i, _r: prepared.then(), index, raw)
        return decoders.submit(_resolve_one, lambda _i, _r: prepared.then(), index, raw)
    return prepared


def _prepare_isolating_failures(batch: Batch, prepare) -> tuple[list[Failure], Batch | None, Any]:
    """Preprocess a batch; if that fails, find the items that fail alone and preprocess the rest."""
    try:
        return [], batch, prepare(batch)
    except Exception as batch_error:  # noqa: BLE001 - narrowed item by item below
        if len(batch) == 1:
            return [_preprocess_failure(batch, 0, batch_error)], None, None
    failures, keep = [], []
    for position in range(len(batch)):
        try:
            prepare(batch.single(position))
            keep.append(position)
        except Exception as exc:  # noqa: BLE001
            failures.append(_preprocess_failure(batch, position, exc))
    if not keep:
        return failures, None, None
    good = Batch(batch.key, [batch.indices[p] for p in keep], [batch.values[p] for p in keep], [batch.extras[p] for p in keep])
    return failures, good, prepare(good)


def _preprocess_failure(batch: Batch, position: int, exc: Exception) -> Failure:
    index = batch.indices[position]
    source = getattr(batch.extras[position], "source", "") if batch.extras[position] is not None else ""
    if isinstance(exc, MultimodalInputError):
        error = exc.at(index, source or None)
    else:
        error = DecodeError(f"the model's processor rejected this input: {type(exc).__name__}: {exc}", index=index, source=source or None)
        error.__cause__ = exc
    return Failure(index=index, source=error.source or "", error=error)


def _release_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
