"""Grouping resolved inputs into homogeneous batches while remembering each one's position."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "Bucketer"]


@dataclass
class Batch:
    """Inputs of one kind (same modality key) and their positions in the call."""

    key: Hashable
    indices: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)
    """Per-item data that travels with the batch (e.g. cache keys)."""

    def __len__(self) -> int:
        return len(self.indices)

    def split(self) -> tuple["Batch", "Batch"]:
        half = len(self) // 2
        return (
            Batch(self.key, self.indices[:half], self.values[:half], self.extras[:half]),
            Batch(self.key, self.indices[half:], self.values[half:], self.extras[half:]),
        )

    def single(self, position: int) -> "Batch":
        return Batch(self.key, [self.indices[position]], [self.values[position]], [self.extras[position]])


class Bucketer:
    """Collects items per key and emits full batches; a window of several batches is length-sorted first.

    Sorting within a bounded window (``sort_window`` batches) reduces padding like upstream's global
    sort, while keeping memory bounded for streams.
    """

    def __init__(self, batch_size: int, length_of: Callable[[Any], int], sort_window: int = 4):
        self.batch_size = batch_size
        self.length_of = length_of
        self.window = batch_size * max(1, sort_window)
        self._buckets: dict[Hashable, Batch] = {}

    def add(self, key: Hashable, index: int, value: Any, extra: Any = None) -> Iterator[Batch]:
        bucket = self._buckets.setdefault(key, Batch(key))
        bucket.indices.append(index)
        bucket.values.append(value)
        bucket.extras.append(extra)
        if len(bucket) >= self.window:
            del self._buckets[key]
            yield from self._emit(bucket)

    def flush(self) -> Iterator[Batch]:
        buckets, self._buckets = self._buckets, {}
        for bucket in buckets.values():
            yield from self._emit(bucket)

    def _emit(self, bucket: Batch) -> Iterator[Batch]:
        order = sorted(range(len(bucket)), key=lambda i: -self.length_of(bucket.values[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield Batch(
                bucket.key,
                [bucket.indices[i] for i in chosen],
                [bucket.values[i] for i in chosen],
                [bucket.extras[i] for i in chosen],
            )
