"""Encoding corpora larger than memory: chunks on disk, ids alongside, failures kept, resumable after a crash.

Layout of the output folder::

    manifest.json            committed chunks, in order (rewritten atomically after each chunk)
    chunk-00000.npy          float32 embeddings of the chunk's successful inputs
    chunk-00000.ids.json     their ids, same order
    chunk-00000.failures.jsonl   one line per failed input: id, index, source, error type and message

A PDF input gives one row per page, with the id ``"<id>#page=N"``.

A chunk becomes visible only when the manifest names it, and files are written to a temporary
name, flushed and renamed first, so a run killed at any moment (even ``kill -9``) resumes at the
first uncommitted chunk without losing or duplicating a row.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .resolvers import ExpandedInputs, expand_documents
from .resolvers.expansion import page_id

__all__ = ["encode_to_disk", "load_embeddings", "EncodeReport"]

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"


@dataclass
class EncodeReport:
    """What a run did: counts, throughput and where the failures are."""

    path: str
    encoded: int = 0
    failed: int = 0
    skipped_as_done: int = 0
    seconds: float = 0.0
    chunks: list[str] = field(default_factory=list)

    @property
    def inputs_per_second(self) -> float:
        return (self.encoded + self.failed) / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"encoded {self.encoded}, failed {self.failed}, resumed past {self.skipped_as_done} "
            f"in {self.seconds:.1f}s ({self.inputs_per_second:.1f} inputs/s) -> {self.path}"
        )


def _write_atomic(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return {"version": 1, "chunk_size": None, "chunks": []}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _chunks(items: Iterable[tuple[Any, Any]], size: int) -> Iterator[list[tuple[Any, Any]]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def encode_to_disk(
    model: Any,
    inputs: Iterable[Any],
    path: str | os.PathLike,
    *,
    ids: Iterable[Any] | None = None,
    chunk_size: int = 1024,
    batch_size: int = 32,
    show_progress_bar: bool = True,
    **encode_kwargs: Any,
) -> EncodeReport:
    """Encode a (possibly endless) iterable into ``path`` chunk by chunk; failures are recorded, never fatal.

    Re-running with the same inputs resumes after the last committed chunk. ``ids`` default to
    the input positions. Extra keyword arguments go to ``model.encode`` (e.g. ``prompt_name``).
    """
    folder = os.fspath(path)
    os.makedirs(folder, exist_ok=True)
    manifest = _read_manifest(folder)
    if manifest["chunk_size"] not in (None, chunk_size):
        raise ValueError(f"{folder} was written with chunk_size={manifest['chunk_size']}; resume with the same value")
    manifest["chunk_size"] = chunk_size
    done = len(manifest["chunks"])
    report = EncodeReport(path=folder, chunks=list(manifest["chunks"]), skipped_as_done=sum(c["count"] for c in manifest["chunks"]))
    pairs = zip(ids if ids is not None else itertools.count(), inputs)
    start = time.perf_counter()
    with tqdm(desc="Encoding to disk", unit="input", disable=not show_progress_bar) as bar:
        for number, chunk in enumerate(_chunks(pairs, chunk_size)):
            if number < done:
                continue
            _encode_chunk(model, chunk, folder, number, manifest, report, batch_size, encode_kwargs)
            bar.update(len(chunk))
            bar.set_postfix(failed=report.failed)
    report.seconds = time.perf_counter() - start
    logger.info("encode_to_disk: %s", report)
    return report


def _encode_chunk(model, chunk, folder: str, number: int, manifest: dict, report: EncodeReport, batch_size: int, encode_kwargs: dict) -> None:
    chunk_ids = [item_id for item_id, _ in chunk]
    values = [value for _, value in chunk]
    if hasattr(model, "resolve_context"):  # PDFs: one row per page, with the id "<id>#page=N"
        values = expand_documents(values, model, on_error="skip")
    embeddings, failures = model.encode(
        values, batch_size=batch_size, on_error="skip", return_failures=True,
        convert_to_numpy=True, show_progress_bar=False, **encode_kwargs,
    )
    rows = values.rows(failures) if isinstance(values, ExpandedInputs) else [(i, None) for i in range(len(chunk))]
    failed = {(f.index, f.page) for f in failures}
    kept_ids = [_row_id(chunk_ids[i], page) for i, page in rows if (i, page) not in failed]
    offset = number * manifest["chunk_size"]
    failures = [f.renumbered(f.index + offset) for f in failures]  # positions in the whole input
    name = f"chunk-{number:05d}"
    array = np.asarray(embeddings, dtype=np.float32).reshape(len(kept_ids), -1) if kept_ids else np.empty((0, 0), np.float32)
    _write_atomic(os.path.join(folder, f"{name}.npy"), lambda h: np.save(h, array))
    _write_atomic(os.path.join(folder, f"{name}.ids.json"), lambda h: h.write(json.dumps(kept_ids).encode()))
    lines = [
        json.dumps({"id": _row_id(chunk_ids[f.index - offset], f.page), "index": f.index, "source": f.source,
                    "error": type(f.error).__name__, "message": str(f.error)}, default=str)
        for f in failures
    ]
    _write_atomic(os.path.join(folder, f"{name}.failures.jsonl"), lambda h: h.write("".join(l + "\n" for l in lines).encode()))
    manifest["chunks"].append({"name": name, "count": len(chunk), "encoded": len(kept_ids), "failed": len(failures)})
    _write_atomic(os.path.join(folder, MANIFEST), lambda h: h.write(json.dumps(manifest, indent=1).encode()))
    report.encoded += len(kept_ids)
    report.failed += len(failures)
    report.chunks.append(name)


def _row_id(item_id: Any, page: int | None) -> Any:
    return item_id if page is None else page_id(item_id, page)


def load_embeddings(path: str | os.PathLike, *, mmap: bool = True) -> tuple[list[Any], np.ndarray, list[dict]]:
    """Read back ``(ids, embeddings, failures)`` from an ``encode_to_disk`` folder (committed chunks only)."""
    folder = os.fspath(path)
    ids: list[Any] = []
    arrays: list[np.ndarray] = []
    failures: list[dict] = []
    for chunk in _read_manifest(folder)["chunks"]:
        base = os.path.join(folder, chunk["name"])
        if chunk["encoded"]:
            arrays.append(np.load(f"{base}.npy", mmap_mode="r" if mmap else None))
        with open(f"{base}.ids.json", encoding="utf-8") as handle:
            ids.extend(json.load(handle))
        with open(f"{base}.failures.jsonl", encoding="utf-8") as handle:
            failures.extend(json.loads(line) for line in handle if line.strip())
    embeddings = np.concatenate(arrays) if arrays else np.empty((0, 0), np.float32)
    return ids, embeddings, failures
