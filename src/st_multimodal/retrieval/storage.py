"""Saving and loading a ``MultimodalIndex`` as a folder of plain files::

    manifest.json      format, version, model fingerprint, similarity, dimension, count, backend, layout
    vectors.npy        the raw embeddings (float32, one row per document), layout "dense"
    tokens.npy         multi-vector indexes (layout "tokens"): every document's token vectors, flat (float16)
    offsets.npy        ... and where each document's tokens start (int64, count + 1 entries)
    items.json         ids, modalities, metadata, content hashes, and the inputs that are strings (else null)
    centering.npz      per-modality means, if centring is on
    calibration.json   the Calibrator, if one was fitted

The model is not saved: ``load`` takes it and compares its fingerprint with the saved one. A
mismatch raises :class:`ModelMismatchError` by default, because vectors of another model (or of
the same model with other weights or preprocessing) are not comparable with its query vectors;
``on_model_mismatch="warn"`` loads anyway. The backend is rebuilt from the vectors on first search.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any


from .calibration import Calibrator
from .centering import ModalityCentering

__all__ = ["ModelMismatchError", "save_index", "load_index", "FORMAT", "VERSION"]

FORMAT, VERSION = "st_multimodal.index", 1


class ModelMismatchError(ValueError):
    """The model given to ``MultimodalIndex.load`` is not the one the index was built with."""


def _saved_input(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def save_index(index: Any, path: str | os.PathLike) -> None:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    items = {
        "ids": index._ids,
        "modalities": index._modalities,
        "metadata": index._metadata,
        "content_hashes": index._hashes,
        "inputs": [_saved_input(v) for v in index._inputs],
    }
    try:
        items_text = json.dumps(items)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"index metadata must be JSON-serialisable to save: {exc}") from exc
    index._save_vectors(folder)
    (folder / "items.json").write_text(items_text, encoding="utf-8")
    for name in ("centering.npz", "calibration.json"):
        (folder / name).unlink(missing_ok=True)
    if index.centering is not None:
        index.centering.save(folder / "centering.npz")
    if index.calibrator is not None:
        index.calibrator.save(folder / "calibration.json")
    manifest = {
        "format": FORMAT, "version": VERSION, "model_fingerprint": index.model.fingerprint, "metric": index.metric,
        "dimension": index.dimension, "count": len(index), "layout": index.layout,
        "backend": index.backend_name, "keep_inputs": index.keep_inputs,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")  # last: marks a complete save


def load_index(cls: type, path: str | os.PathLike, model: Any, *, on_model_mismatch: str = "raise", **kwargs: Any) -> Any:
    folder = Path(path)
    if on_model_mismatch not in ("raise", "warn"):
        raise ValueError(f"on_model_mismatch must be 'raise' or 'warn', got {on_model_mismatch!r}")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{folder} is not a saved MultimodalIndex of format version {VERSION}")
    if manifest["model_fingerprint"] != model.fingerprint:
        message = (f"the index in {folder} was built with another model (fingerprint {manifest['model_fingerprint'][:12]}…, "
                   f"this model: {model.fingerprint[:12]}…); its vectors are not comparable with this model's queries")
        if on_model_mismatch == "raise":
            raise ModelMismatchError(message + "; pass on_model_mismatch='warn' to load it anyway")
        warnings.warn(message, stacklevel=3)
    kwargs.setdefault("backend", manifest["backend"])
    kwargs.setdefault("keep_inputs", manifest.get("keep_inputs", True))
    index = cls(model, **kwargs)
    if index.metric != manifest["metric"]:
        raise ModelMismatchError(f"the index was saved with similarity {manifest['metric']!r}, the model uses {index.metric!r}")
    if index.layout != manifest.get("layout", "dense"):
        raise ModelMismatchError(f"the index was saved with {manifest.get('layout', 'dense')!r} vectors, this model gives {index.layout!r} ones")
    items = json.loads((folder / "items.json").read_text(encoding="utf-8"))
    count = index._load_vectors(folder)
    index._ids = list(items["ids"])
    index._rows = {doc_id: row for row, doc_id in enumerate(index._ids)}
    index._modalities, index._metadata = list(items["modalities"]), list(items["metadata"])
    index._hashes, index._inputs = list(items["content_hashes"]), list(items["inputs"])
    index._next_auto_id = max([i for i in index._ids if isinstance(i, int)], default=-1) + 1
    if len(index._ids) != count:
        raise ValueError(f"{folder}: {len(index._ids)} ids but vectors for {count} documents")
    if (folder / "centering.npz").exists():
        index._centering = ModalityCentering.load(folder / "centering.npz")
    if (folder / "calibration.json").exists():
        index._calibrator = Calibrator.load(folder / "calibration.json")
    return index
