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
    """Collects items per key and emits full batches.

    For keys where length varies the padding (``sort_keys``, by default text), a window of
    ``sort_window`` batches is collected and length-sorted first, which reduces padding like
    upstream's global sort while keeping memory bounded for streams. Other keys (images, audio,
    video: decoded and large) are emitted as soon as a batch is full.
    """

    def __init__(self, batch_size: int, length_of: Callable[[Any], int], sort_window: int = 4,
                 sort_keys: Callable[[Hashable], bool] = lambda key: True):
        self.batch_size = batch_size
        self.length_of = length_of
        self.sort_window = max(1, sort_window)
        self.sort_keys = sort_keys
        self._buckets: dict[Hashable, Batch] = {}
        self._lengths: dict[Hashable, list[int | None]] = {}

    def add(self, key: Hashable, index: int, value: Any, extra: Any = None, length: int | None = None) -> Iterator[Batch]:
        """Add an input; ``length`` (if given) orders it instead of ``length_of(value)``."""
        bucket = self._buckets.setdefault(key, Batch(key))
        bucket.indices.append(index)
        bucket.values.append(value)
        bucket.extras.append(extra)
        self._lengths.setdefault(key, []).append(length)
        window = self.batch_size * (self.sort_window if self.sort_keys(key) else 1)
        if len(bucket) >= window:
            del self._buckets[key]
            yield from self._emit(bucket, self._lengths.pop(key))

    def flush(self) -> Iterator[Batch]:
        buckets, self._buckets = self._buckets, {}
        lengths, self._lengths = self._lengths, {}
        for key, bucket in buckets.items():
            yield from self._emit(bucket, lengths.get(key, []))

    def _emit(self, bucket: Batch, lengths: list[int | None]) -> Iterator[Batch]:
        def length(i: int) -> int:
            given = lengths[i] if i < len(lengths) else None
            return given if given is not None else self.length_of(bucket.values[i])

        order = sorted(range(len(bucket)), key=lambda i: -length(i))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield Batch(
                bucket.key,
                [bucket.indices[i] for i in chosen],
                [bucket.values[i] for i in chosen],
                [bucket.extras[i] for i in chosen],
            )
