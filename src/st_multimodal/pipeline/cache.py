"""Caches: a persistent embedding cache (SQLite) and an in-memory LRU of decoded inputs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["EmbeddingCache", "DecodedCache", "cache_key"]


def cache_key(*parts: Any) -> str:
    """A stable key from the parts that decide an embedding (content hash, model, settings, prompt)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


class EmbeddingCache:
    """Embeddings on disk, keyed by content hash + model fingerprint + preprocessing settings + prompt.

    One SQLite file (WAL mode); safe across threads and processes. Values are float32 vectors.
    """

    def __init__(self, path: str | os.PathLike):
        path = os.fspath(path)
        if os.path.isdir(path) or not os.path.splitext(path)[1]:
            os.makedirs(path, exist_ok=True)
            path = os.path.join(path, "embeddings.sqlite")
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, dtype TEXT, vector BLOB)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            row = self._db.execute("SELECT dtype, vector FROM embeddings WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return np.frombuffer(row[1], dtype=np.dtype(row[0])).copy()

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        rows = [(key, np.asarray(v).dtype.str, np.ascontiguousarray(v).tobytes()) for key, v in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM embeddings")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.path!r})"


class DecodedCache:
    """A thread-safe LRU of decoded inputs, for repeats within one process."""

    def __init__(self, max_items: int = 256):
        self.max_items = max_items
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]

    def put(self, key: str, value: Any) -> None:
        if self.max_items <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
