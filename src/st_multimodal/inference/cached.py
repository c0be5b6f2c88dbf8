"""Rows of one embedding call through the embedding cache: answered from it where possible, else resolved,
decoded, batched and run by the pipelined loop, and stored back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..pipeline import Prepared, cache_key
from ..pipeline.cache_prepass import answer_from_cache
from .inputs import ItemInfo, legacy_task
from .options import CallOptions

__all__ = ["embed_rows"]


def embed_rows(
    model: Any,
    inputs: list,
    *,
    options: CallOptions,
    batch_size: int,
    device: torch.device,
    prompt: str | None,
    kwargs: dict,
    show_progress_bar: bool,
    rows_of: Callable[[dict, Any], list[Any]],
    cacheable: bool,
    to_cache: Callable[[Any], Any],
    from_cache: Callable[[Any], Any],
) -> list[Any]:
    """Rows of the inputs that succeeded, in input order, through ``model``'s embedding cache (when ``cacheable``
    and the call allows it).

    ``to_cache`` turns a row into the numpy array stored; ``from_cache`` turns a stored array back into a row.
    """
    ctx = options.ctx
    cache = model.embedding_cache if options.use_cache and cacheable else None
    settings = (prompt, sorted(kwargs.items(), key=str), ctx.limits, ctx.audio_sampling_rate, ctx.audio_max_seconds,
                sorted(ctx.extras.items()))
    call_key = cache_key(model.fingerprint, settings) if cache is not None else None  # once per call
    pre_resize = model._pre_resizers(device, kwargs)
    routed = model._routed

    rows: dict[int, Any] = {}
    entries: Any = enumerate(inputs)
    prepass = None
    if cache is not None:  # unchanged local files answered without reading them
        prepass = answer_from_cache(inputs, ctx, cache, lambda content_hash, modality: cache_key(call_key, content_hash, modality))
        rows.update((index, from_cache(vector)) for index, vector in prepass.hits.items())
        entries = prepass.rest
    read: dict[int, tuple[str, str]] = {}  # content hash and modality of the local files read in this call

    def resolve_item(index: int, raw: Any) -> Prepared:
        task = legacy_task(raw, routed)
        resolved = model._resolve_for_model(raw if task is None else raw[task], ctx, index)
        content_hash = resolved.provenance.content_hash
        if prepass is not None and task is None and index in prepass.signatures and content_hash:
            read[index] = (content_hash, resolved.modality)
        key = None
        if cache is not None and content_hash:
            key = cache_key(call_key, content_hash, resolved.modality, *(() if task is None else (task,)))
            hit = cache.get(key)
            if hit is not None:
                return Prepared(row=(from_cache(hit), None))

        def decode() -> Prepared:
            value, length = model._materialize(resolved, ctx, index, pre_resize)
            if task is not None:  # upstream's Router reads the task from the key
                return Prepared(key=("task", task, resolved.modality), value={task: value},
                                extra=ItemInfo(resolved.provenance.source, key))
            return Prepared(key=resolved.modality, value=value, extra=ItemInfo(resolved.provenance.source, key),
                            length=length)

        return Prepared(then=decode)

    def keyed_rows(out: dict, batch) -> list[Any]:
        return [(row, info.cache_key) for row, info in zip(rows_of(out, batch), batch.extras)]

    pending_cache: list[tuple[str, Any]] = []
    for row in model._run(entries, options=options, batch_size=batch_size, device=device, prompt=prompt, kwargs=kwargs,
                          resolve_item=resolve_item, rows_of=keyed_rows, show_progress_bar=show_progress_bar,
                          total=len(inputs), done=len(rows)):
        value, key = row.value
        rows[row.index] = value
        if cache is not None and key is not None:
            pending_cache.append((key, to_cache(value)))
    if pending_cache:
        cache.put_many(pending_cache)
    if read:
        cache.remember_files([(prepass.signatures[index], *content) for index, content in read.items()])
    return [rows[i] for i in sorted(rows)]
