"""Fine-tuning on multimodal columns: a data collator that resolves every value before upstream preprocesses it.

Upstream's :class:`~sentence_transformers.sentence_transformer.data_collator.SentenceTransformerDataCollator`
hands column values straight to ``model.preprocess``, which takes text, PIL images, arrays and dicts
but not paths, bytes, URLs or data URIs. :class:`ResolvingDataCollator` first sends every value
through :func:`st_multimodal.resolve` under one :class:`~st_multimodal.ResolveContext` (fetch policy,
decode limits), so a dataset column may hold any input form :meth:`SentenceTransformer.encode`
accepts. A value that cannot be used raises a typed :class:`~st_multimodal.MultimodalInputError`
naming its row (``.index``), its column (``.column``) and its source.

>>> collator = ResolvingDataCollator.from_model(model, args)            # doctest: +SKIP
>>> trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
...                                      loss=loss, data_collator=collator)  # doctest: +SKIP

In-batch negatives: with ``batch_sampler=BatchSamplers.NO_DUPLICATES`` upstream's sampler keeps any
value, in any column, from appearing twice in a batch. A repeated caption is such a value, so no
batch holds the same caption twice, whatever form the image column takes (bytes, paths or PIL).
``NO_DUPLICATES_HASHED`` (needs ``xxhash``) gives the same batches faster on large datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

from .errors import ModalityNotSupportedError, MultimodalInputError, describe_source
from .policy import DecodeLimits, FetchPolicy
from .resolvers import resolve
from .types import ResolveContext
from .upstream import upstream_value

__all__ = ["ResolvingDataCollator"]

_RESERVED_COLUMNS = ("dataset_name",)


def _model_context(model: Any, fetch_policy: FetchPolicy | None, limits: DecodeLimits | None) -> ResolveContext:
    """The model's own context (``resolve_context``) if it has one, else a default one with these overrides."""
    context_of = getattr(model, "resolve_context", None)
    if callable(context_of):
        return context_of(fetch_policy=fetch_policy, limits=limits)
    context = ResolveContext()
    if fetch_policy is not None:
        context = context.replace(fetch_policy=fetch_policy)
    if limits is not None:
        context = context.replace(limits=limits)
    return context


@dataclass
class ResolvingDataCollator(SentenceTransformerDataCollator):
    """Upstream's collator, with every input column resolved through :func:`st_multimodal.resolve` first.

    ``context`` defaults to the context of the model ``preprocess_fn`` is bound to (its
    ``resolve_context()``), or a default :class:`ResolveContext` for a plain function. Label columns
    (``valid_label_columns``) and ``dataset_name`` pass through untouched.

    Args:
        context: Fetch policy and decode limits every value is resolved under.
        text_columns: Columns whose strings are always text, never paths or URLs (strict resolving).
        index_column: Optional column holding each row's id (e.g. its dataset index); errors name it
            instead of the row's position in the batch, and it is dropped before preprocessing.
        check_modalities: Refuse values the model cannot take (``ModalityNotSupportedError``) here,
            rather than deep inside preprocessing.
    """

    context: ResolveContext | None = None
    text_columns: Sequence[str] = ()
    index_column: str | None = None
    check_modalities: bool = True
    _strict_context: ResolveContext = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.context is None:
            self.context = _model_context(getattr(self.preprocess_fn, "__self__", None), None, None)
        self.text_columns = tuple(self.text_columns)
        self._strict_context = self.context.replace(strict=True)

    @classmethod
    def from_model(
        cls,
        model: Any,
        args: Any = None,
        *,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        **kwargs: Any,
    ) -> "ResolvingDataCollator":
        """A collator for ``model``: its ``preprocess``, its resolve context (policies overridable here),
        and, when ``args`` (training arguments) are given, their ``router_mapping``, ``prompts`` and
        ``max_length``, as the trainer would pass them to upstream's collator."""
        if args is not None:
            kwargs.setdefault("router_mapping", getattr(args, "router_mapping", None) or {})
            kwargs.setdefault("prompts", getattr(args, "prompts", None) or {})
            kwargs.setdefault("max_length", getattr(args, "max_length", None))
        context = _model_context(model, fetch_policy, limits)
        return cls(preprocess_fn=model.preprocess, context=context, **kwargs)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return super().__call__(self.resolve_features(features))

    def resolve_features(self, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with every input value replaced by its resolved value (upstream shapes: PIL, dicts;
        text as ``{"text": s}`` so upstream never reads it as a location)."""
        passthrough = {*_RESERVED_COLUMNS, *(self.valid_label_columns or ())}
        rows = []
        for position, row in enumerate(features):
            row = dict(row)
            has_id = self.index_column in row
            row_id = row.pop(self.index_column) if has_id else position
            batch_row = None if has_id else position
            rows.append(
                {
                    column: value if column in passthrough else self._resolve(value, column, row_id, batch_row)
                    for column, value in row.items()
                }
            )
        return rows

    def _resolve(self, value: Any, column: str, row_id: Any, batch_row: int | None) -> Any:
        context = self._strict_context if column in self.text_columns else self.context
        try:
            resolved = resolve(value, context, row_id)
            if self.check_modalities:
                self._check_modality(resolved.modality, value, row_id)
        except MultimodalInputError as exc:
            _with_column(exc, column, batch_row)
            raise
        return upstream_value(resolved.modality, resolved.value)

    def _check_modality(self, modality: Any, value: Any, row_id: Any) -> None:
        model = getattr(self.preprocess_fn, "__self__", None)
        supports = getattr(model, "supports", None)
        if callable(supports) and not supports(modality):
            name = "+".join(modality) if isinstance(modality, tuple) else modality
            accepted = ", ".join(map(str, getattr(model, "modalities", ())))
            raise ModalityNotSupportedError(
                f"this model does not accept {name} inputs; it accepts: {accepted}",
                index=row_id,
                source=describe_source(value),
            )


def _with_column(exc: MultimodalInputError, column: str, batch_row: int | None) -> None:
    """Name the dataset column (``.column``) and the batch row in the message; the error stays picklable."""
    if getattr(exc, "column", None) is None:
        where = f"column {column!r}" + (f" (row {batch_row} of the batch)" if batch_row is not None else "")
        exc.column = column
        exc._fields["column"] = column
        exc.reason = f"{where}: {exc.reason}"
        exc.args = (exc._render(),)
