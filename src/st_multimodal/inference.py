"""What both model classes share: per-call options, resolving through the registry, the pipelined loop."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from .errors import ModalityNotSupportedError, MultimodalInputError
from .loading import model_init_kwargs
from .model_fixes import apply_model_fixes
from .pipeline import DecodedCache, EmbeddingCache, Pipeline, Prepared, Row, cache_key, model_fingerprint
from .pipeline.cache_prepass import answer_from_cache
from .pipeline.device import features_to_device, floating_dtype, pin_features
from .pipeline.fingerprint import state_token
from .pipeline.preresize import ImagePreResizer
from .policy import DEFAULT_DECODE_LIMITS, DEFAULT_FETCH_POLICY, DecodeLimits, FetchPolicy
from .resolvers import ExpandedInputs, expand_documents, materialize_located, resolve
from .resolvers.expansion import has_documents
from .selfcheck.mixin import SelfCheckMixin, pop_self_check_kwarg
from .sources.base import scheme_of
from .types import Failure, ResolveContext, Resolved
from .upstream import upstream_value

__all__ = ["CallOptions", "EncoderMixin", "ItemInfo", "MultimodalMixin", "OnError", "at_input_positions", "per_item_outputs",
           "split_init_kwargs"]

OnError = Literal["raise", "skip"]
_CALL: contextvars.ContextVar[CallOptions | None] = contextvars.ContextVar("st_multimodal_call", default=None)

_MULTIMODAL_KWARGS = ("fetch_policy", "limits", "strict", "cache_dir", "decoded_cache_size", "resolve_workers",
                      "decode_workers", "preprocess_workers", "prefetch_batches", "gpu_preprocessing")


def split_init_kwargs(kwargs: dict) -> tuple[dict, dict]:
    """(our constructor arguments with their defaults, upstream's arguments with ``dtype``/``image_size``... translated)."""
    ours = {k: kwargs.pop(k) for k in _MULTIMODAL_KWARGS if k in kwargs}
    defaults = dict(fetch_policy=None, limits=None, strict=False, cache_dir=None, decoded_cache_size=256,
                    resolve_workers=None, decode_workers=None, preprocess_workers=2, prefetch_batches=2,
                    gpu_preprocessing=None)
    return {**defaults, **ours}, model_init_kwargs(kwargs)


@dataclass
class CallOptions:
    """The options of one ``encode`` / ``predict`` call, seen by the inference loop."""

    ctx: ResolveContext
    on_error: OnError = "raise"
    use_cache: bool = True
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")


class MultimodalMixin:
    """Resolving, batching by modality and the pipelined loop, for SentenceTransformer and CrossEncoder."""

    _pair_inputs = False
    """True where each input is a (query, document) pair: a PDF on the document side expands into one pair per page."""

    def _setup_multimodal(
        self,
        *,
        fetch_policy: FetchPolicy | None,
        limits: DecodeLimits | None,
        strict: bool,
        cache_dir: str | os.PathLike | None,
        decoded_cache_size: int,
        resolve_workers: int | None,
        decode_workers: int | None,
        preprocess_workers: int,
        prefetch_batches: int,
        gpu_preprocessing: bool | None = None,
    ) -> None:
        self.fetch_policy = fetch_policy or DEFAULT_FETCH_POLICY
        self.decode_limits = limits or DEFAULT_DECODE_LIMITS
        self.strict = strict
        self.embedding_cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self.decoded_cache = DecodedCache(decoded_cache_size)
        self.resolve_workers = resolve_workers
        self.decode_workers = decode_workers
        self.preprocess_workers = preprocess_workers
        self.prefetch_batches = prefetch_batches
        self.gpu_preprocessing = gpu_preprocessing
        self._fingerprint: str | None = None
        self._fingerprint_token: Any = None

    # -- per-call options -------------------------------------------------------------------------------

    def resolve_context(
        self, fetch_policy: FetchPolicy | None = None, limits: DecodeLimits | None = None, strict: bool | None = None
    ) -> ResolveContext:
        """The context inputs are resolved under: this model's policies, overridden per call."""
        processor = getattr(self, "processor", None)
        sampling_rate, window = _audio_settings(processor)
        target = _image_target_size(processor)
        return ResolveContext(
            fetch_policy=fetch_policy or self.fetch_policy,
            limits=limits or self.decode_limits,
            strict=self.strict if strict is None else strict,
            audio_sampling_rate=sampling_rate,
            audio_max_seconds=window,
            extras={"image_target_size": target} if target else {},
        )

    def _call_options(self, on_error: OnError, fetch_policy, limits, strict, use_cache: bool) -> CallOptions:
        return CallOptions(ctx=self.resolve_context(fetch_policy, limits, strict), on_error=on_error, use_cache=use_cache)

    def _call_upstream(self, method: Callable, inputs: Any, args: tuple, kwargs: dict, *, on_error: OnError,
                       return_failures: bool, fetch_policy, limits, strict, use_cache: bool) -> Any:
        """Run upstream's ``encode``/``predict`` with this call's options visible to our ``_inference``."""
        options = self._call_options(on_error, fetch_policy, limits, strict, use_cache)
        inputs = materialize_inputs(inputs, self.is_singular_input)
        expanded = self._expand_documents(inputs, options)
        if expanded is not None:
            inputs = list(expanded)
        token = _CALL.set(options)
        try:
            result = method(inputs, *args, **kwargs)
        except MultimodalInputError as exc:
            if expanded is not None and exc.index is not None and 0 <= exc.index < len(expanded.origins):
                exc.renumbered(expanded.origins[exc.index])  # the caller's position, not the page's
            raise
        finally:
            _CALL.reset(token)
        if expanded is not None:
            options.failures = at_input_positions(expanded, options.failures)
        return (result, options.failures) if return_failures else result

    def _expand_documents(self, inputs: Any, options: CallOptions) -> ExpandedInputs | None:
        """PDF inputs replaced by their pages (None when there are none: the usual path stays as it was)."""
        if not isinstance(inputs, ExpandedInputs):
            items = [inputs] if self.is_singular_input(inputs) else inputs
            if not isinstance(items, Iterable) or not has_documents(items, options.ctx, self._pair_inputs):
                return None
            inputs = expand_documents(list(items), options.ctx, on_error=options.on_error, pairs=self._pair_inputs)
        if inputs.failures and options.on_error == "raise":
            raise inputs.failures[0].error
        return inputs

    def _current_options(self) -> CallOptions:
        return _CALL.get() or self._call_options("raise", None, None, None, True)

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, modules and processor settings (part of every cache key).

        Recomputed when a cheap check (:func:`~st_multimodal.pipeline.fingerprint.state_token`) sees a
        weight changed in place (an optimizer step, ``load_state_dict``), replaced, or moved, or the
        processor's settings changed since it was last computed.
        """
        token = state_token(self)
        if self._fingerprint is None or token != self._fingerprint_token:
            self._fingerprint, self._fingerprint_token = model_fingerprint(self), token
        return self._fingerprint

    # -- resolving ----------------------------------------------------------------------------------------

    def _resolve_for_model(self, raw: Any, ctx: ResolveContext, index: int) -> Resolved:
        """Resolve (without decoding yet) and check the model takes the modality."""
        return self._check_supported(resolve(raw, ctx, index, materialize=False), index)

    def _check_supported(self, resolved: Resolved, index: int) -> Resolved:
        if not self.supports(resolved.modality):
            modality = "+".join(resolved.modality) if isinstance(resolved.modality, tuple) else resolved.modality
            raise ModalityNotSupportedError(
                f"this model does not accept {modality} inputs; it accepts: {', '.join(map(str, self.modalities))}",
                index=index,
                source=resolved.provenance.source,
            )
        return resolved

    def _materialize(self, resolved: Resolved, ctx: ResolveContext, index: int,
                     pre_resize: Callable[[Any], Any] | None = None) -> Any:
        """Decode (through the in-memory LRU of decoded inputs) and return the value as handed to upstream
        (images resized ahead by ``pre_resize``, see :meth:`_image_pre_resizer`)."""
        if not resolved.is_materialized:
            content_hash = resolved.provenance.content_hash
            key = cache_key(content_hash, ctx.limits, ctx.audio_sampling_rate, ctx.audio_max_seconds) if content_hash else None
            cached = self.decoded_cache.get(key) if key else None
            if cached is None:
                materialize_located(resolved, index, prefer_tensor=True)  # images straight to upstream's tensor form
                if key:
                    self.decoded_cache.put(key, (resolved.modality, resolved.value))
            else:
                resolved.modality, resolved.value = cached
                resolved.loader = None
        self._check_supported(resolved, index)
        value = upstream_value(resolved.modality, resolved.value)
        return pre_resize(value) if pre_resize is not None and resolved.modality == "image" else value

    def _image_pre_resizer(self, device: torch.device, kwargs: dict) -> Callable[[Any], Any] | None:
        """The processor's image resize, to run on the decode workers where it is exact (see ``pipeline.preresize``).

        Not when images are resized on the GPU, nor when the call passes its own processor options.
        """
        if self._preprocess_on_device(device) or kwargs.get("processing_kwargs"):
            return None
        return ImagePreResizer.for_processor(getattr(self, "processor", None))

    # -- the loop -----------------------------------------------------------------------------------------

    def _pipeline(self, batch_size: int) -> Pipeline:
        policy_workers = self._current_options().ctx.fetch_policy.max_concurrency
        return Pipeline(
            batch_size=batch_size,
            length_of=self._input_length,
            remote_workers=self.resolve_workers or policy_workers,
            is_remote=is_remote_input,
            decode_workers=self.decode_workers,
            preprocess_workers=self.preprocess_workers,
            prefetch_batches=self.prefetch_batches,
        )

    def _prepare_features(self, values: list[Any], device: torch.device, prompt: str | None, kwargs: dict) -> dict:
        if self._preprocess_on_device(device):
            kwargs = _with_image_device(kwargs, device)
        features = self.preprocess(values, prompt=prompt, **kwargs)
        return pin_features(features) if device.type == "cuda" else features

    def _preprocess_on_device(self, device: torch.device) -> bool:
        """Resize/normalise images on the GPU when the image processor is a torchvision (fast) one.

        Automatic on CUDA (``gpu_preprocessing=None``); ``True``/``False`` forces it on or off.
        """
        if device.type != "cuda" or self.gpu_preprocessing is False:
            return False
        image_processor = getattr(getattr(self, "processor", None), "image_processor", None)
        return any(base.__name__ == "TorchvisionBackend" for base in type(image_processor).__mro__)

    def _run(
        self,
        entries: Iterable[tuple[int, Any]],
        *,
        batch_size: int,
        device: torch.device,
        prompt: str | None,
        kwargs: dict,
        resolve_item: Callable[[int, Any], Prepared],
        rows_of: Callable[[dict, Any], list[Any]],
        show_progress_bar: bool,
        total: int | None,
        done: int = 0,
    ) -> Iterator[Row]:
        """Yield rows (unordered) for every ``(position, input)`` that succeeded; record or raise failures per
        ``on_error``. ``total`` and ``done`` (inputs already answered, e.g. from the cache) drive the progress bar."""
        options = self._current_options()

        def prepare(batch):
            return self._prepare_features(batch.values, device, prompt, kwargs)

        def forward(batch, features):
            features = features_to_device(features, device, floating_dtype(self))
            out = self(features, **kwargs)
            return rows_of(out, batch)

        events = self._pipeline(batch_size).run(entries, resolve=resolve_item, prepare=prepare, forward=forward)
        try:
            with tqdm(total=total, initial=done, desc="Inputs", disable=not show_progress_bar) as bar:
                for event in events:
                    bar.update(1)
                    if isinstance(event, Failure):
                        if options.on_error == "raise":
                            raise event.error
                        options.failures.append(event)
                        continue
                    yield event
        finally:
            events.close()  # stop the pipeline here, not wherever the garbage collector happens to run

    def _embed_rows(
        self,
        inputs: list,
        *,
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
        """Rows of the inputs that succeeded, in input order: through the embedding cache (when ``cacheable``
        and the call allows it), else resolved, decoded, batched and run by :meth:`_run`.

        ``to_cache`` turns a row into the numpy array stored; ``from_cache`` turns a stored array back into a row.
        """
        options = self._current_options()
        ctx = options.ctx
        cache = self.embedding_cache if options.use_cache and cacheable else None
        settings = (prompt, sorted(kwargs.items(), key=str), ctx.limits, ctx.audio_sampling_rate, ctx.audio_max_seconds,
                    sorted(ctx.extras.items()))
        call_key = cache_key(self.fingerprint, settings) if cache is not None else None  # once per call

        pre_resize = self._image_pre_resizer(device, kwargs)
        rows: dict[int, Any] = {}
        entries: Any = enumerate(inputs)
        prepass = None
        if cache is not None:  # unchanged local files answered without reading them
            prepass = answer_from_cache(inputs, ctx, cache, lambda content_hash, modality: cache_key(call_key, content_hash, modality))
            rows.update((index, from_cache(vector)) for index, vector in prepass.hits.items())
            entries = prepass.rest
        read: dict[int, tuple[str, str]] = {}  # content hash and modality of the local files read in this call

        def resolve_item(index: int, raw: Any) -> Prepared:
            resolved = self._resolve_for_model(raw, ctx, index)
            if prepass is not None and index in prepass.signatures and resolved.provenance.content_hash:
                read[index] = (resolved.provenance.content_hash, resolved.modality)
            key = None
            if cache is not None and resolved.provenance.content_hash:
                key = cache_key(call_key, resolved.provenance.content_hash, resolved.modality)
                hit = cache.get(key)
                if hit is not None:
                    return Prepared(row=(from_cache(hit), None))

            def decode() -> Prepared:
                value = self._materialize(resolved, ctx, index, pre_resize)
                return Prepared(key=resolved.modality, value=value, extra=ItemInfo(resolved.provenance.source, key))

            return Prepared(then=decode)

        def keyed_rows(out: dict, batch) -> list[Any]:
            return [(row, info.cache_key) for row, info in zip(rows_of(out, batch), batch.extras)]

        pending_cache: list[tuple[str, Any]] = []
        for row in self._run(entries, batch_size=batch_size, device=device, prompt=prompt, kwargs=kwargs,
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


class EncoderMixin(SelfCheckMixin, MultimodalMixin):
    """The constructor and ``encode`` shared by the embedding models (``SentenceTransformer``, ``MultiVectorEncoder``),
    with the self-check after loading (``self_check=``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        self_check = pop_self_check_kwarg(kwargs)  # self-check (selfcheck/mixin.py)
        ours, upstream = split_init_kwargs(kwargs)
        super().__init__(*args, **upstream)
        self._setup_multimodal(**ours)
        apply_model_fixes(self)
        self._self_check_after_load(args[0] if args else upstream.get("model_name_or_path"), self_check, upstream)

    def encode(
        self,
        inputs: Any,
        *args: Any,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        use_cache: bool = True,
        **kwargs: Any,
    ):
        """Upstream ``encode``, plus: ``on_error="skip"`` keeps going past bad items (rows of the good ones,
        in input order); ``return_failures=True`` returns ``(embeddings, failures)``; per-call
        ``fetch_policy`` / ``limits`` / ``strict``; ``use_cache=False`` bypasses the embedding cache."""
        return self._call_upstream(super().encode, inputs, args, kwargs, on_error=on_error, return_failures=return_failures,
                                   fetch_policy=fetch_policy, limits=limits, strict=strict, use_cache=use_cache)


class ItemInfo:
    """What travels with each batched item: its source (for located errors) and its embedding-cache key."""

    __slots__ = ("source", "cache_key")

    def __init__(self, source: str, cache_key: str | None):
        self.source = source
        self.cache_key = cache_key


def per_item_outputs(out: dict, n: int) -> list[dict]:
    """One forward pass's outputs split per item: batch-first tensors are indexed, other values shared."""
    return [{k: (v[i] if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == n else v) for k, v in out.items()}
            for i in range(n)]


def at_input_positions(expanded: ExpandedInputs, failures: list[Failure]) -> list[Failure]:
    """Failures of an expanded call moved to the caller's positions (with their page), plus the documents that
    could not be expanded, ordered by position."""
    moved = [f.renumbered(expanded.origins[f.index], expanded.pages[f.index]) for f in failures]
    return sorted([*expanded.failures, *moved], key=lambda f: (f.index, f.page or 0))


def is_remote_input(raw: Any) -> bool:
    """Inputs fetched over the network (http(s) and fsspec URLs), also inside pairs, typed wrappers and dicts."""
    if isinstance(raw, str):
        scheme = scheme_of(raw) if "://" in raw[:16] else None
        return scheme is not None and scheme != "file"
    if isinstance(raw, (tuple, list)):
        return any(is_remote_input(part) for part in raw[:2])
    if isinstance(raw, dict):
        return any(is_remote_input(part) for part in raw.values() if isinstance(part, str))
    inner = getattr(raw, "value", None)
    return isinstance(inner, str) and is_remote_input(inner)


def _with_image_device(kwargs: dict, device: torch.device) -> dict:
    processing = dict(kwargs.get("processing_kwargs") or {})
    processing["image"] = {"device": str(device), **(processing.get("image") or {})}
    return {**kwargs, "processing_kwargs": processing}


def _audio_settings(processor: Any) -> tuple[int | None, float | None]:
    """(sampling rate, window in seconds) of the model's audio feature extractor, if it has one."""
    extractor = getattr(processor, "feature_extractor", None) or processor
    rate = getattr(extractor, "sampling_rate", None)
    if not isinstance(rate, int):
        return None, None
    max_samples = getattr(extractor, "nb_max_samples", None)
    return rate, (max_samples / rate if isinstance(max_samples, int) and max_samples > 0 else None)


def _image_target_size(processor: Any) -> tuple[int, int] | None:
    """The smallest (width, height) the model's image processor needs, for draft-mode JPEG decoding."""
    image_processor = getattr(processor, "image_processor", None)
    for name in ("crop_size", "size"):
        size = getattr(image_processor, name, None)
        if size is None:
            continue
        get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
        if get("longest_edge") or get("max_pixels"):
            return None  # resolution-preserving processors (Qwen-VL): no safe downscale
        side = get("shortest_edge") or min(get("height") or 0, get("width") or 0)
        if side:
            return int(side), int(side)
    return None


def materialize_inputs(inputs: Any, is_singular: Callable[[Any], bool]) -> Any:
    """Turn generators and other one-shot iterables into lists; leave single inputs and lists alone."""
    if isinstance(inputs, (list, tuple, str, bytes, bytearray, dict)) or is_singular_like(inputs):
        return inputs
    if isinstance(inputs, Iterator) or (isinstance(inputs, Iterable) and not is_singular(inputs)):
        return list(inputs)
    return inputs


def is_singular_like(value: Any) -> bool:
    """Values that are one input even though Python can iterate them (arrays, images, paths, file objects)."""
    return (
        hasattr(value, "shape")
        or isinstance(value, os.PathLike)
        or hasattr(value, "read")
        or type(value).__module__.startswith("PIL")
    )
