"""Encoding a column of a Hugging Face ``datasets.Dataset`` (or ``IterableDataset``) into an embedding column.

The column may hold anything ``SentenceTransformer.encode`` accepts: decoded ``Image`` / ``Audio`` /
``Video`` features, their undecoded ``{"bytes", "path"}`` form, paths, URLs, texts, bytes, arrays.

**Media features are read undecoded.** A column typed ``Image()``, ``Audio()`` or ``Video()`` is read
with ``decode=False`` and its bytes go through this package's decoders, under the model's
``DecodeLimits`` (decompression-bomb checks, EXIF rotation, audio resampling to the model's rate).
So a dataset of images embeds exactly as the same files would, audio needs no torchcodec, and the
input column itself is left as it was.

**Failures are a column.** With ``on_error="skip"`` (the default) every row gets a result: the
embedding (a list of float32) and ``error`` None, or embedding None and ``error`` a one-line
``"DecodeError: ... (source: '...')"``. Rows keep their order and their other columns, so ids stay
aligned; ``ds.filter(lambda row: row["error"] is None)`` keeps the good rows. With ``"raise"`` the
first bad row raises (a typed ``MultimodalInputError``) and no error column is added.

>>> ds = encode_dataset(model, ds, "image", batch_size=256)              # doctest: +SKIP
>>> ds = ds.filter(lambda row: row["error"] is None)                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from ..errors import MissingDependencyError
from ._batch import encode_values

__all__ = ["encode_dataset", "undecoded"]

_MEDIA_FEATURES = ("Image", "Audio", "Video")


def _datasets():
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError("encode_dataset needs Hugging Face datasets", package="datasets", extra="datasets") from exc
    return datasets


def undecoded(dataset: Any, column: str) -> Any:
    """``dataset`` with ``column`` cast to ``decode=False`` when it is an Image/Audio/Video feature that decodes."""
    feature = (dataset.features or {}).get(column)
    if type(feature).__name__ in _MEDIA_FEATURES and getattr(feature, "decode", False):
        return dataset.cast_column(column, dataclasses.replace(feature, decode=False))
    return dataset


def _fingerprint(dataset: Any, model: Any, *parts: Any) -> str:
    text = "|".join(map(str, (getattr(dataset, "_fingerprint", None), getattr(model, "fingerprint", id(model)), *parts)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def encode_dataset(
    model: Any,
    dataset: Any,
    column: str,
    *,
    output_column: str = "embedding",
    error_column: str = "error",
    batch_size: int = 256,
    encode_batch_size: int = 32,
    on_error: str = "skip",
    modality: str | None = None,
    **encode_kwargs: Any,
) -> Any:
    """Add ``output_column`` (and, with ``on_error="skip"``, ``error_column``) embedding ``column``.

    ``batch_size`` rows go to each ``map`` call (``batched=True``), ``encode_batch_size`` inputs to each
    forward pass. ``modality`` ("image", "audio", "video", "text") states what the values are when
    strings could be misread. Extra keyword arguments go to ``model.encode`` (``prompt_name``, ...).
    Returns a new ``Dataset`` (or a lazily mapped ``IterableDataset``); the input is not modified.
    """
    datasets = _datasets()
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    names = dataset.column_names or []
    if column not in names:
        raise KeyError(f"no column {column!r} in the dataset (columns: {', '.join(names)})")
    new = [output_column] + ([error_column] if on_error == "skip" else [])
    if any(name in names for name in new):
        raise ValueError(f"the dataset already has a column named {', '.join(n for n in new if n in names)}; choose another output_column / error_column")
    features = {output_column: datasets.List(datasets.Value("float32"))}
    if on_error == "skip":
        features[error_column] = datasets.Value("string")

    def encode_batch(batch: dict[str, list]) -> dict[str, list]:
        rows, errors = encode_values(model, batch[column], on_error=on_error, batch_size=encode_batch_size,
                                     modality=modality, **encode_kwargs)
        out = {output_column: [None if row is None else row.tolist() for row in rows]}
        if on_error == "skip":
            out[error_column] = errors
        return out

    if isinstance(dataset, datasets.IterableDataset):
        source = undecoded(dataset, column)
        if source.features is None:  # features unknown: nothing to restore
            return source.map(encode_batch, batched=True, batch_size=batch_size)
        mapped = source.map(encode_batch, batched=True, batch_size=batch_size,
                            features=datasets.Features({**source.features, **features}))
        return mapped.cast_column(column, dataset.features[column])
    source = undecoded(dataset.select_columns([column]).with_format(None), column)
    encoded = source.map(
        encode_batch, batched=True, batch_size=batch_size, remove_columns=[column], features=datasets.Features(features),
        new_fingerprint=_fingerprint(dataset, model, column, output_column, error_column, on_error, modality,
                                     sorted(encode_kwargs.items())),
        desc=f"Encoding {column!r}",
    )
    return datasets.concatenate_datasets([dataset, encoded], axis=1)
