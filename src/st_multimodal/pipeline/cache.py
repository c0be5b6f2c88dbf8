"""Caches: a persistent embedding cache (SQLite) and an in-memory LRU of decoded inputs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DecodedCache", "EmbeddingCache", "cache_key", "decoded_nbytes"]


_CHUNK = 500
"""Keys per SQL query (SQLite allows 999 parameters in older builds)."""


def _signature_text(sig: Any) -> str:
    return f"{sig.device}:{sig.inode}:{sig.size}:{sig.mtime_ns}:{sig.ctime_ns}"


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

    It also remembers the content hash of each local file it has seen, with the file's signature
    (device, inode, size, mtime, ctime): a re-run finds the key of an unchanged file without reading it.
    A file changed in place gets a new ctime (which no user call can set back), so it is read again;
    files changed less than ``settle_seconds`` before they were read are not remembered, which keeps
    that true on file systems with coarse timestamps (the rule ``git`` uses for its index).
    """

    settle_seconds: float = 2.0

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
        self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, signature TEXT, content_hash TEXT, modality TEXT)")
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

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (one query per 500 keys); counts hits and misses."""
        with self._lock:
            found = {key: np.frombuffer(blob, dtype=np.dtype(dtype)).copy()
                     for key, dtype, blob in self._rows_where_in("SELECT key, dtype, vector FROM embeddings WHERE key", keys)}
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def file_contents(self, signatures: list[Any]) -> dict[str, tuple[str, str]]:
        """``{path: (content hash, modality)}`` remembered for files whose signature is unchanged."""
        wanted = {sig.path: _signature_text(sig) for sig in signatures}
        with self._lock:
            rows = self._rows_where_in("SELECT path, signature, content_hash, modality FROM files WHERE path", list(wanted))
            return {path: (content_hash, modality) for path, signature, content_hash, modality in rows
                    if wanted.get(path) == signature}

    def _rows_where_in(self, query: str, values: list[str]) -> Iterator[tuple]:
        """Rows of ``query IN (values)``, one statement per ``_CHUNK`` values (the caller holds the lock)."""
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            yield from self._db.execute(f"{query} IN ({','.join('?' * len(chunk))})", chunk)

    def remember_files(self, items: list[tuple[Any, str, str]]) -> None:
        """Remember ``(signature, content hash, modality)`` of files read in this run, so an unchanged file
        is not read again to find its key. Files changed in the last 2 s are skipped (see ``FileSignature.settled``)."""
        now = time.time_ns()
        rows = [(sig.path, _signature_text(sig), content_hash, modality)
                for sig, content_hash, modality in items if sig.settled(now, self.settle_seconds)]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")

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
            self._db.execute("DELETE FROM files")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.path!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (and deep-copied) as its path: the copy opens its own connection to the same file."""
        return {"path": self.path, "settle_seconds": self.settle_seconds}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])
        self.settle_seconds = state["settle_seconds"]


def decoded_nbytes(value: Any) -> int:
    """Rough in-memory size of a decoded value (PIL pixels, arrays, strings, and dicts, lists or Resolved of those)."""
    if hasattr(value, "provenance") and hasattr(value, "modality"):  # a Resolved
        value = value.value
    if hasattr(value, "getbands") and hasattr(value, "size"):  # PIL image
        return value.size[0] * value.size[1] * len(value.getbands())
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(decoded_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(decoded_nbytes(v) for v in value)
    return 64


class DecodedCache:
    """A thread-safe LRU of decoded inputs for repeats within one process, bounded by count and by bytes.

    Sizes are estimated with ``decoded_nbytes``; a value larger than the whole byte budget is not kept,
    and ``None`` keys are never cached.
    """

    def __init__(self, max_items: int | None = 256, max_bytes: int | None = 64 * 1024 * 1024):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str | None) -> Any | None:
        with self._lock:
            if key is None or key not in self._items:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key][0]

    def put(self, key: str | None, value: Any) -> None:
        size = decoded_nbytes(value)
        if key is None or self.max_items == 0 or (self.max_bytes is not None and size > self.max_bytes):
            return
        with self._lock:
            if key in self._items:
                self.nbytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self.nbytes += size
            while (self.max_bytes is not None and self.nbytes > self.max_bytes) or (
                self.max_items is not None and len(self._items) > self.max_items
            ):
                self.nbytes -= self._items.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._items)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (and deep-copied) as its limits: the copy starts empty, with its own lock."""
        return {"max_items": self.max_items, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_items"], state["max_bytes"])
