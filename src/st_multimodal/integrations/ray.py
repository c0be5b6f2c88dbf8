"""Encoding a column of a Ray Dataset on a pool of actors, one model per actor (GPUs when the cluster has them).

Each actor loads the model itself, from a path or hub id plus constructor keyword arguments
(``fetch_policy``, ``limits``, ``dtype``, ...): models are never pickled and shipped. Values are
resolved inside the actor by the same resolvers, under the same policies, with the same ``on_error``
semantics as ``SentenceTransformer.encode``.

**Results are columns.** The embedding column is a fixed-size float32 tensor column (Ray needs one
shape per column); with ``on_error="skip"`` (the default) a failed row's embedding is all NaN and
its ``error`` column holds a one-line ``"DecodeError: ... (source: '...')"`` (None for good rows).
Rows keep their other columns, so ids stay aligned. With ``"raise"`` the first bad row fails the job.

>>> ds = ray.data.read_parquet("s3://bucket/catalogue/")                            # doctest: +SKIP
>>> ds = encode_ray_dataset(ds, "image_url", "Qwen/Qwen3-VL-Embedding-2B",
...                         model_kwargs={"fetch_policy": FetchPolicy(allowed_domains=("cdn.example.com",))},
...                         num_actors=4)                                            # doctest: +SKIP
>>> ds.filter(lambda row: row["error"] is None).write_parquet("s3://bucket/embeddings/")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDependencyError
from ._batch import embedding_dimension, encode_values

__all__ = ["RayEncoder", "encode_ray_dataset"]


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("encode_ray_dataset needs Ray Data", package="ray", extra="ray") from exc
    return ray


class RayEncoder:
    """A callable class for ``Dataset.map_batches``: loads the model once per actor, encodes one column per batch.

    ``batch`` is a dict of NumPy arrays (``batch_format="numpy"``): strings, bytes, dicts, or an
    ``(n, H, W, C)`` image tensor column; each row is one input.
    """

    def __init__(self, model: str, column: str, *, model_kwargs: dict | None = None, output_column: str = "embedding",
                 error_column: str = "error", on_error: str = "skip", encode_batch_size: int = 32,
                 modality: str | None = None, encode_kwargs: dict | None = None):
        from ..loading import load

        self.model = load(model, **(model_kwargs or {}))
        if not hasattr(self.model, "encode"):
            raise TypeError(f"{model!r} is a reranker; encode_ray_dataset needs an embedding model")
        self.column, self.output_column, self.error_column = column, output_column, error_column
        self.on_error, self.encode_batch_size, self.modality = on_error, encode_batch_size, modality
        self.encode_kwargs = encode_kwargs or {}
        self.dimension = embedding_dimension(self.model)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = list(batch[self.column])
        rows, errors = encode_values(self.model, values, on_error=self.on_error, batch_size=self.encode_batch_size,
                                     modality=self.modality, **self.encode_kwargs)
        dimension = next((len(r) for r in rows if r is not None), self.dimension)
        if dimension is None:
            raise RuntimeError("every row of this batch failed and the model does not report its embedding size")
        embeddings = np.full((len(rows), dimension), np.nan, dtype=np.float32)
        for position, row in enumerate(rows):
            if row is not None:
                embeddings[position] = row
        out = dict(batch)
        out[self.output_column] = embeddings
        if self.on_error == "skip":
            out[self.error_column] = np.array(errors, dtype=object)
        return out


def encode_ray_dataset(
    dataset: Any,
    column: str,
    model: str,
    *,
    model_kwargs: dict | None = None,
    output_column: str = "embedding",
    error_column: str = "error",
    on_error: str = "skip",
    batch_size: int = 256,
    encode_batch_size: int = 32,
    num_actors: int | tuple[int, int] = 1,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    modality: str | None = None,
    **encode_kwargs: Any,
) -> Any:
    """Return ``dataset`` with ``output_column`` (and ``error_column`` under ``"skip"``) embedding ``column``.

    ``model``: a path or hub id every actor can load (a shared file system or the hub). ``model_kwargs``
    go to the model's constructor in each actor (``device``, ``dtype``, ``fetch_policy``, ``limits``).
    ``num_actors``: pool size, or ``(min, max)`` to autoscale. ``num_gpus`` per actor defaults to 1 when
    the cluster has GPUs, else 0. ``batch_size`` rows per actor call, ``encode_batch_size`` per forward pass.
    Lazy, like every Ray Data transform: nothing runs until the dataset is consumed.
    """
    ray = _ray()
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if num_gpus is None:
        num_gpus = 1 if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0 else 0
    size = {"min_size": num_actors[0], "max_size": num_actors[1]} if isinstance(num_actors, tuple) else {"size": num_actors}
    remote_args: dict[str, Any] = {"num_gpus": num_gpus}
    if num_cpus is not None:
        remote_args["num_cpus"] = num_cpus
    return dataset.map_batches(
        RayEncoder,
        fn_constructor_kwargs={
            "model": model, "column": column, "model_kwargs": model_kwargs, "output_column": output_column,
            "error_column": error_column, "on_error": on_error, "encode_batch_size": encode_batch_size,
            "modality": modality, "encode_kwargs": encode_kwargs,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(**size),
        **remote_args,
    )
