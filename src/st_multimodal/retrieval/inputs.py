"""Resolve once, use many times: inputs are resolved (fetched, hashed, decoded) here, then handed to the
embedding model and later to a reranker as already-resolved values, so nothing is fetched or decoded twice.

A :class:`~st_multimodal.types.Resolved` that is already decoded passes through the resolver registry
unchanged (the built-in ``"resolved"`` resolver), so the model sees exactly the value, modality and
content hash it would have produced itself, and its embedding cache keys match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModalityNotSupportedError, MultimodalInputError, describe_source
from ..resolvers import ExpandedInputs, as_text, expand_documents, resolve
from ..types import Failure, Resolved, ResolveContext

__all__ = ["Embedded", "embed_items", "modality_name", "as_model_input", "resolve_items"]

def modality_name(modality: str | tuple[str, ...]) -> str:
    """``"image"``, or ``"image+text"`` for a multimodal input (a sorted tuple)."""
    return "+".join(modality) if isinstance(modality, tuple) else modality


def decode_settings(ctx: ResolveContext) -> tuple:
    """What decides a decoded value besides its bytes: limits, audio rate and window, decoder hints (extras)."""
    return (ctx.limits, ctx.audio_sampling_rate, ctx.audio_max_seconds, dict(ctx.extras))


def as_model_input(resolved: Resolved, decoded_under: ResolveContext, target: ResolveContext) -> Any:
    """The value to hand to a model resolving under ``target``: the Resolved itself when the decode settings
    match, else its decoded value (re-normalised / resampled by the target model, never re-fetched)."""
    if decode_settings(decoded_under) == decode_settings(target):
        return resolved
    return as_text(resolved.value) if resolved.modality == "text" else resolved.value


def resolve_items(items: Sequence[Any], ctx: ResolveContext, model: Any, workers: int | None = None) -> list[Resolved | Failure]:
    """Resolve and decode every item (in parallel, order kept); a failure or an unsupported modality is a Failure."""

    def one(index: int, item: Any) -> Resolved | Failure:
        try:
            resolved = resolve(item, ctx, index, materialize=True)
            if not model.supports(resolved.modality):
                raise ModalityNotSupportedError(
                    f"this model does not accept {modality_name(resolved.modality)} inputs; "
                    f"it accepts: {', '.join(map(str, model.modalities))}",
                    index=index, source=resolved.provenance.source,
                )
            return resolved
        except MultimodalInputError as exc:
            exc.at(index, describe_source(item))
            return Failure(index=index, source=exc.source or "", error=exc)

    workers = workers or min(ctx.fetch_policy.max_concurrency, 8)
    if len(items) <= 1 or workers <= 1:
        return [one(i, item) for i, item in enumerate(items)]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="st-mm-index") as pool:
        return list(pool.map(one, range(len(items)), items))


@dataclass
class Embedded:
    """Vectors of the items that succeeded, with their positions in the call, modalities and resolved values.

    A PDF input gives one row per page: its rows share the PDF's position and ``pages`` tells them apart
    (None for inputs that are not pages). ``vectors``: one row per item, or (multi-vector models) a list of
    ``[num_tokens, dim]`` arrays.
    """

    vectors: np.ndarray | list[np.ndarray]
    positions: list[int]
    resolved: list[Resolved]
    failures: list[Failure] = field(default_factory=list)
    pages: list[int | None] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    """What each row was made from: the caller's input, or a ``DocumentPage`` of it."""

    @property
    def modalities(self) -> list[str]:
        return [modality_name(r.modality) for r in self.resolved]


def embed_items(model: Any, items: Sequence[Any], *, on_error: str = "raise", batch_size: int = 32,
                ctx: ResolveContext | None = None, encode: Callable[..., Any] | None = None) -> Embedded:
    """Resolve each item once (a PDF: each of its pages), then embed all of them in one ``model.encode`` call
    (rows in input order, a PDF's pages in page order). ``encode``: the model's method to call instead
    (e.g. ``model.encode_query``)."""
    ctx = ctx or model.resolve_context()
    encode = encode or model.encode
    expanded = expand_documents(items if isinstance(items, ExpandedInputs) else list(items), ctx, on_error=on_error)
    outcomes = resolve_items(expanded, ctx, model)

    def moved(failure: Failure, position: int) -> Failure:
        return failure.renumbered(expanded.origins[position], expanded.pages[position])

    failures = expanded.failures + [moved(o, o.index) for o in outcomes if isinstance(o, Failure)]
    if failures and on_error == "raise":
        raise min(failures, key=lambda f: f.index).error
    good = [(j, o) for j, o in enumerate(outcomes) if isinstance(o, Resolved)]
    if not good:
        return Embedded(np.zeros((0, 0), dtype=np.float32), [], [], sorted(failures, key=_order))
    vectors, late = encode([o for _, o in good], batch_size=batch_size, convert_to_numpy=True,
                           on_error=on_error, return_failures=True, show_progress_bar=False)
    late_positions = {f.index for f in late}
    failures += [moved(f, good[f.index][0]) for f in late]
    kept = [pair for j, pair in enumerate(good) if j not in late_positions]
    return Embedded(_as_rows(vectors, len(kept)), [expanded.origins[j] for j, _ in kept],
                    [r for _, r in kept], sorted(failures, key=_order), [expanded.pages[j] for j, _ in kept],
                    [expanded[j] for j, _ in kept])


def _order(failure: Failure) -> tuple[int, int]:
    return failure.index, failure.page or 0


def _as_rows(vectors: Any, n: int) -> np.ndarray | list[np.ndarray]:
    """float32 rows: a ``[n, dim]`` matrix, or a list of per-item matrices for ragged (multi-vector) output."""
    if isinstance(vectors, list):
        return [np.asarray(v, dtype=np.float32) for v in vectors]
    return np.asarray(vectors, dtype=np.float32).reshape(n, -1)
